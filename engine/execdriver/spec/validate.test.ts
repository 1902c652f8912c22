// Table-driven checks that validateSpec accepts what berth honours and names the
// field path of everything it cannot.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError, type ErrorCode } from '../../errdefs/errors.js';
import { capabilityMask } from './capabilities.js';
import { defaultSpec } from './defaults.js';
import { loadBundleSpec } from './load-bundle.js';
import { fieldPath, validateSpec } from './validate.js';
import type { Spec } from './types.js';

let bundle: string;
// A host like this one: cap_last_cap 40, every capability but CAP_SYS_RESOURCE (24).
const host = { lastCap: 40, bounding: ((1n << 41n) - 1n) & ~(1n << 24n) };

beforeAll(() => {
  bundle = mkdtempSync(join(tmpdir(), `berth-spec-${process.pid}-`));
  mkdirSync(join(bundle, 'rootfs'));
  writeFileSync(join(bundle, 'afile'), 'x');
});
afterAll(() => rmSync(bundle, { recursive: true, force: true }));

type Mutation = (s: any) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

const rejected: { name: string; mutate: Mutation; code: ErrorCode; message: string | RegExp }[] = [
  {
    name: 'unknown namespace type',
    mutate: (s) => (s.linux.namespaces[2].type = 'time2'),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.namespaces\[2\]\.type: unknown namespace type "time2"/,
  },
  {
    name: 'duplicate namespace',
    mutate: (s) => s.linux.namespaces.push({ type: 'pid' }),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.namespaces\[6\]\.type: pid namespace already listed at linux\.namespaces\[0\]/,
  },
  {
    name: 'namespace path missing',
    mutate: (s) => (s.linux.namespaces[1] = { type: 'network', path: '/proc/999999999/ns/net' }),
    code: 'NOT_FOUND',
    message: /^linux\.namespaces\[1\]\.path: \/proc\/999999999\/ns\/net/,
  },
  {
    name: 'relative namespace path',
    mutate: (s) => (s.linux.namespaces[1] = { type: 'network', path: 'ns/net' }),
    code: 'INVALID_ARGUMENT',
    message: 'linux.namespaces[1].path: "ns/net" must be an absolute path',
  },
  {
    name: 'unknown capability',
    mutate: (s) => (s.process.capabilities.bounding[3] = 'CAP_FLY'),
    code: 'INVALID_ARGUMENT',
    message: 'process.capabilities.bounding[3]: unknown capability "CAP_FLY"',
  },
  {
    name: 'capability outside the host bounding set',
    mutate: (s) => (s.process.capabilities.bounding[3] = 'CAP_SYS_RESOURCE'),
    code: 'INVALID_ARGUMENT',
    message: "process.capabilities.bounding[3]: CAP_SYS_RESOURCE is not in this host's bounding set",
  },
  {
    name: 'effective not in permitted',
    mutate: (s) => s.process.capabilities.effective.push('CAP_SYS_ADMIN'),
    code: 'INVALID_ARGUMENT',
    message: /^process\.capabilities\.effective\[14\]: CAP_SYS_ADMIN must also be in permitted/,
  },
  {
    name: 'unknown rlimit',
    mutate: (s) => s.process.rlimits.push({ type: 'RLIMIT_FOO', hard: 1, soft: 1 }),
    code: 'INVALID_ARGUMENT',
    message: 'process.rlimits[1].type: unknown rlimit "RLIMIT_FOO"',
  },
  {
    name: 'duplicate rlimit',
    mutate: (s) => s.process.rlimits.push({ type: 'RLIMIT_NOFILE', hard: 1, soft: 1 }),
    code: 'INVALID_ARGUMENT',
    message: /^process\.rlimits\[1\]\.type: RLIMIT_NOFILE already set/,
  },
  {
    name: 'soft above hard',
    mutate: (s) => (s.process.rlimits[0] = { type: 'RLIMIT_NOFILE', hard: 10, soft: 20 }),
    code: 'INVALID_ARGUMENT',
    message: /^process\.rlimits\[0\]: RLIMIT_NOFILE soft limit 20 is above its hard limit 10/,
  },
  {
    name: 'ociVersion 2.x',
    mutate: (s) => (s.ociVersion = '2.0.0'),
    code: 'INVALID_ARGUMENT',
    message: /^ociVersion: "2\.0\.0": berth supports OCI runtime spec 1\.x/,
  },
  {
    name: 'missing ociVersion',
    mutate: (s) => delete s.ociVersion,
    code: 'INVALID_ARGUMENT',
    message: 'ociVersion: required',
  },
  {
    name: 'seccomp notify',
    mutate: (s) => (s.linux.seccomp = { defaultAction: 'SCMP_ACT_NOTIFY' }),
    code: 'NOT_IMPLEMENTED',
    message: /^linux\.seccomp\.defaultAction: SCMP_ACT_NOTIFY/,
  },
  {
    name: 'seccomp unknown action',
    mutate: (s) =>
      (s.linux.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['read'], action: 'SCMP_ACT_MAYBE' }],
      }),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.seccomp\.syscalls\[0\]\.action: unknown seccomp action "SCMP_ACT_MAYBE"/,
  },
  {
    name: 'seccomp unknown op',
    mutate: (s) =>
      (s.linux.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          { names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_SOMETIMES' }] },
        ],
      }),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.seccomp\.syscalls\[0\]\.args\[0\]\.op: unknown comparison/,
  },
  {
    name: 'seccomp arg index',
    mutate: (s) =>
      (s.linux.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }],
      }),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.seccomp\.syscalls\[0\]\.args\[0\]\.index: 6 is not a syscall argument/,
  },
  {
    name: 'seccomp missing defaultAction',
    mutate: (s) => (s.linux.seccomp = { syscalls: [] }),
    code: 'INVALID_ARGUMENT',
    message: 'linux.seccomp.defaultAction: required',
  },
  {
    name: 'wrong type',
    mutate: (s) => (s.process.user.uid = 'root'),
    code: 'INVALID_ARGUMENT',
    message: 'process.user.uid: must be integer (got "root")',
  },
  { name: 'empty args', mutate: (s) => (s.process.args = []), code: 'INVALID_ARGUMENT', message: /^process\.args: / },
  {
    name: 'relative cwd',
    mutate: (s) => (s.process.cwd = 'home'),
    code: 'INVALID_ARGUMENT',
    message: 'process.cwd: "home" must be an absolute path',
  },
  {
    name: 'env without =',
    mutate: (s) => s.process.env.push('JUSTNAME'),
    code: 'INVALID_ARGUMENT',
    message: 'process.env[2]: "JUSTNAME": must be KEY=value',
  },
  {
    name: 'missing rootfs',
    mutate: (s) => (s.root.path = 'nope'),
    code: 'NOT_FOUND',
    message: /^root\.path: .*\/nope: no such directory/,
  },
  {
    name: 'rootfs is a file',
    mutate: (s) => (s.root.path = 'afile'),
    code: 'INVALID_ARGUMENT',
    message: /^root\.path: .*\/afile: not a directory/,
  },
  {
    name: 'bind source missing',
    mutate: (s) =>
      s.mounts.push({ destination: '/data', type: 'bind', source: '/nonexistent-berth', options: ['rbind'] }),
    code: 'NOT_FOUND',
    message: 'mounts[6].source: /nonexistent-berth: no such file or directory',
  },
  {
    name: 'relative mount destination',
    mutate: (s) => (s.mounts[0].destination = 'proc'),
    code: 'INVALID_ARGUMENT',
    message: 'mounts[0].destination: "proc" must be an absolute path',
  },
  {
    name: 'hook relative path',
    mutate: (s) => (s.hooks = { prestart: [{ path: 'hook.sh' }] }),
    code: 'INVALID_ARGUMENT',
    message: 'hooks.prestart[0].path: "hook.sh" must be an absolute path',
  },
  {
    name: 'hook zero timeout',
    mutate: (s) => (s.hooks = { poststop: [{ path: '/bin/true', timeout: 0 }] }),
    code: 'INVALID_ARGUMENT',
    message: /^hooks\.poststop\[0\]\.timeout: 0 /,
  },
  {
    name: 'uid mappings without user ns',
    mutate: (s) => (s.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }]),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.uidMappings: needs a new user namespace/,
  },
  {
    name: 'user ns without mappings',
    mutate: (s) => s.linux.namespaces.push({ type: 'user' }),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.uidMappings: a new user namespace needs/,
  },
  {
    name: 'hostname without uts ns',
    mutate: (s) => (s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'uts')),
    code: 'INVALID_ARGUMENT',
    message: /^hostname: setting a hostname needs a uts namespace \(new or joined\)/,
  },
  {
    name: 'net sysctl without netns',
    mutate: (s) => {
      s.linux.namespaces = s.linux.namespaces.filter((n: { type: string }) => n.type !== 'network');
      s.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
    },
    code: 'INVALID_ARGUMENT',
    message: 'linux.sysctl["net.ipv4.ip_forward"]: needs a new network namespace',
  },
  {
    name: 'host-wide sysctl',
    mutate: (s) => (s.linux.sysctl = { 'vm.swappiness': '10' }),
    code: 'NOT_IMPLEMENTED',
    message: /^linux\.sysctl\["vm\.swappiness"\]: berth sets only namespaced sysctls/,
  },
  {
    name: 'unknown propagation',
    mutate: (s) => (s.linux.rootfsPropagation = 'sideways'),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.rootfsPropagation: unknown rootfs propagation "sideways"/,
  },
  {
    name: 'cgroupsPath with ..',
    mutate: (s) => (s.linux.cgroupsPath = 'berth/../../etc'),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.cgroupsPath: "berth\/\.\.\/\.\.\/etc" must not contain/,
  },
  {
    name: 'swap below limit',
    mutate: (s) => (s.linux.resources.memory = { limit: 100 << 20, swap: 50 << 20 }),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.resources\.memory\.swap: 52428800 must be at least memory\.limit/,
  },
  {
    name: 'quota too small',
    mutate: (s) => (s.linux.resources.cpu = { quota: 10 }),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.resources\.cpu\.quota: 10 is below/,
  },
  {
    name: 'bad cpuset',
    mutate: (s) => (s.linux.resources.cpu = { cpus: '0-a' }),
    code: 'INVALID_ARGUMENT',
    message: 'linux.resources.cpu.cpus: "0-a": must be a cpu list like "0-2,4"',
  },
  {
    name: 'bad device access',
    mutate: (s) => (s.linux.resources.devices[0].access = 'rwx'),
    code: 'INVALID_ARGUMENT',
    message: 'linux.resources.devices[0].access: "rwx": must be some of r, w, m, each at most once',
  },
  {
    name: 'unknown device type',
    mutate: (s) => (s.linux.resources.devices[0].type = 'u'),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.resources\.devices\[0\]\.type: unknown device type "u"/,
  },
  {
    name: 'not an object',
    mutate: (s) => (s.linux.namespaces = 'pid'),
    code: 'INVALID_ARGUMENT',
    message: 'linux.namespaces: must be array (got "pid")',
  },
];

