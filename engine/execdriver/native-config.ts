// Flattens a validated OCI Spec into the NativeSpawnConfig the native core's
// containerSpawn takes: mount options become MS_* flags and data, capability names
// bit masks, rlimit names numbers, sysctl keys /proc/sys paths. What berth's core
// cannot honour is refused here, before any process exists.
import { readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, resolve } from 'node:path';
import { invalidArgument, notFound, notImplemented, unavailable } from '../errdefs/errors.js';
import type { NativeCgroupHierarchy, NativeMount, NativeSpawnConfig } from '../../native/index.js';
import { parseHierarchies, type CgroupHierarchy } from './cgroups/detect.js';
import { nativeSeccomp } from './seccomp/native-filter.js';
import { capabilityMask } from './spec/capabilities.js';
import { isInfinity, rlimitNumber } from './spec/rlimits.js';
import type { Device, Mount, NamespaceType, RootfsPropagation, Spec } from './spec/types.js';

/**
 * `"true"`: the rootfs is attached as an idmapped mount through the container's new user namespace (mount_setattr
 * MOUNT_ATTR_IDMAP), so files the host's root owns there are the container root's, and what the container root creates
 * is stored as owned by the host's root. The kernel and the rootfs's filesystem must allow it (idmapProbe).
 */
export const ROOTFS_IDMAP_ANNOTATION = 'org.berth.rootfs.idmap';

export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  REMOUNT: 32,
  MANDLOCK: 64,
  DIRSYNC: 128,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  REC: 16384,
  UNBINDABLE: 1 << 17,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
} as const;

/** Mount options that set (true) or clear (false) an MS_* flag, as runc reads them. */
const flagOptions: Record<string, [number, boolean]> = {
  ro: [MS.RDONLY, true],
  rw: [MS.RDONLY, false],
  nosuid: [MS.NOSUID, true],
  suid: [MS.NOSUID, false],
  nodev: [MS.NODEV, true],
  dev: [MS.NODEV, false],
  noexec: [MS.NOEXEC, true],
  exec: [MS.NOEXEC, false],
  sync: [MS.SYNCHRONOUS, true],
  async: [MS.SYNCHRONOUS, false],
  dirsync: [MS.DIRSYNC, true],
  mand: [MS.MANDLOCK, true],
  nomand: [MS.MANDLOCK, false],
  noatime: [MS.NOATIME, true],
  atime: [MS.NOATIME, false],
  nodiratime: [MS.NODIRATIME, true],
  diratime: [MS.NODIRATIME, false],
  relatime: [MS.RELATIME, true],
  norelatime: [MS.RELATIME, false],
  strictatime: [MS.STRICTATIME, true],
  nostrictatime: [MS.STRICTATIME, false],
  bind: [MS.BIND, true],
  rbind: [MS.BIND | MS.REC, true],
  defaults: [0, true],
};

const propagationOptions: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

const rootPropagation: Record<RootfsPropagation, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

const knownNamespaces = new Set<string>(['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup']);

export interface NativeIo {
  /** Parent fds for the container's 0, 1, 2; -1 = /dev/null. */
  stdio: [number, number, number];
  /** Detached mode: the exec FIFO the child opens at its start point. */
  execFifo?: string;
  /** The child stops before pivot_root for the caller's createContainer hooks. */
  createContainerHooks?: boolean;
  /** A detached mount the child attaches over root.path in its own mount namespace, instead of a bind of that path. */
  rootfsMount?: number;
}

/**
 * The spawn config for `spec` (validated by validateSpec; root.path absolute).
 * Throws INVALID_ARGUMENT naming the field (unknown namespace type, a relative mount
 * destination, a hostname without a UTS namespace, root propagation without a mount namespace), NOT_FOUND
 * for a missing rootfs or bind source, NOT_IMPLEMENTED for what the native core
 * does not do (shared root propagation). A cgroup or cgroup2 mount shows the container its own
 * cgroups, read-only when its options say ro, as runc and crun do (this host's hierarchies are
 * read from /proc/self/mountinfo then). Ambient capabilities that are not both permitted and
 * inheritable are not raised (validateSpec warns about them). process.terminal needs a
 * devpts mount on /dev/pts (the pty comes from the container's own instance). A seccomp profile
 * is compiled to BPF here (cached per profile; errors name linux.seccomp fields).
 * Pure apart from stat calls on the rootfs and bind sources.
 */
