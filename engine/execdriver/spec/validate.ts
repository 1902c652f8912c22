// validateSpec: turns an untrusted config.json value into a Spec berth can honour, or
// throws one BerthError naming the field path (`linux.namespaces[2].type: …`).
// Structure comes from runtime-spec.schema.json (ajv, JSON Schema 2020-12); what a
// schema cannot know (host capabilities, files on disk, cross-field rules) is checked here.
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { invalidArgument, notImplemented, notFound, type BerthError } from '../../errdefs/errors.js';
import { packagePath } from '../../../native/package-root.js';
import { compiledValidator } from './compiled-validator.js';
import { runtimeSpecPredicate } from './schema-predicate.js';
import { profileKnownGood } from '../seccomp/native-filter.js';
import { checkProfileCached } from '../seccomp/profile.js';
import { capabilityMask, capabilityProblem, hostCapabilities, type HostCapabilities } from './capabilities.js';
import { isInfinity, rlimitNumber } from './rlimits.js';
import type { Capabilities, NamespaceType, Spec } from './types.js';

let compiled: ValidateFunction | undefined;

/**
 * The schema's validator, loaded on first use from its generated module (compiled-validator.ts): asked only about a
 * config the schema's yes/no check (schema-predicate.ts) refused, to name the error or drop unknown properties.
 */
function schemaValidator(): ValidateFunction {
  if (compiled === undefined) {
    const dir = packagePath('engine', 'execdriver', 'spec');
    compiled = compiledValidator(join(dir, 'runtime-spec.schema.json'), dir, 'runtime-spec');
  }
  return compiled;
}

/** "/linux/namespaces/2/type" → "linux.namespaces[2].type". */
export function fieldPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === '' ? 'config' : out;
}

/** What an enum value is called in messages, by field path pattern. */
const enumLabels: [RegExp, string][] = [
  [/^linux\.namespaces\[\d+\]\.type$/, 'namespace type'],
  [/^linux\.rootfsPropagation$/, 'rootfs propagation'],
  [/^linux\.resources\.devices\[\d+\]\.type$/, 'device type'],
];

/** Fields whose pattern deserves words instead of a regex. */
const patternHints: [RegExp, string][] = [
  [/^ociVersion$/, 'berth supports OCI runtime spec 1.x (e.g. "1.0.2")'],
  [/\.env\[\d+\]$/, 'must be KEY=value'],
  [/(^|\.)(cpus|mems)$/, 'must be a cpu list like "0-2,4"'],
  [/\.access$/, 'must be some of r, w, m, each at most once'],
];

function valueAt(root: unknown, pointer: string): unknown {
  let v: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return v;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return JSON.stringify(value);
}

function schemaError(raw: unknown, e: ErrorObject): BerthError {
  const path = fieldPath(e.instancePath);
  const value = valueAt(raw, e.instancePath);
  const join = (child: string) =>
    path === 'config'
      ? child
      : /^[A-Za-z_$][\w$]*$/.test(child)
        ? `${path}.${child}`
        : `${path}[${JSON.stringify(child)}]`;
  const details = { field: path };
  switch (e.keyword) {
    case 'additionalProperties': {
      const prop = (e.params as { additionalProperty: string }).additionalProperty;
      return notImplemented(`${join(prop)}: not supported by berth`, { details: { field: join(prop) } });
    }
    case 'required':
      return invalidArgument(`${join((e.params as { missingProperty: string }).missingProperty)}: required`, {
        details,
      });
    case 'enum': {
      const label = enumLabels.find(([re]) => re.test(path))?.[1] ?? 'value';
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ');
      return invalidArgument(`${path}: unknown ${label} ${describe(value)} (expected one of ${allowed})`, { details });
    }
    case 'const':
      return notImplemented(
        `${path}: ${describe(value)} is not supported by berth (only ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)})`,
        { details },
      );
    case 'type':
      return invalidArgument(`${path}: must be ${(e.params as { type: string }).type} (got ${describe(value)})`, {
        details,
      });
    case 'pattern': {
      const hint = patternHints.find(([re]) => re.test(path))?.[1];
      if (hint) return invalidArgument(`${path}: ${describe(value)}: ${hint}`, { details });
      const pattern = (e.params as { pattern: string }).pattern;
      if (pattern === '^/') return invalidArgument(`${path}: ${describe(value)} must be an absolute path`, { details });
      return invalidArgument(`${path}: ${describe(value)} must match ${pattern}`, { details });
    }
    default:
      return invalidArgument(`${path}: ${describe(value)} ${e.message ?? 'is invalid'}`, { details });
  }
}

