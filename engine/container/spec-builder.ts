// The OCI runtime spec of a container, built from its merged Config and its
// HostConfig the way Docker's daemon builds one (moby daemon/oci_linux.go):
// Docker's default capabilities changed by CapAdd/CapDrop, its default seccomp
// profile unless `seccomp=unconfined`, masked and read-only paths unless
// privileged, the etc files and Binds and Tmpfs as mounts, resource limits, and
// the namespaces the network, pid, ipc and uts modes call for. Pure: the caller
// resolves the user and the paths first.
import { hostname as osHostname } from 'node:os';
import type { ContainerConfig, HostConfig, MountSpec } from '../api/types.js';
import { invalidArgument, notImplemented } from '../errdefs/errors.js';
import {
  CAPABILITY_NAMES,
  capabilityProblem,
  hostCapabilities,
  type HostCapabilities,
} from '../execdriver/spec/capabilities.js';
import { defaultSpec, DEFAULT_CAPABILITIES, DEFAULT_MOUNTS } from '../execdriver/spec/defaults.js';
import { rlimitNumber } from '../execdriver/spec/rlimits.js';
import type { Mount, Namespace, Spec } from '../execdriver/spec/types.js';
import { dockerDefaultProfile } from '../execdriver/seccomp/docker-default.js';
import type { ResolvedUser } from './user.js';

/** Where the init process of HostConfig.Init is mounted in the container (Docker's path). */
export const INIT_PATH = '/sbin/docker-init';
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CPU_PERIOD = 100_000;

export interface SpecInput {
  id: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
  path: string;
  args: string[];
  /** The mounted rootfs (absolute). */
  rootfs: string;
  user: ResolvedUser;
  /** Host paths of the etc files to bind-mount (absent: none mounted). */
  etcFiles?: { hosts: string; hostname: string; resolvConf: string };
  /** HostConfig.Mounts with volumes resolved to host paths (default: hc.Mounts as they are). */
  mounts?: MountSpec[];
  /** For NetworkMode `container:<id>`: the other container's network namespace. */
  netnsPath?: string;
  /** For PidMode `container:<id>`: the other container's pid namespace. */
  pidnsPath?: string;
  /** For IpcMode `container:<id>`: the other container's IPC namespace. */
  ipcnsPath?: string;
  /**
   * A host directory bound at /dev/shm instead of the container's own tmpfs: the host-side shm of a shareable
   * container (its own, or the one it joins), or the host's /dev/shm with IpcMode host.
   */
  shmPath?: string;
  /** The init binary on the host, bind-mounted at INIT_PATH when HostConfig.Init asks for it. */
  initPath?: string;
  /** The host's capability limits (tests pass their own). */
  host?: HostCapabilities;
}

/**
 * The hostname a container gets: Config.Hostname, else the host's with the host network (as Docker), else the first 12
 * digits of its id.
 */
export function hostnameOf(id: string, config: ContainerConfig, hc: HostConfig = {}): string {
  return config.Hostname || (hc.NetworkMode === 'host' ? osHostname() : id.slice(0, 12));
}

/** `net_admin`, `CAP_NET_ADMIN`, `ALL` → the canonical name. INVALID_ARGUMENT naming an unknown one. */
function normalizeCapability(name: string, field: string): string {
  const upper = name.toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!CAPABILITY_NAMES.includes(full)) throw invalidArgument(`${field}: unknown capability ${JSON.stringify(name)}`);
  return full;
}

/** Every capability this host can grant (the known ones inside its bounding set). */
function grantable(host: HostCapabilities): string[] {
  return CAPABILITY_NAMES.filter((c) => capabilityProblem(c, host) === undefined);
}

/**
 * Docker's capability rules: Privileged → every capability; CapAdd ALL → all but
 * CapDrop; CapDrop ALL → only CapAdd; else the defaults plus CapAdd minus CapDrop.
 * INVALID_ARGUMENT for an unknown name or one this host cannot grant.
 */