export function nativeConfig(spec: Spec, bundleDir: string, io: NativeIo): NativeSpawnConfig {
  const proc = spec.process;
  if (proc === undefined) throw invalidArgument('process: required to create a container');
  if (spec.root === undefined) throw invalidArgument('root: required to create a container');
  if (
    proc.terminal &&
    !(spec.mounts ?? []).some((m) => m.type === 'devpts' && m.destination.replace(/\/+$/, '') === '/dev/pts')
  ) {
    throw invalidArgument(
      "process.terminal: needs a devpts mount on /dev/pts in mounts (the pty comes from the container's own instance)",
    );
  }
  if (proc.args.length === 0) throw invalidArgument('process.args: must not be empty');

  const rootfs = isAbsolute(spec.root.path) ? spec.root.path : resolve(bundleDir, spec.root.path);
  let isDir = false;
  try {
    isDir = statSync(rootfs).isDirectory();
  } catch {
    throw notFound(`root.path: rootfs ${rootfs}: no such directory`, { details: { field: 'root.path', path: rootfs } });
  }
  if (!isDir) throw invalidArgument(`root.path: rootfs ${rootfs}: not a directory`);

  const namespaces = (spec.linux?.namespaces ?? []).map((ns, i) => {
    if (!knownNamespaces.has(ns.type)) {
      throw invalidArgument(`linux.namespaces[${i}].type: unknown namespace type ${JSON.stringify(ns.type)}`, {
        details: { field: `linux.namespaces[${i}].type` },
      });
    }
    return ns.path === undefined || ns.path === '' ? { type: ns.type } : { type: ns.type, path: ns.path };
  });
  const has = (type: NamespaceType) => namespaces.some((ns) => ns.type === type);
  // Without a mount namespace of its own the container shares the runtime's: the child
  // mounts under a private bind of the rootfs and chroots (hostMountRoot says what to undo).
  if (!has('mount') && spec.linux?.rootfsPropagation !== undefined) {
    throw invalidArgument(
      "linux.rootfsPropagation: needs a mount namespace in linux.namespaces (it would change the host's propagation)",
    );
  }
  if (
    namespaces.some((ns) => ns.type === 'user' && ns.path === undefined) &&
    namespaces.some((ns) => ns.path !== undefined && ns.type !== 'pid')
  ) {
    throw notImplemented('linux.namespaces: a new user namespace together with joined namespaces');
  }
  if (
    namespaces.some((ns) => ns.type === 'user' && ns.path !== undefined) &&
    namespaces.some((ns) => ns.type === 'pid' && ns.path === undefined)
  ) {
    // The pid namespace comes from clone, before the child can enter the user namespace,
    // so it would belong to the host's and the container's root could not mount its /proc.
    throw notImplemented('linux.namespaces: a joined user namespace together with a new pid namespace');
  }
  if ((spec.hostname !== undefined || spec.domainname !== undefined) && !has('uts')) {
    throw invalidArgument('hostname: setting it needs a UTS namespace in linux.namespaces');
  }
  const idmapRootfs = spec.annotations?.[ROOTFS_IDMAP_ANNOTATION];
  if (idmapRootfs !== undefined && idmapRootfs !== 'true' && idmapRootfs !== 'false') {
    throw invalidArgument(`annotations.${ROOTFS_IDMAP_ANNOTATION}: expected "true" or "false"`);
  }
  if (
    idmapRootfs === 'true' &&
    (!namespaces.some((ns) => ns.type === 'user' && ns.path === undefined) || !has('mount'))
  ) {
    throw invalidArgument(
      `annotations.${ROOTFS_IDMAP_ANNOTATION}: an idmapped rootfs needs a new user namespace and a mount namespace`,
    );
  }
  // shared and unbindable are applied to the new root after pivot_root (native setup_rootfs)
  const propagation = spec.linux?.rootfsPropagation;

  const caps = proc.capabilities ?? {};
  const sysctl = Object.entries(spec.linux?.sysctl ?? {}).map(([key, value]) => {
    if (!/^[A-Za-z0-9_-]+([./][A-Za-z0-9_-]+)*$/.test(key))
      throw invalidArgument(`linux.sysctl: bad key ${JSON.stringify(key)}`);
    return { path: `/proc/sys/${key.replace(/\./g, '/')}`, value };
  });

  const config: NativeSpawnConfig = {
    namespaces,
    uidMappings: spec.linux?.uidMappings ?? [],
    gidMappings: spec.linux?.gidMappings ?? [],
    rootfs,
    rootPropagation: propagation !== undefined ? rootPropagation[propagation] : MS.SLAVE | MS.REC,
    readonlyRoot: spec.root.readonly === true,
    idmapRootfs: idmapRootfs === 'true',
    mounts: (spec.mounts ?? []).map((m, i) => nativeMount(m, i, bundleDir)),
    maskedPaths: absolutePaths(spec.linux?.maskedPaths, 'linux.maskedPaths'),
    readonlyPaths: absolutePaths(spec.linux?.readonlyPaths, 'linux.readonlyPaths'),
    sysctl,
    rlimits: (proc.rlimits ?? []).map((r, i) => {
      const resource = rlimitNumber(r.type);
      if (resource === undefined)
        throw invalidArgument(`process.rlimits[${i}].type: unknown rlimit ${JSON.stringify(r.type)}`);
      return { resource, soft: limit(r.soft), hard: limit(r.hard) };
    }),
    noNewPrivileges: proc.noNewPrivileges === true,
    capabilities: {
      bounding: capabilityMask(caps.bounding ?? []),
      effective: capabilityMask(caps.effective ?? []),
      permitted: capabilityMask(caps.permitted ?? []),
      inheritable: capabilityMask(caps.inheritable ?? []),
      // Raised best effort, as runc and crun do: the kernel refuses the rest.
      ambient:
        capabilityMask(caps.ambient ?? []) &
        capabilityMask(caps.permitted ?? []) &
        capabilityMask(caps.inheritable ?? []),
    },
    uid: proc.user.uid,
    gid: proc.user.gid,
    additionalGids: proc.user.additionalGids ?? [],
    cwd: proc.cwd,
    args: proc.args,
    env: proc.env ?? [],
    stdio: io.stdio,
  };
  for (const [i, m] of config.mounts.entries()) {
    if (m.idmap === undefined) continue;
    if (!has('mount'))
      throw invalidArgument(
        `mounts[${i}]: an idmapped mount of ${m.source} needs a mount namespace in linux.namespaces`,
      );
    if (m.idmap.uidMappings.length === 0 && !namespaces.some((ns) => ns.type === 'user' && ns.path === undefined))
      throw invalidArgument(
        `mounts[${i}]: an idmapped mount of ${m.source} without uidMappings and gidMappings takes the container's, ` +
          'which needs a new user namespace in linux.namespaces',
      );
  }
  // runc does the same: a network namespace of its own starts with lo down
  if (namespaces.some((ns) => ns.type === 'network' && ns.path === undefined)) config.loopbackUp = true;
  if (config.mounts.some((m) => m.kind === 'cgroup')) config.cgroupHierarchies = cgroupHierarchies(hierarchies());
  if ((spec.linux?.devices?.length ?? 0) > 0) config.devices = spec.linux!.devices!.map((d, i) => nativeDevice(d, i));
  if (spec.hostname !== undefined) config.hostname = spec.hostname;
  if (spec.domainname !== undefined) config.domainname = spec.domainname;
  if (proc.user.umask !== undefined) config.umask = proc.user.umask;
  if (proc.oomScoreAdj !== undefined) config.oomScoreAdj = proc.oomScoreAdj;
  if (io.execFifo !== undefined) config.execFifo = io.execFifo;
  if (io.createContainerHooks === true) config.createContainerHooks = true;
  if (io.rootfsMount !== undefined) config.rootfsMount = io.rootfsMount;
  if (proc.terminal) config.terminal = { rows: proc.consoleSize?.height ?? 0, cols: proc.consoleSize?.width ?? 0 };
  if (spec.linux?.seccomp !== undefined)
    config.seccomp = nativeSeccomp(spec.linux.seccomp, config.noNewPrivileges, {
      ambient: config.capabilities!.ambient !== 0n,
    });
  return config;
}

