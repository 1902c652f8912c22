// The OCI runtime spec (config.json) subset berth supports, as TypeScript types.
// validateSpec() returns a Spec only after every field here was checked against the host.

/** A namespace kind berth can create or join (runtime-spec config-linux.md). */
export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';

export const NAMESPACE_TYPES: readonly NamespaceType[] = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup'];

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

/** Capability names like "CAP_NET_BIND_SERVICE", per set. */
export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

/** type is a POSIX name like "RLIMIT_NOFILE". */
export interface Rlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface ConsoleSize {
  height: number;
  width: number;
}

export interface Process {
  terminal?: boolean;
  consoleSize?: ConsoleSize;
  user: User;
  args: string[];
  env?: string[];
  /** Absolute path inside the container. */
  cwd: string;
  capabilities?: Capabilities;
  rlimits?: Rlimit[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
  apparmorProfile?: string;
  selinuxLabel?: string;
}

export interface Root {
  /** Relative to the bundle in config.json; validateSpec returns it absolute. */
  path: string;
  readonly?: boolean;
}

export interface Mount {
  /** Absolute path inside the container. */
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  /**
   * An idmapped bind mount (runtime-spec 1.1+): on-disk id `containerID` is seen as `hostID` through the mount. With
   * the `idmap` or `ridmap` option and no mappings, the container's user namespace mappings are used.
   */
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
}

export interface Hook {
  /** Absolute path of the executable, in the runtime's namespace. */
  path: string;
  /** argv including argv[0]. */
  args?: string[];
  env?: string[];
  /** Seconds; must be > 0 when set. */
  timeout?: number;
}

export type HookName = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

export const HOOK_NAMES: readonly HookName[] = [
  'prestart',
  'createRuntime',
  'createContainer',
  'startContainer',
  'poststart',
  'poststop',
];

export type Hooks = { [K in HookName]?: Hook[] };

export interface Namespace {
  type: NamespaceType;
  /** Join this namespace (e.g. /proc/123/ns/net) instead of creating one. */
  path?: string;
}

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface MemoryResources {
  /** Bytes; -1 = unlimited. */
  limit?: number;
  reservation?: number;
  /** memory+swap bytes (runc's meaning); -1 = unlimited. */
  swap?: number;
  /** cgroup v1 memory.kmem(.tcp).limit_in_bytes where the kernel has them; else named in a warning. */
  kernel?: number;
  kernelTCP?: number;
  /** 0-100: cgroup v1 memory.swappiness; cgroup v2 has no such file (warned and ignored). */
  swappiness?: number;
  /** cgroup v1 memory.oom_control; cgroup v2 cannot turn the OOM killer off (warned and ignored). */
  disableOOMKiller?: boolean;
}

/** blkio settings: written on cgroup v1 where the kernel has the file, else named in a warning. */
export interface BlockIO {
  weight?: number;
  leafWeight?: number;
  weightDevice?: { major: number; minor: number; weight?: number; leafWeight?: number }[];
  throttleReadBpsDevice?: ThrottleDevice[];
  throttleWriteBpsDevice?: ThrottleDevice[];
  throttleReadIOPSDevice?: ThrottleDevice[];
  throttleWriteIOPSDevice?: ThrottleDevice[];
}

export interface ThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

export interface CpuResources {
  shares?: number;
  /** Microseconds per period; -1 = unlimited. */
  quota?: number;
  period?: number;
  /** cpuset list, e.g. "0-1". */
  cpus?: string;
  mems?: string;
}

export interface PidsResources {
  /** <= 0 = unlimited. */
  limit: number;
}

export interface DeviceRule {
  allow: boolean;
  /** a (all), c (char) or b (block); default a. */
  type?: 'a' | 'c' | 'b';
  /** Absent = any (*). */
  major?: number;
  minor?: number;
  /** Some of r, w, m; default rwm. */
  access?: string;
}

export interface Resources {
  memory?: MemoryResources;
  cpu?: CpuResources;
  pids?: PidsResources;
  devices?: DeviceRule[];
  /** See BlockIO. */
  blockIO?: BlockIO;
  /** hugetlb limits: accepted and ignored with a warning. */
  hugepageLimits?: { pageSize: string; limit: number }[];
  /** cgroup v1 net_cls.classid / net_prio.ifpriomap where those controllers are mounted; else a warning. */
  network?: { classID?: number; priorities?: { name: string; priority: number }[] };
}

/** A device node the runtime creates in the container (linux.devices). */
export interface Device {
  /** Absolute path in the container, e.g. /dev/fuse. */
  path: string;
  /** c/u (char), b (block) or p (FIFO). */
  type: 'c' | 'b' | 'u' | 'p';
  major?: number;
  minor?: number;
  /** Permission bits; default 0666 as runc. */
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export type RootfsPropagation =
  'private' | 'rprivate' | 'slave' | 'rslave' | 'shared' | 'rshared' | 'unbindable' | 'runbindable';

export interface SeccompSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
}

export interface Seccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  /** Seccomp agents: refused with NOT_IMPLEMENTED. */
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: SeccompSyscall[];
}

export interface Linux {
  namespaces?: Namespace[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  resources?: Resources;
  /** Relative (to the engine's cgroup root) or absolute cgroup path. */
  cgroupsPath?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  rootfsPropagation?: RootfsPropagation;
  sysctl?: Record<string, string>;
  /** Compiled to a BPF filter by engine/execdriver/seccomp (x86_64; SCMP_ACT_NOTIFY refused). */
  seccomp?: Seccomp;
  /** Device nodes created in the container, and allowed in its device cgroup. */
  devices?: Device[];
  /** SELinux mount label: ignored with a warning where SELinux is not enabled. */
  mountLabel?: string;
}

/** A validated config.json. */
export interface Spec {
  ociVersion: string;
  process?: Process;
  root?: Root;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: Linux;
}

/** The runtime-spec state (runtime.md "State"), what `state` prints and hooks read on stdin. */
export type ContainerStatus = 'creating' | 'created' | 'running' | 'stopped';

export interface State {
  ociVersion: string;
  id: string;
  status: ContainerStatus;
  /** Absent when no process exists (stopped). */
  pid?: number;
  /** Absolute path of the bundle directory. */
  bundle: string;
  annotations?: Record<string, string>;
}