/** Spec fields accepted with a warning on a host without the LSM or controller (this one). */
const warned: { name: string; mutate: Mutation; warning: RegExp; kept?: (s: Spec) => unknown }[] = [
  {
    name: 'unknown top-level property',
    mutate: (s) => (s.windows = {}),
    warning: /^windows: not a property berth knows, ignored$/,
  },
  {
    name: 'unknown nested property',
    mutate: (s) => (s.linux.intelRdt = { closID: 'x' }),
    warning: /^linux\.intelRdt: not a property berth knows, ignored$/,
  },
  { name: 'unknown hook kind', mutate: (s) => (s.hooks = { prestop: [] }), warning: /^hooks\.prestop: not a property/ },
  { name: 'odd property name', mutate: (s) => (s['x/y~z'] = 1), warning: /^\["x\/y~z"\]: not a property/ },
  {
    name: 'hugepageLimits',
    mutate: (s) => (s.linux.resources.hugepageLimits = [{ pageSize: '2MB', limit: 1048576 }]),
    warning: /^linux\.resources\.hugepageLimits: hugetlb limits .*ignored$/,
  },
  {
    name: 'mountLabel without SELinux',
    mutate: (s) => (s.linux.mountLabel = 'system_u:object_r:svirt_sandbox_file_t:s0'),
    warning: /^linux\.mountLabel: SELinux is not enabled on this host/,
  },
  {
    name: 'apparmorProfile without AppArmor',
    mutate: (s) => (s.process.apparmorProfile = 'docker-default'),
    warning: /^process\.apparmorProfile: AppArmor is not enabled on this host, "docker-default" ignored$/,
  },
];