export function capabilitiesFor(hc: HostConfig, host: HostCapabilities = hostCapabilities()): string[] {
  if (hc.Privileged) return grantable(host);
  const add = (hc.CapAdd ?? []).map((c) => normalizeCapability(c, 'CapAdd'));
  const drop = (hc.CapDrop ?? []).map((c) => normalizeCapability(c, 'CapDrop'));
  let caps: string[];
  if (add.includes('ALL')) caps = grantable(host).filter((c) => !drop.includes(c));
  else if (drop.includes('ALL')) caps = [...new Set(add)];
  else caps = [...new Set([...DEFAULT_CAPABILITIES, ...add])].filter((c) => !drop.includes(c) || add.includes(c));
  for (const c of caps) {
    const problem = capabilityProblem(c, host);
    if (problem !== undefined) throw invalidArgument(`CapAdd ${c}: ${problem}`);
  }
  return caps;
}

export interface SecurityOptions {
  seccomp: 'default' | 'unconfined';
  noNewPrivileges: boolean;
}

/** SecurityOpt entries (`seccomp=unconfined`, `no-new-privileges[=bool]`; `:` accepted for `=`). */
export function parseSecurityOpt(opts: readonly string[]): SecurityOptions {
  const out: SecurityOptions = { seccomp: 'default', noNewPrivileges: false };
  for (const opt of opts) {
    const m = /^([a-z-]+)(?:[=:](.*))?$/.exec(opt);
    const key = m?.[1];
    const value = m?.[2];
    if (key === 'no-new-privileges') {
      if (value !== undefined && value !== 'true' && value !== 'false')
        throw invalidArgument(`security-opt ${JSON.stringify(opt)}: expected no-new-privileges[=true|false]`);
      out.noNewPrivileges = value !== 'false';
    } else if (key === 'seccomp') {
      if (value === 'unconfined') out.seccomp = 'unconfined';
      else if (value === 'builtin' || value === 'default') out.seccomp = 'default';
      else
        throw notImplemented(
          `security-opt ${JSON.stringify(opt)}: only seccomp=unconfined and the built-in profile are supported`,
        );
    } else if (key === 'apparmor' || key === 'label') {
      // berth applies no LSM profile; accepted so scripts written for Docker run
    } else {
      throw invalidArgument(`security-opt ${JSON.stringify(opt)}: unknown option`);
    }
  }
  return out;
}

/**
 * `host:container[:opts]` → a bind mount. INVALID_ARGUMENT for relative paths or unknown options (volumes are resolved
 * to host paths first). `idmap` asks for an idmapped bind (recursive: `ridmap`) through the container's user namespace.
 */
export function parseBind(bind: string): Mount & { source: string } {
  const parts = bind.split(':');
  if (parts.length < 2 || parts.length > 3 || parts[0] === '' || parts[1] === '')
    throw invalidArgument(`bind ${JSON.stringify(bind)}: expected host-path:container-path[:options]`);
  const [source, destination, mode = ''] = parts as [string, string, string?];
  if (!source.startsWith('/'))
    throw invalidArgument(
      `bind ${JSON.stringify(bind)}: volume ${JSON.stringify(source)} was not resolved to a host path`,
    );
  if (!destination.startsWith('/'))
    throw invalidArgument(
      `bind ${JSON.stringify(bind)}: container path ${JSON.stringify(destination)} must be absolute`,
    );
  const options = ['rbind'];
  let rw = true;
  let propagation = 'rprivate';
  let idmap = false;
  for (const o of mode.split(',').filter((x) => x !== '')) {
    if (o === 'ro') rw = false;
    else if (o === 'idmap')
      idmap = true; // under --userns-remap only (checked where the container's mappings are known)
    else if (o === 'rw') rw = true;
    else if (o === 'z' || o === 'Z' || o === 'nocopy') continue;
    else if (['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'].includes(o)) propagation = o;
    else throw invalidArgument(`bind ${JSON.stringify(bind)}: unknown option ${JSON.stringify(o)}`);
  }
  options.push(propagation);
  if (!rw) options.push('ro');
  if (idmap) options.push('ridmap');
  return { destination, type: 'bind', source, options };
}

const PROPAGATIONS = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];

/**
 * A HostConfig.Mounts entry (`--mount`) → a mount: bind (the source must exist,
 * unlike -v, as in Docker) or tmpfs. INVALID_ARGUMENT naming the entry for a bad one;
 * `volume` without a resolved source is refused (resolve named volumes first).
 */