export interface ValidateOptions {
  /** The host limits to check capabilities against; this host's by default (tests pass their own). */
  host?: HostCapabilities;
  /**
   * Told what is accepted but will not be done as written (ambient capabilities the kernel will not raise, ignored
   * properties, limits this host cannot apply).
   */
  warn?: (message: string) => void;
  /** Which Linux security modules are enabled; this host's by default (tests pass their own). */
  lsm?: EnabledLsm;
  /**
   * The caller hands `raw` over (a spec it just built and keeps no other use of): it is completed in place (root.path
   * made absolute) and returned, without the deep copy (0.2–0.4 ms for a spec with Docker's seccomp profile).
   */
  owned?: boolean;
}

export interface EnabledLsm {
  apparmor: boolean;
  selinux: boolean;
}

/** Which of AppArmor and SELinux this host's kernel has enabled (sysfs/selinuxfs, as runc checks). */
function hostLsm(): EnabledLsm {
  let apparmor = false;
  try {
    apparmor = readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    // no AppArmor module
  }
  let selinux = false;
  try {
    selinux = statSync('/sys/fs/selinux/enforce').isFile();
  } catch {
    // no selinuxfs
  }
  return { apparmor, selinux };
}

/** At most this many unknown properties are dropped from one config (a guard against a pathological file). */
const MAX_IGNORED = 1000;

/**
 * Runs the schema over `raw`, dropping each property the schema does not know (the
 * runtime spec: a runtime MUST NOT fail on an unknown property, it ignores it) with
 * one warning naming its path. Throws the first other schema error.
 */