describe('validateSpec: spec-valid fields this host cannot apply', () => {
  const noLsm = { apparmor: false, selinux: false };
  it.each(warned)('accepts with a warning: $name', ({ mutate, warning, kept }) => {
    const raw = defaultSpec();
    mutate(raw);
    const warnings: string[] = [];
    const spec = validateSpec(raw, bundle, { host, lsm: noLsm, warn: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(warning);
    if (kept) expect(kept(spec)).toBeDefined();
  });

  it('passes memory.kernel, kernelTCP and network on to the cgroup manager, which applies or warns', () => {
    const raw = defaultSpec();
    raw.linux!.resources = {
      memory: { limit: 1 << 28, kernel: 1 << 26, kernelTCP: 1 << 25 },
      network: { classID: 1048577, priorities: [{ name: 'eth0', priority: 500 }] },
    };
    const warnings: string[] = [];
    const spec = validateSpec(raw, bundle, { host, lsm: noLsm, warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
    expect(spec.linux?.resources?.memory).toMatchObject({ kernel: 1 << 26, kernelTCP: 1 << 25 });
    expect(spec.linux?.resources?.network).toEqual(raw.linux!.resources.network);
  });

  it('drops unknown properties from the result, not from the input', () => {
    const raw = { ...defaultSpec(), windows: {} } as Spec & { windows?: object };
    const spec = validateSpec(raw, bundle, { host, lsm: noLsm });
    expect('windows' in spec).toBe(false);
    expect(raw.windows).toEqual({});
  });

  it('still checks the values of a known field beside an unknown one', () => {
    const raw = { ...defaultSpec(), windows: {}, ociVersion: '2.0.0' };
    expect(() => validateSpec(raw, bundle, { host, lsm: noLsm })).toThrow(/^ociVersion: "2\.0\.0"/);
  });

  it('refuses a security label for a module that is enabled, naming the field', () => {
    const raw = defaultSpec();
    raw.process!.apparmorProfile = 'docker-default';
    expect(() => validateSpec(raw, bundle, { host, lsm: { apparmor: true, selinux: false } })).toThrow(
      /^process\.apparmorProfile: berth cannot apply AppArmor labels, and AppArmor is enabled/,
    );
  });

  it('accepts linux.resources.blockIO (applied by the cgroup manager) without a warning', () => {
    const raw = defaultSpec();
    raw.linux!.resources!.blockIO = { weight: 500, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1024 }] };
    const warnings: string[] = [];
    expect(
      validateSpec(raw, bundle, { host, lsm: noLsm, warn: (m) => warnings.push(m) }).linux?.resources?.blockIO?.weight,
    ).toBe(500);
    expect(warnings).toEqual([]);
  });

  it('accepts a hostname with a uts namespace joined by path (set in that namespace)', () => {
    const raw = defaultSpec() as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    raw.linux.namespaces = raw.linux.namespaces.map((n: { type: string }) =>
      n.type === 'uts' ? { type: 'uts', path: '/proc/self/ns/uts' } : n,
    );
    raw.hostname = 'joined';
    expect(validateSpec(raw, bundle, { host, lsm: noLsm }).hostname).toBe('joined');
  });

  it('accepts linux.devices and checks their fields', () => {
    const raw = defaultSpec();
    raw.linux!.devices = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 }];
    expect(validateSpec(raw, bundle, { host, lsm: noLsm }).linux?.devices?.[0]?.path).toBe('/dev/fuse');
    raw.linux!.devices = [{ path: 'dev/fuse', type: 'c', major: 10, minor: 229 }];
    expect(() => validateSpec(raw, bundle, { host, lsm: noLsm })).toThrow(
      /^linux\.devices\[0\]\.path: "dev\/fuse" must be an absolute path/,
    );
    raw.linux!.devices = [{ path: '/dev/x', type: 'q' as 'c', major: 1, minor: 1 }];
    expect(() => validateSpec(raw, bundle, { host, lsm: noLsm })).toThrow(/^linux\.devices\[0\]\.type: unknown/);
  });
});