function mountOf(m: MountSpec): Mount & { source: string } {
  const subject = `mount ${JSON.stringify(m.Target ?? '')}`;
  if (typeof m.Target !== 'string' || !m.Target.startsWith('/'))
    throw invalidArgument(`${subject}: Target must be an absolute path`);
  if (m.Type === 'bind') {
    if (typeof m.Source !== 'string' || !m.Source.startsWith('/'))
      throw invalidArgument(`${subject}: bind Source must be an absolute host path`);
    const propagation = m.BindOptions?.Propagation || 'rprivate';
    if (!PROPAGATIONS.includes(propagation))
      throw invalidArgument(`${subject}: unknown propagation ${JSON.stringify(propagation)}`);
    return {
      destination: m.Target,
      type: 'bind',
      source: m.Source,
      options: ['rbind', propagation, ...(m.ReadOnly ? ['ro'] : [])],
    };
  }
  if (m.Type === 'tmpfs') {
    if (m.Source) throw invalidArgument(`${subject}: a tmpfs mount takes no Source`);
    const size = m.TmpfsOptions?.SizeBytes;
    const mode = m.TmpfsOptions?.Mode;
    if (size !== undefined && !(Number.isInteger(size) && size >= 0))
      throw invalidArgument(`${subject}: SizeBytes ${size}: expected a byte count`);
    const opts = [
      ...(size ? [`size=${size}`] : []),
      ...(mode ? [`mode=${(mode & 0o7777).toString(8)}`] : []),
      ...(m.ReadOnly ? ['ro'] : []),
    ];
    return { ...tmpfsMount(m.Target, opts.join(',')), source: 'tmpfs' };
  }
  if (m.Type === 'volume')
    throw invalidArgument(`${subject}: volume ${JSON.stringify(m.Source ?? '')} was not resolved to a host path`);
  throw invalidArgument(`${subject}: Type ${JSON.stringify(m.Type ?? '')}: expected bind, volume or tmpfs`);
}

/** A Tmpfs entry → a tmpfs mount, Docker's defaults (nosuid, nodev, noexec) unless the options say otherwise. */
export function tmpfsMount(destination: string, opts: string): Mount {
  if (!destination.startsWith('/'))
    throw invalidArgument(`tmpfs ${JSON.stringify(destination)}: path must be absolute`);
  const given = opts.split(',').filter((o) => o !== '');
  for (const o of given) {
    if (
      !/^(ro|rw|suid|nosuid|dev|nodev|exec|noexec|size=\d+[kmgKMG%]?|mode=[0-7]{3,4}|uid=\d+|gid=\d+|nr_inodes=\d+[kmgKMG]?)$/.test(
        o,
      )
    ) {
      throw invalidArgument(`tmpfs ${destination}: unknown option ${JSON.stringify(o)}`);
    }
  }
  const defaults = ['nosuid', 'nodev', 'noexec'].filter((d) => !given.includes(d.slice(2)) && !given.includes(d));
  return { destination, type: 'tmpfs', source: 'tmpfs', options: [...defaults, ...given] };
}

/** The process env: PATH (when the config has none), HOSTNAME, TERM with a TTY, the config's Env, HOME (when none). */
export function processEnv(config: ContainerConfig, hostname: string, home: string): string[] {
  const env = config.Env ?? [];
  const has = (k: string) => env.some((e) => e.startsWith(`${k}=`));
  return [
    ...(has('PATH') ? [] : [DEFAULT_PATH]),
    `HOSTNAME=${hostname}`,
    ...(config.Tty && !has('TERM') ? ['TERM=xterm'] : []),
    ...env,
    ...(has('HOME') ? [] : [`HOME=${home}`]),
  ];
}

/**
 * The spec for one start of a container. INVALID_ARGUMENT / NOT_IMPLEMENTED naming the field for what berth cannot
 * honour.
 */