function limit(value: number): bigint {
  return isInfinity(value) ? 2n ** 64n - 1n : BigInt(Math.trunc(value));
}

function absolutePaths(paths: string[] | undefined, field: string): string[] {
  return (paths ?? []).map((p, i) => {
    if (!p.startsWith('/')) throw invalidArgument(`${field}[${i}]: ${JSON.stringify(p)} is not absolute`);
    return p;
  });
}

/** One spec mount as the child performs it. */
export function nativeMount(m: Mount, i: number, bundleDir: string): NativeMount {
  const field = `mounts[${i}]`;
  if (!m.destination.startsWith('/'))
    throw invalidArgument(`${field}.destination: ${JSON.stringify(m.destination)} is not absolute`);
  if (m.destination.split('/').every((s) => s === '' || s === '.'))
    throw invalidArgument(`${field}.destination: cannot mount over /`);
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  let idmap: 'idmap' | 'ridmap' | undefined;
  for (const option of m.options ?? []) {
    if (option === 'idmap' || option === 'ridmap') {
      idmap = option;
      continue;
    }
    const flag = flagOptions[option];
    if (flag !== undefined) {
      flags = flag[1] ? flags | flag[0] : flags & ~flag[0];
      continue;
    }
    const prop = propagationOptions[option];
    if (prop !== undefined) {
      propagation.push(prop);
      continue;
    }
    data.push(option);
  }
  const bind = m.type === 'bind' || (flags & MS.BIND) !== 0;
  const out: NativeMount = {
    destination: m.destination,
    source: m.source ?? m.type ?? 'none',
    flags,
    propagation,
    kind: 'generic',
  };
  if (m.type !== undefined && !bind) out.type = m.type;
  if (data.length > 0) out.data = data.join(',');
  if (bind) {
    out.kind = 'bind';
    out.flags |= MS.BIND;
    const source = m.source === undefined ? '' : isAbsolute(m.source) ? m.source : resolve(bundleDir, m.source);
    try {
      out.targetIsFile = !statSync(source).isDirectory();
    } catch {
      throw notFound(`${field}.source: ${source || '(none)'}: no such file or directory`, {
        details: { field: `${field}.source` },
      });
    }
    out.source = source;
    const uid = m.uidMappings ?? [];
    const gid = m.gidMappings ?? [];
    if (idmap !== undefined || uid.length > 0 || gid.length > 0) {
      if ((uid.length === 0) !== (gid.length === 0))
        throw invalidArgument(
          `${field}.${uid.length === 0 ? 'uidMappings' : 'gidMappings'}: an idmapped mount needs both`,
        );
      out.idmap = { uidMappings: uid, gidMappings: gid, recursive: idmap === 'ridmap' };
    }
  } else if (idmap !== undefined || (m.uidMappings?.length ?? 0) > 0 || (m.gidMappings?.length ?? 0) > 0) {
    throw invalidArgument(`${field}: only a bind mount can be idmapped (type ${JSON.stringify(m.type ?? '')})`);
  } else if (m.type === 'tmpfs' && m.destination.replace(/\/+$/, '') === '/dev') {
    out.kind = 'dev';
  } else if (m.type === 'cgroup' || m.type === 'cgroup2') {
    out.kind = 'cgroup';
    delete out.type;
    delete out.data;
  }
  return out;
}