describe('validateSpec', () => {
  it('accepts the default spec and makes root.path absolute', () => {
    const spec = validateSpec(defaultSpec(), bundle, { host });
    expect(spec.root?.path).toBe(join(bundle, 'rootfs'));
    expect(spec.process?.capabilities?.bounding).toContain('CAP_KILL');
  });

  it('does not modify its input', () => {
    const raw = defaultSpec();
    validateSpec(raw, bundle, { host });
    expect(raw.root?.path).toBe('rootfs');
  });

  it('completes an owned spec in place instead of copying it (an unknown property still goes from a copy)', () => {
    const raw = defaultSpec();
    const spec = validateSpec(raw, bundle, { host, owned: true });
    expect(spec).toBe(raw);
    expect(raw.root?.path).toBe(join(bundle, 'rootfs'));
    const odd = { ...defaultSpec(), oddity: 1 };
    expect(validateSpec(odd, bundle, { host, owned: true })).not.toHaveProperty('oddity');
    expect(odd.oddity).toBe(1);
  });

  it.each(['1.0.0', '1.0.2', '1.1.0', '1.2.1', '1.0.2-dev', '1.1.0-rc.1'])('accepts ociVersion %s', (v) => {
    expect(validateSpec({ ...defaultSpec(), ociVersion: v }, bundle, { host }).ociVersion).toBe(v);
  });

  it('accepts ambient capabilities the kernel will not raise, with a warning naming each (as runc spec writes them)', () => {
    const s = defaultSpec() as Spec;
    s.process!.capabilities!.inheritable = ['CAP_KILL'];
    s.process!.capabilities!.ambient = ['CAP_KILL', 'CAP_CHOWN', 'CAP_SYS_ADMIN']; // CAP_SYS_ADMIN is not permitted by default
    const warnings: string[] = [];
    expect(validateSpec(s, bundle, { host, warn: (m) => warnings.push(m) }).process!.capabilities!.ambient).toEqual([
      'CAP_KILL',
      'CAP_CHOWN',
      'CAP_SYS_ADMIN',
    ]);
    expect(warnings).toEqual([
      'process.capabilities.ambient[1]: CAP_CHOWN is not raised: an ambient capability must also be permitted and inheritable',
      'process.capabilities.ambient[2]: CAP_SYS_ADMIN is not raised: an ambient capability must also be permitted and inheritable',
    ]);
  });

  it('accepts every supported field together', () => {
    const s = defaultSpec() as Spec;
    s.process!.rlimits!.push({ type: 'RLIMIT_NPROC', hard: 2 ** 64 - 1, soft: 100 });
    s.process!.capabilities!.inheritable = ['CAP_KILL'];
    s.process!.capabilities!.ambient = ['CAP_KILL'];
    s.process!.oomScoreAdj = 100;
    s.process!.user.additionalGids = [10, 20];
    s.process!.user.umask = 0o22;
    s.mounts!.push({ destination: '/data', type: 'bind', source: 'afile', options: ['rbind', 'ro'] });
    s.hooks = { prestart: [{ path: '/bin/true', args: ['true'], env: ['A=b'], timeout: 5 }], poststop: [] };
    s.annotations = { 'org.example.key': 'value' };
    s.linux!.resources = {
      memory: { limit: 64 << 20, swap: 128 << 20, reservation: 32 << 20 },
      cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0', mems: '0' },
      pids: { limit: 100 },
      devices: [
        { allow: false, access: 'rwm' },
        { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' },
      ],
    };
    s.linux!.cgroupsPath = 'berth/abc';
    s.linux!.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000' };
    s.linux!.rootfsPropagation = 'rprivate';
    s.linux!.namespaces!.push({ type: 'user' });
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    expect(validateSpec(s, bundle, { host }).linux?.resources?.pids?.limit).toBe(100);
  });

  it.each(rejected)('rejects: $name', ({ mutate, code, message }) => {
    const raw = structuredClone(defaultSpec());
    mutate(raw);
    let caught: unknown;
    try {
      validateSpec(raw, bundle, { host });
    } catch (err) {
      caught = err;
    }
    expect(isBerthError(caught)).toBe(true);
    const err = caught as Error & { code: string };
    expect(err.code).toBe(code);
    if (typeof message === 'string') expect(err.message).toBe(message);
    else expect(err.message).toMatch(message);
  });

  it('rejects a non-object config', () => {
    expect(() => validateSpec('hello', bundle, { host })).toThrow(/^config: must be object/);
  });

  it('checks capabilities against the real host too', () => {
    const raw = defaultSpec();
    raw.process!.capabilities!.bounding!.push('CAP_SYS_RESOURCE');
    const bnd = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
    if ((bnd & capabilityMask(['CAP_SYS_RESOURCE'])) === 0n)
      expect(() => validateSpec(raw, bundle)).toThrow(/CAP_SYS_RESOURCE is not in this host's bounding set/);
    else expect(validateSpec(raw, bundle).process?.capabilities?.bounding).toContain('CAP_SYS_RESOURCE');
  });
});

describe('fieldPath', () => {
  it.each([
    ['', 'config'],
    ['/ociVersion', 'ociVersion'],
    ['/linux/namespaces/2/type', 'linux.namespaces[2].type'],
    ['/annotations/org.example', 'annotations["org.example"]'],
    ['/a~1b', '["a/b"]'],
  ])('%s → %s', (pointer, path) => expect(fieldPath(pointer)).toBe(path));
});

describe('loadBundleSpec', () => {
  it('loads and validates config.json', async () => {
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(defaultSpec()));
    expect((await loadBundleSpec(bundle, { host })).root?.path).toBe(join(bundle, 'rootfs'));
  });

  it('names the bundle and field on a bad value', async () => {
    const raw = defaultSpec() as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    raw.linux.namespaces[0].type = 'time2';
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(raw));
    await expect(loadBundleSpec(bundle, { host })).rejects.toThrow(
      `bundle ${bundle}: config.json: linux.namespaces[0].type: unknown namespace type "time2"`,
    );
  });

  it('names the bundle on bad JSON and on a missing file', async () => {
    writeFileSync(join(bundle, 'config.json'), '{nope');
    await expect(loadBundleSpec(bundle, { host })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/config\.json: not valid JSON/),
    });
    rmSync(join(bundle, 'config.json'));
    await expect(loadBundleSpec(bundle, { host })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringMatching(/^bundle .*: config\.json: ENOENT/),
    });
  });
});