export function buildSpec(input: SpecInput): Spec {
  const { config, hostConfig: hc } = input;
  const host = input.host ?? hostCapabilities();
  const hostname = hostnameOf(input.id, config, hc);
  const security = parseSecurityOpt(hc.SecurityOpt ?? []);
  const caps = capabilitiesFor(hc, host);
  if (hc.Init && input.initPath === undefined) throw invalidArgument('HostConfig.Init: no init binary is available');

  const spec = defaultSpec({
    args: hc.Init ? [INIT_PATH, '--', input.path, ...input.args] : [input.path, ...input.args],
    rootfs: input.rootfs,
    hostname,
    terminal: config.Tty ?? false,
  });
  const proc = spec.process!;
  proc.env = processEnv(config, hostname, input.user.home);
  proc.cwd = config.WorkingDir || '/';
  proc.user = {
    uid: input.user.uid,
    gid: input.user.gid,
    ...(input.user.additionalGids.length > 0 ? { additionalGids: [...input.user.additionalGids] } : {}),
  };
  proc.capabilities = { bounding: [...caps], effective: [...caps], permitted: [...caps] };
  proc.noNewPrivileges = security.noNewPrivileges;
  if (hc.OomScoreAdj !== undefined && hc.OomScoreAdj !== 0) {
    if (!Number.isInteger(hc.OomScoreAdj) || hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000)
      throw invalidArgument(`OomScoreAdj ${hc.OomScoreAdj}: expected an integer in -1000..1000`);
    proc.oomScoreAdj = hc.OomScoreAdj;
  }
  for (const u of hc.Ulimits ?? []) {
    const type = `RLIMIT_${u.Name.toUpperCase()}`;
    if (rlimitNumber(type) === undefined) throw invalidArgument(`ulimit ${u.Name}: unknown`);
    if (!(u.Soft >= 0 && u.Hard >= u.Soft))
      throw invalidArgument(`ulimit ${u.Name}: soft ${u.Soft} must be ≤ hard ${u.Hard}`);
    proc.rlimits = [...(proc.rlimits ?? []).filter((r) => r.type !== type), { type, soft: u.Soft, hard: u.Hard }];
  }
  spec.root = { path: input.rootfs, readonly: hc.ReadonlyRootfs ?? false };

  const linux = spec.linux!;
  // namespaces
  const drop = new Set<string>();
  const net = hc.NetworkMode || 'bridge';
  if (net === 'host') drop.add('network');
  if (hc.PidMode === 'host') drop.add('pid');
  else if (hc.PidMode && !hc.PidMode.startsWith('container:'))
    throw invalidArgument(`PidMode ${JSON.stringify(hc.PidMode)}: expected host or container:<id>`);
  if (hc.IpcMode === 'host') drop.add('ipc');
  else if (
    hc.IpcMode &&
    !['private', 'shareable', 'none'].includes(hc.IpcMode) &&
    !hc.IpcMode.startsWith('container:')
  ) {
    throw invalidArgument(
      `IpcMode ${JSON.stringify(hc.IpcMode)}: expected host, private, shareable, none or container:<id>`,
    );
  }
  if (hc.UTSMode === 'host') {
    drop.add('uts');
    if (config.Hostname) throw invalidArgument('Hostname: cannot be set with UTSMode host');
    if (config.Domainname) throw invalidArgument('Domainname: cannot be set with UTSMode host');
    delete spec.hostname;
  } else if (hc.UTSMode)
    throw notImplemented(`UTSMode ${JSON.stringify(hc.UTSMode)}: only "host" or the container's own`);
  if (config.Domainname && hc.UTSMode !== 'host') spec.domainname = config.Domainname;
  if (hc.CgroupnsMode === 'host') drop.add('cgroup');
  const namespaces: Namespace[] = linux.namespaces!.filter((n) => !drop.has(n.type));
  const join = (field: string, mode: string | undefined, type: Namespace['type'], path: string | undefined) => {
    if (!mode?.startsWith('container:')) return;
    if (path === undefined) throw invalidArgument(`${field} ${mode}: the other container is not running`);
    for (const n of namespaces) if (n.type === type) n.path = path;
  };
  join('NetworkMode', net, 'network', input.netnsPath);
  join('PidMode', hc.PidMode, 'pid', input.pidnsPath);
  join('IpcMode', hc.IpcMode, 'ipc', input.ipcnsPath);
  linux.namespaces = namespaces;

  // mounts: the defaults, /dev/shm sized, the etc files, tmpfs, binds (later mounts win on the same path)
  const mounts: Mount[] = spec
    .mounts!.map((m) => {
      if (m.destination === '/dev/shm' && input.shmPath !== undefined)
        return { destination: '/dev/shm', type: 'bind', source: input.shmPath, options: ['rbind', 'rprivate'] };
      if (m.destination === '/dev/shm' && hc.ShmSize) {
        if (!(hc.ShmSize > 0)) throw invalidArgument(`ShmSize ${hc.ShmSize}: must be positive`);
        return {
          ...m,
          options: [...m.options!.filter((o) => !o.startsWith('size=')), `size=${Math.ceil(hc.ShmSize / 1024)}k`],
        };
      }
      if (m.destination === '/sys' && hc.Privileged) return { ...m, options: m.options!.filter((o) => o !== 'ro') };
      return m;
    })
    .filter((m) => !(m.destination === '/dev/shm' && hc.IpcMode === 'none'));
  const defaults = mounts.length;
  if (input.etcFiles !== undefined) {
    const opts = ['rbind', 'rprivate', ...(hc.ReadonlyRootfs ? ['ro'] : [])];
    mounts.push(
      { destination: '/etc/resolv.conf', type: 'bind', source: input.etcFiles.resolvConf, options: opts },
      { destination: '/etc/hostname', type: 'bind', source: input.etcFiles.hostname, options: opts },
      { destination: '/etc/hosts', type: 'bind', source: input.etcFiles.hosts, options: opts },
    );
  }
  if (hc.Init)
    mounts.push({ destination: INIT_PATH, type: 'bind', source: input.initPath!, options: ['bind', 'rprivate', 'ro'] });
  for (const [dest, opts] of Object.entries(hc.Tmpfs ?? {})) mounts.push(tmpfsMount(dest, opts));
  for (const b of hc.Binds ?? []) mounts.push(parseBind(b));
  for (const m of input.mounts ?? hc.Mounts ?? []) mounts.push(mountOf(m));
  const seen = new Set<string>();
  for (const m of mounts.slice(defaults)) {
    if (seen.has(m.destination)) throw invalidArgument(`mount ${m.destination}: duplicate mount point`);
    seen.add(m.destination);
  }
  spec.mounts = mounts;

  // resources
  const resources = linux.resources!;
  if (hc.Memory) {
    if (hc.Memory < 6 * 1024 * 1024) throw invalidArgument(`Memory ${hc.Memory}: the minimum memory limit is 6 MiB`);
    resources.memory = { limit: hc.Memory };
    if (hc.MemorySwap !== undefined && hc.MemorySwap !== 0) {
      if (hc.MemorySwap !== -1 && hc.MemorySwap < hc.Memory)
        throw invalidArgument(`MemorySwap ${hc.MemorySwap}: must be at least Memory (${hc.Memory}) or -1`);
      resources.memory.swap = hc.MemorySwap;
    }
  } else if (hc.MemorySwap && hc.MemorySwap > 0) throw invalidArgument('MemorySwap: needs Memory');
  if (hc.MemoryReservation) resources.memory = { ...resources.memory, reservation: hc.MemoryReservation };
  if (hc.NanoCpus) {
    if (hc.CpuQuota || hc.CpuPeriod) throw invalidArgument('NanoCpus: conflicts with CpuQuota/CpuPeriod');
    if (hc.NanoCpus < 1e7) throw invalidArgument(`NanoCpus ${hc.NanoCpus}: the minimum is 0.01 CPU`);
    resources.cpu = { quota: Math.round((hc.NanoCpus * CPU_PERIOD) / 1e9), period: CPU_PERIOD };
  }
  if (hc.CpuQuota) resources.cpu = { ...resources.cpu, quota: hc.CpuQuota, period: hc.CpuPeriod || CPU_PERIOD };
  if (hc.CpuShares) {
    if (hc.CpuShares < 2) throw invalidArgument(`CpuShares ${hc.CpuShares}: the minimum is 2`);
    resources.cpu = { ...resources.cpu, shares: hc.CpuShares };
  }
  if (hc.CpusetCpus) resources.cpu = { ...resources.cpu, cpus: hc.CpusetCpus };
  if (hc.PidsLimit !== undefined && hc.PidsLimit !== null && hc.PidsLimit > 0) resources.pids = { limit: hc.PidsLimit };

  // confinement
  if (hc.Privileged) {
    delete linux.maskedPaths;
    delete linux.readonlyPaths;
    resources.devices = [{ allow: true, access: 'rwm' }];
  } else {
    if (hc.MaskedPaths) linux.maskedPaths = [...hc.MaskedPaths];
    if (hc.ReadonlyPaths) linux.readonlyPaths = [...hc.ReadonlyPaths];
    if (security.seccomp === 'default') linux.seccomp = dockerDefaultProfile(caps);
  }
  spec.annotations = { 'org.berth.container.id': input.id };
  return spec;
}