/** This host's cgroup hierarchies (UNAVAILABLE when none is mounted). */
function hierarchies(): CgroupHierarchy[] {
  const found = parseHierarchies(readFileSync('/proc/self/mountinfo', 'utf8'));
  if (found.length === 0) throw unavailable('mounts: a cgroup mount needs cgroups, and none is mounted on this host');
  return found;
}

/**
 * How the container's cgroup mount lays the host's hierarchies out: a v2-only host's one
 * hierarchy on the destination itself, else each by its host mount point's name ("memory",
 * "cpu,cpuacct" with links "cpu" and "cpuacct", "unified"), as runc and crun show them.
 */
export function cgroupHierarchies(found: CgroupHierarchy[]): NativeCgroupHierarchy[] {
  const only = found.length === 1 && found[0]!.v2;
  return found.map((h) => {
    const name = only ? '' : basename(h.mountPoint);
    const controllers = h.key.split(',').filter((k) => k !== '' && !k.startsWith('name='));
    const out: NativeCgroupHierarchy = {
      source: h.mountPoint,
      name,
      key: h.key,
      v2: h.v2,
      links: controllers.length > 1 ? controllers.filter((k) => k !== name) : [],
    };
    if (!h.v2) out.data = h.key.split(',').some((k) => !k.startsWith('name=')) ? h.key : `none,${h.key}`;
    return out;
  });
}

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** One linux.devices entry as the native child takes it; a char or block device needs major and minor. */
function nativeDevice(d: Device, i: number): NonNullable<NativeSpawnConfig['devices']>[number] {
  const field = `linux.devices[${i}]`;
  if (d.path.split('/').includes('..'))
    throw invalidArgument(`${field}.path: ${JSON.stringify(d.path)} must not contain .. segments`);
  if (d.type !== 'p' && (d.major === undefined || d.minor === undefined))
    throw invalidArgument(`${field}: a ${d.type === 'b' ? 'block' : 'char'} device ${d.path} needs major and minor`);
  const kind = d.type === 'p' ? S_IFIFO : d.type === 'b' ? S_IFBLK : S_IFCHR;
  return {
    path: d.path,
    mode: kind | (d.fileMode ?? 0o666),
    major: d.major ?? 0,
    minor: d.minor ?? 0,
    uid: d.uid ?? 0,
    gid: d.gid ?? 0,
  };
}