function validateStructure(raw: unknown, warn: (message: string) => void): unknown {
  if (runtimeSpecPredicate()(raw)) return raw;
  const validate = schemaValidator();
  let value = raw;
  let copied = false;
  for (let ignored = 0; !validate(value); ignored++) {
    const e = validate.errors![0];
    if (e.keyword !== 'additionalProperties' || ignored >= MAX_IGNORED) throw schemaError(value, e);
    if (!copied) {
      value = structuredClone(raw);
      copied = true;
    }
    const prop = (e.params as { additionalProperty: string }).additionalProperty;
    const parent = valueAt(value, e.instancePath) as Record<string, unknown>;
    delete parent[prop];
    const path = fieldPath(`${e.instancePath}/${prop.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    warn(`${path}: not a property berth knows, ignored`);
  }
  return value;
}

/**
 * Validates a parsed config.json against what berth supports and returns it as a Spec
 * (a deep copy unless options.owned; root.path made absolute against bundleDir). Throws a BerthError whose
 * message starts with the field path: INVALID_ARGUMENT for a wrong value (unknown
 * namespace type, capability or rlimit, a capability outside the host's bounding set,
 * a missing root or bind source), NOT_IMPLEMENTED for a field berth cannot honour
 * (unknown properties, SCMP_ACT_NOTIFY). linux.seccomp is checked field by field
 * (actions, ops, argument indexes, architectures, flags). Reads the disk only for stat calls; pure otherwise.
 */
export function validateSpec(raw: unknown, bundleDir: string, options: ValidateOptions = {}): Spec {
  const warn = options.warn ?? (() => undefined);
  const checked = validateStructure(raw, warn);
  // validateStructure copied raw when it dropped a property; an owned spec is checked where it lies
  const spec = (options.owned === true || checked !== raw ? checked : structuredClone(checked)) as Spec;
  const host = options.host ?? hostCapabilities();
  const bundle = resolve(bundleDir);

  if (spec.process) {
    checkCapabilities(spec.process.capabilities, host, warn);
    checkRlimits(spec);
  }
  if (spec.root) {
    const path = isAbsolute(spec.root.path) ? spec.root.path : resolve(bundle, spec.root.path);
    requireDir(path, 'root.path');
    spec.root.path = path;
  }
  (spec.mounts ?? []).forEach((m, i) => {
    const bind = m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
    if (!bind) return;
    if (m.source === undefined || m.source === '')
      throw invalidArgument(`mounts[${i}].source: required for a bind mount of ${m.destination}`);
    const source = isAbsolute(m.source) ? m.source : resolve(bundle, m.source);
    try {
      statSync(source);
    } catch {
      throw notFound(`mounts[${i}].source: ${source}: no such file or directory`, {
        details: { field: `mounts[${i}].source` },
      });
    }
  });
  checkLinux(spec);
  // read only for a spec with a label: most have none, and the reads fail (exceptions) on a host without either
  checkHostOnly(spec, () => options.lsm ?? hostLsm(), warn);
  return spec;
}

/**
 * Fields the runtime spec allows that this host or berth cannot apply: each is
 * accepted and named in a warning (runc and crun also go on without them), except a
 * security label for a module that is enabled here, which berth cannot set: refused.
 */
function checkHostOnly(spec: Spec, lsm: () => EnabledLsm, warn: (message: string) => void): void {
  const label = (field: string, value: string | undefined, module: 'apparmor' | 'selinux') => {
    if (value === undefined || value === '') return;
    const name = module === 'apparmor' ? 'AppArmor' : 'SELinux';
    if (lsm()[module])
      throw notImplemented(`${field}: berth cannot apply ${name} labels, and ${name} is enabled on this host`, {
        details: { field },
      });
    warn(`${field}: ${name} is not enabled on this host, ${JSON.stringify(value)} ignored`);
  };
  label('process.apparmorProfile', spec.process?.apparmorProfile, 'apparmor');
  label('process.selinuxLabel', spec.process?.selinuxLabel, 'selinux');
  label('linux.mountLabel', spec.linux?.mountLabel, 'selinux');
  const r = spec.linux?.resources;
  if (r === undefined) return;
  if (r.hugepageLimits !== undefined)
    warn('linux.resources.hugepageLimits: hugetlb limits are not applied by berth, ignored');
}

function requireDir(path: string, field: string): void {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw notFound(`${field}: ${path}: no such directory`, { details: { field } });
  }
  if (!isDir) throw invalidArgument(`${field}: ${path}: not a directory`, { details: { field } });
}

const capSets = ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const;

function checkCapabilities(
  caps: Capabilities | undefined,
  host: HostCapabilities,
  warn: ((message: string) => void) | undefined,
): void {
  if (!caps) return;
  for (const set of capSets) {
    (caps[set] ?? []).forEach((name, i) => {
      const problem = capabilityProblem(name, host);
      if (problem)
        throw invalidArgument(`process.capabilities.${set}[${i}]: ${problem}`, {
          details: { field: `process.capabilities.${set}[${i}]` },
        });
    });
  }
  const permitted = capabilityMask(caps.permitted ?? []);
  const inheritable = capabilityMask(caps.inheritable ?? []);
  (caps.effective ?? []).forEach((name, i) => {
    if ((capabilityMask([name]) & permitted) === 0n) {
      throw invalidArgument(`process.capabilities.effective[${i}]: ${name} must also be in permitted`);
    }
  });
  // runc and crun raise ambient capabilities best effort, and `runc spec` writes ambient
  // ones that are not inheritable: the same bundle must run here, so this only warns.
  (caps.ambient ?? []).forEach((name, i) => {
    const bit = capabilityMask([name]);
    if ((bit & permitted) === 0n || (bit & inheritable) === 0n) {
      warn?.(
        `process.capabilities.ambient[${i}]: ${name} is not raised: an ambient capability must also be permitted and inheritable`,
      );
    }
  });
}

function checkRlimits(spec: Spec): void {
  const seen = new Map<string, number>();
  (spec.process?.rlimits ?? []).forEach((r, i) => {
    const field = `process.rlimits[${i}]`;
    if (rlimitNumber(r.type) === undefined)
      throw invalidArgument(`${field}.type: unknown rlimit ${JSON.stringify(r.type)}`, {
        details: { field: `${field}.type` },
      });
    const before = seen.get(r.type);
    if (before !== undefined)
      throw invalidArgument(`${field}.type: ${r.type} already set by process.rlimits[${before}]`);
    seen.set(r.type, i);
    if (!isInfinity(r.hard) && (isInfinity(r.soft) || r.soft > r.hard)) {
      throw invalidArgument(`${field}: ${r.type} soft limit ${r.soft} is above its hard limit ${r.hard}`);
    }
  });
}

/** sysctl prefixes and the namespace that must be new for the container to own them (runc's rules). */
const sysctlNamespaces: [RegExp, NamespaceType][] = [
  [/^kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)$/, 'ipc'],
  [/^fs\.mqueue\./, 'ipc'],
  [/^net\./, 'network'],
  [/^kernel\.(hostname|domainname)$/, 'uts'],
];

function checkLinux(spec: Spec): void {
  const linux = spec.linux ?? {};
  const own = new Set<NamespaceType>();
  const seen = new Map<NamespaceType, number>();
  (linux.namespaces ?? []).forEach((ns, i) => {
    const field = `linux.namespaces[${i}]`;
    const before = seen.get(ns.type);
    if (before !== undefined)
      throw invalidArgument(`${field}.type: ${ns.type} namespace already listed at linux.namespaces[${before}]`);
    seen.set(ns.type, i);
    if (ns.path === undefined) own.add(ns.type);
    else {
      try {
        statSync(ns.path);
      } catch {
        throw notFound(`${field}.path: ${ns.path}: no such namespace file`, { details: { field: `${field}.path` } });
      }
    }
  });
  for (const key of ['uidMappings', 'gidMappings'] as const) {
    if ((linux[key]?.length ?? 0) > 0 && !own.has('user'))
      throw invalidArgument(`linux.${key}: needs a new user namespace in linux.namespaces`);
  }
  if (own.has('user') && ((linux.uidMappings?.length ?? 0) === 0 || (linux.gidMappings?.length ?? 0) === 0)) {
    throw invalidArgument('linux.uidMappings: a new user namespace needs uidMappings and gidMappings');
  }
  // a uts namespace joined by path is entered before the hostname is set: it is set there (as runc does)
  if (spec.hostname !== undefined && spec.hostname !== '' && !seen.has('uts'))
    throw invalidArgument('hostname: setting a hostname needs a uts namespace (new or joined)');
  if (spec.domainname !== undefined && spec.domainname !== '' && !seen.has('uts'))
    throw invalidArgument('domainname: setting a domainname needs a uts namespace (new or joined)');
  for (const key of Object.keys(linux.sysctl ?? {})) {
    const field = `linux.sysctl[${JSON.stringify(key)}]`;
    const rule = sysctlNamespaces.find(([re]) => re.test(key));
    if (!rule)
      throw notImplemented(`${field}: berth sets only namespaced sysctls (net.*, fs.mqueue.*, IPC and UTS kernel.*)`);
    if (!own.has(rule[1])) throw invalidArgument(`${field}: needs a new ${rule[1]} namespace`);
  }
  // a profile the fact store holds (berth-runtime's cache of compiled profiles) was accepted by this same check
  if (linux.seccomp !== undefined && !profileKnownGood(linux.seccomp))
    checkProfileCached(linux.seccomp, 'linux.seccomp');
  if (linux.cgroupsPath !== undefined && linux.cgroupsPath.split('/').some((s) => s === '..' || s === '.')) {
    throw invalidArgument(`linux.cgroupsPath: ${JSON.stringify(linux.cgroupsPath)} must not contain . or .. segments`);
  }
  const mem = linux.resources?.memory;
  if (mem?.limit !== undefined && mem.swap !== undefined && mem.limit > 0 && mem.swap !== -1 && mem.swap < mem.limit) {
    throw invalidArgument(
      `linux.resources.memory.swap: ${mem.swap} must be at least memory.limit ${mem.limit} (swap counts memory+swap)`,
    );
  }
  const cpu = linux.resources?.cpu;
  if (cpu?.quota !== undefined && cpu.quota > 0 && cpu.quota < 1000)
    throw invalidArgument(`linux.resources.cpu.quota: ${cpu.quota} is below the kernel's minimum of 1000 µs`);
  if (cpu?.period !== undefined && cpu.period > 0 && cpu.period < 1000)
    throw invalidArgument(`linux.resources.cpu.period: ${cpu.period} is below the kernel's minimum of 1000 µs`);
  if (cpu?.shares !== undefined && cpu.shares === 1)
    throw invalidArgument("linux.resources.cpu.shares: 1 is below the kernel's minimum of 2");
}
