// The generated yes/no check must agree with ajv's validator of the same schema: validateSpec skips ajv for what the
// check accepts. Checked on a config that touches most of the schema and on thousands of single-field mutations of it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compiledValidator } from './compiled-validator.js';
import { defaultSpec } from './defaults.js';
import { predicateFrom, predicateSource, runtimeSpecPredicate } from './schema-predicate.js';

const SCHEMA = new URL('./runtime-spec.schema.json', import.meta.url);
const schemaPath = SCHEMA.pathname;
const ajv = compiledValidator(schemaPath, new URL('.', SCHEMA).pathname, 'runtime-spec');
const check = predicateFrom(predicateSource(JSON.parse(readFileSync(SCHEMA, 'utf8'))).source);

/** A config with a value in most of the schema's fields, which ajv accepts. */
function richConfig(): Record<string, unknown> {
  const spec = defaultSpec({ args: ['/bin/sh', '-c', 'true'], rootfs: 'rootfs', hostname: 'h', seccomp: true });
  // Docker's profile, its rules of each shape kept once (hundreds of syscall names would only repeat the same checks)
  const seccomp = spec.linux!.seccomp!;
  const shapes = new Map((seccomp.syscalls ?? []).map((r) => [JSON.stringify({ ...r, names: [] }), r]));
  seccomp.syscalls = [...shapes.values()].map((r) => ({ ...r, names: r.names.slice(0, 2) }));
  return {
    ...spec,
    domainname: 'd',
    annotations: { 'org.example/a': 'b' },
    process: {
      ...spec.process,
      consoleSize: { height: 24, width: 80 },
      user: { uid: 1, gid: 2, umask: 18, additionalGids: [3, 4] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      oomScoreAdj: -100,
      apparmorProfile: 'p',
      selinuxLabel: 'l',
    },
    mounts: [
      ...(spec.mounts ?? []),
      { destination: '/data', type: 'bind', source: '/tmp', options: ['rbind', 'ro'], uidMappings: [] },
    ],
    hooks: {
      prestart: [{ path: '/bin/true', args: ['true'], env: ['A=b'], timeout: 5 }],
      poststop: [{ path: '/bin/true' }],
    },
    linux: {
      ...spec.linux,
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      resources: {
        memory: { limit: 2 ** 30, reservation: 2 ** 29, swap: 2 ** 31, swappiness: 10, disableOOMKiller: false },
        cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0-1', mems: '0' },
        pids: { limit: 100 },
        devices: [
          { allow: false, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' },
        ],
        blockIO: { weight: 100, weightDevice: [{ major: 8, minor: 0, weight: 200 }] },
        hugepageLimits: [{ pageSize: '2MB', limit: 0 }],
        network: { classID: 1, priorities: [{ name: 'eth0', priority: 1 }] },
      },
      cgroupsPath: 'berth/x',
      rootfsPropagation: 'rslave',
      sysctl: { 'net.ipv4.ip_forward': '1' },
      devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 438, uid: 0, gid: 0 }],
      mountLabel: 'm',
    },
  };
}

/** Values of every JSON type, and strings the schema's patterns tell apart. */
const VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  2 ** 32,
  -(2 ** 63),
  '',
  'x',
  '/abs',
  'A=b',
  '=b',
  '1.0.2',
  '0-2,4',
  'rw',
  'rr',
  'pid',
  'c',
  [],
  ['x'],
  [1],
  {},
  { x: 1 },
];

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The value at `keys` inside `c`. */
const follow = (c: Json, keys: (string | number)[]): Json => keys.reduce((o: Json, k) => o[k], c);

/** Each config that differs from `root` in one place: a value replaced, removed, or a property or item added. */
function* mutations(root: unknown): Generator<unknown> {
  const copy = (): Json => structuredClone(root);
  function* walk(path: (string | number)[], value: unknown): Generator<unknown> {
    const at = (c: Json) => follow(c, path.slice(0, -1));
    const key = path[path.length - 1];
    if (path.length > 0) {
      for (const v of VALUES) {
        const c = copy();
        at(c)[key!] = structuredClone(v);
        yield c;
      }
      const c = copy();
      if (Array.isArray(at(c))) at(c).splice(key as number, 1);
      else delete at(c)[key!];
      yield c;
    }
    if (Array.isArray(value)) {
      for (const v of [null, 'x', 7, {}]) {
        const c = copy();
        follow(c, path).push(v);
        yield c;
      }
      for (let i = 0; i < value.length; i++) yield* walk([...path, i], value[i]);
    } else if (typeof value === 'object' && value !== null) {
      const c = copy();
      follow(c, path).unknownProperty = 1;
      yield c;
      for (const [k, v] of Object.entries(value)) yield* walk([...path, k], v);
    }
  }
  yield* walk([], root);
}

describe('schema-predicate: the generated check of runtime-spec.schema.json', () => {
  it('handles every keyword of the schema', () => {
    expect(predicateSource(JSON.parse(readFileSync(SCHEMA, 'utf8'))).unsupported).toEqual([]);
  });

  it('accepts the configs berth writes and the rich sample, as ajv does', () => {
    const configs = [defaultSpec(), defaultSpec({ seccomp: true, terminal: true }), richConfig()];
    for (const config of configs) {
      expect(ajv(config)).toBe(true);
      expect(check(config)).toBe(true);
      expect(runtimeSpecPredicate()(config)).toBe(true);
    }
  });

  it('gives ajv verdict on every single-field mutation of the sample (valid and invalid)', () => {
    const disagree: string[] = [];
    let valid = 0;
    let total = 0;
    for (const config of mutations(richConfig())) {
      const a = ajv(config);
      total++;
      if (a) valid++;
      if (check(config) !== a) disagree.push(`${a ? 'ajv accepts' : 'ajv refuses'}: ${JSON.stringify(config)}`);
    }
    expect(disagree.slice(0, 3)).toEqual([]);
    // the corpus holds both kinds, in numbers
    expect({ many: total > 5000, someValid: valid > 500, someInvalid: total - valid > 2000 }).toEqual({
      many: true,
      someValid: true,
      someInvalid: true,
    });
  });

  it('refuses every value where the schema has a keyword it does not handle (the verdict left to ajv)', () => {
    const { source, unsupported } = predicateSource({
      type: 'object',
      properties: { a: { type: 'string', format: 'uri' }, b: { type: 'integer' } },
    });
    expect(unsupported).toEqual(['#/properties/a: format']);
    const p = predicateFrom(source);
    expect(p({ b: 1 })).toBe(true);
    expect(p({ a: 'http://x', b: 1 })).toBe(false);
    expect(predicateFrom(predicateSource({ $ref: 'other.json#/x' }).source)({})).toBe(false);
  });

  it('counts minLength in code points as ajv does, and follows recursive $refs', () => {
    const p = predicateFrom(
      predicateSource({
        $defs: {
          node: {
            type: 'object',
            properties: { name: { type: 'string', minLength: 2 }, next: { $ref: '#/$defs/node' } },
          },
        },
        $ref: '#/$defs/node',
      }).source,
    );
    expect(p({ name: 'ab', next: { name: 'cd', next: { name: 'ef' } } })).toBe(true);
    expect(p({ name: 'ab', next: { name: 'c' } })).toBe(false);
    expect(p({ name: '\u{1F600}' })).toBe(false); // one code point, two UTF-16 units
    expect(p({ name: '\u{1F600}x' })).toBe(true);
  });
});
