// Loads berth's native core (native/build/Release/berth_native.node, built by
// `npm install`) and gives its exports types. Everything that needs the kernel
// beyond what Node offers goes through here.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { unavailable } from '../engine/errdefs/errors.js';
import { packagePath } from './package-root.js';

/** One rtnetlink request of netlinkApply (netlink.cc), in the order given. */
export type NetlinkOp =
  | { op: 'bridge.create'; name: string; mtu?: number; ifExistsOk?: boolean }
  | {
      op: 'veth.create';
      name: string;
      peer: string;
      mtu?: number;
      peerMac?: string;
      peerNetns?: { pid?: number; path?: string };
      /** Run in a target namespace: create the named end in this process's namespace instead (peer stays). */
      inHost?: boolean;
      /** Bridge the named end is attached to at creation, looked up in this process's namespace. */
      master?: string;
      /** Bring the named end up at creation (the peer cannot be: its pair is not complete yet). */
      up?: boolean;
    }
  | { op: 'link.up' | 'link.down'; name: string }
  | { op: 'link.master'; name: string; master: string }
  | { op: 'link.mtu'; name: string; mtu: number }
  /** No IPv6 link-local address on the link (addr_gen_mode none): no DAD, router solicitation or MLD when it is up. */
  | { op: 'link.nolinklocal'; name: string }
  | { op: 'link.rename'; name: string; newName: string }
  | { op: 'link.delete'; name: string; ifMissingOk?: boolean }
  | { op: 'addr.add'; name: string; address: string; prefix: number; ifExistsOk?: boolean }
  /** mtu: a route metric capping packets on the default route below the link's MTU. */
  | { op: 'route.default'; gateway: string; name?: string; mtu?: number };

/** What netlinkApply reports for one op or phase. */
export interface NetlinkStepRecord {
  /** Index into the ops; negative for a phase (netns.open, clone, setns, socket, child). */
  index: number;
  name: string;
  errno: number;
  /** errno name (EEXIST) when errno is not 0. */
  error?: string;
  /** The kernel's extended-ack message for a failure, when it gave one. */
  message?: string;
  /** ns offsets from baseNs. */
  startNs: number;
  endNs: number;
}

export interface NetlinkApplyResult {
  baseNs: bigint;
  steps: NetlinkStepRecord[];
  /** The files' writes, when files were given: ns offsets from baseNs, and the first failure. */
  files?: { startNs: number; endNs: number; errno: number; error?: string; syscall?: string; path?: string };
}

/** A small derived file netlinkApply rewrites in its own inode (not atomic; made with its directories if missing). */
export interface NetlinkInPlaceFile {
  /** Absolute path. */
  path: string;
  data: string;
  /** Permission bits, applied exactly (default 0o644). */
  mode?: number;
}

/** An opaque zstd decoder (native External). */
export type ZstdDecoderHandle = object & { readonly __brand: 'ZstdDecoder' };

export interface NativeCore {
  /** The addon's own version. */
  readonly version: string;
  /** CLOCK_MONOTONIC in nanoseconds (the clock of span timestamps). */
  monotonicNs(): bigint;
  /** malloc_trim(0): every malloc arena's free pages back to the kernel; true when some were (malloc-tune.cc). */
  mallocTrim(): boolean;
  /**
   * V8's memory reduction for this isolate (malloc-tune.cc): LowMemoryNotification, full collections with compaction
   * until nothing more is freed, its empty pages given back. Runs on the calling thread (tens of ms in berthd).
   */
  v8LowMemory(): void;
  /**
   * Marks every fd from 3 up close-on-exec: what the process inherited without the flag stays usable here but goes to
   * no program it runs (inherited-fds.cc). Throws a system error naming /proc/self/fd when an fd cannot be marked.
   */
  cloexecInherited(): void;
  /**
   * Times namespace creation in fork-like children cloned from native threads, never touching Node's own namespaces
   * (nsbench.cc). Every child is reaped before it resolves; rejects with code = errno name and step (clone, unshare,
   * child),
   * throws a TypeError for bad options. Cost: one fork of this process per op, one threadpool thread meanwhile.
   */
  nsBench(options: NsBenchOptions): Promise<NsBenchResult>;
  /**
   * rtnetlink requests run in order, in the host's netns or, with target, inside that netns from a cloned C-only child;
   * files are rewritten in place meanwhile (while the child works); resolves with per-step times and errnos. Runs on
   * threads of its own, not libuv's threadpool (netlink.cc).
   */
  netlinkApply(
    ops: readonly NetlinkOp[],
    target?: { pid?: number; path?: string },
    files?: readonly NetlinkInPlaceFile[],
  ): Promise<NetlinkApplyResult>;
  /**
   * Clones a container child (container-spawn.cc) on a thread of its own, sharing this process's memory until its
   * execve: the event loop never waits for the clone. Throws at once on a bad config (TypeError naming the field);
   * calls back once the child runs and waits at sync point 1, or with the failed clone (code = errno name; no child, no
   * fd left). spawnContainer() is the same as a promise.
   */
  containerSpawn(config: NativeSpawnConfig, callback: (err: Error | null, spawned: NativeSpawned | null) => void): void;
  /**
   * Whether an idmapped mount of the tree at path can be made here: null if so, else the errno name the kernel
   * answered (EINVAL: the filesystem does not support it; ENOSYS: no mount_setattr). One clone of a holder process in
   * a new user namespace and one of a helper; changes nothing.
   */
  idmapProbe(path: string): string | null;
  /**
   * Mounts an overlayfs on `target` over idmapped copies of the `lowers` (top first) and of `layer` (which holds the
   * `upper` and `work` dirs: overlayfs wants them on one mount), mapped through a new user namespace with `uidMap` and
   * `gidMap` ("0 100000 65536\n", root first), replacing (MNT_DETACH) whatever was mounted there. `options` are
   * `key=value` or flags (`index=off`). The mount is made by a helper cloned in C running as the maps' root (fsuid), so
   * what the maps' root writes is stored with the unmapped ids. Throws a Node-style error whose syscall names the step
   * (open_tree, mount_setattr, fsconfig lowerdir+, fsconfig create, move_mount…) and whose path carries the
   * filesystem's own message when it gave one.
   */
  overlayIdmapped(
    target: string,
    lowers: string[],
    layer: string,
    upper: string,
    work: string,
    options: string[],
    uidMap: string,
    gidMap: string,
  ): void;
  /**
   * An overlayfs over `lowers` (topmost first), `upper` and `work` (paths relative to `home`; a lower may be a
   * symlink to its dir) made with fsopen/fsconfig/fsmount and left detached: in no mount namespace until someone
   * attaches it (move_mount; `rootfsMount` of a container config). Returns its fd (close-on-exec); this process reaches
   * the tree through `/proc/self/fd/<fd>`, and closing the fd of a tree attached nowhere unmounts it. `options` are
   * `key=value` or flags. Throws a Node-style error naming the step (fsopen, fsconfig lowerdir+, fsconfig create,
   * fsmount…), with the filesystem's own message in its path when it gave one.
   */
  overlayDetached(home: string, lowers: string[], upper: string, work: string, options: string[]): number;
  /**
   * One message to the child: 'setup' (run the setup), 'resume' (after a 'hooks' message: go on to pivot_root) or
   * 'start' (execve). Throws EPIPE when the child is gone.
   */
  containerSend(syncFd: number, message: 'setup' | 'resume' | 'start'): void;
  /** The child's next message, or null at EOF (it exec'd or died); async (uv_poll), one call at a time per fd. */
  containerRecv(syncFd: number, callback: (err: Error | null, message: NativeChildMessage | null) => void): void;
  /** pipe2(O_CLOEXEC) → [read, write]. */
  containerPipe(): [number, number];
  /**
   * Connects to the unix stream socket at socketPath and sends fd over it (SCM_RIGHTS) with `name` as the payload:
   * runc's
   * --console-socket protocol. Blocking (connect + one sendmsg); throws with code = errno name (ECONNREFUSED, ENOENT …)
   * and
   * a message naming the socket. fd stays open here.
   */
  sendFd(socketPath: string, fd: number, name: string): void;
  /** The name of a pty master's peer in its devpts ("/dev/pts/3"); throws ENOTTY for an fd that is no pty master. */
  ptyName(masterFd: number): string;
  /** TIOCSWINSZ on a pty master: the window size its foreground process group sees (SIGWINCH). */
  ptyResize(masterFd: number, rows: number, cols: number): void;
  /**
   * Reaps exactly this child when it exits (uv_poll + waitid P_PIDFD); for a foreign process both fields are null. With
   * unref the wait does not keep Node alive.
   */
  pidfdWait(
    pidfd: number,
    callback: (err: Error | null, status: { exitCode: number | null; signal: number | null }) => void,
    unref?: boolean,
  ): void;
  /** pidfd_send_signal(2); throws ESRCH when the process is gone. */
  pidfdSendSignal(pidfd: number, signal: number): void;
  /** pidfd_open(2), close-on-exec. */
  pidfdOpen(pid: number): number;
  /** mount(2); throws a Node-style system error (code 'EINVAL', …). Host-side mounts only (mount.cc). */
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  /** umount2(2) (flags: 2 = MNT_DETACH). */
  umount2(target: string, flags: number): void;
  /**
   * mount(2) run in a short-lived CLONE_VM child whose cwd is `dir` (relative overlay paths); Node's cwd is untouched.
   */
  mountAt(
    dir: string,
    source: string | null,
    target: string,
    fstype: string | null,
    flags: number,
    data: string | null,
  ): void;
  /**
   * Writes each file atomically (temp file in its directory, write, fsync when sync, rename over path, fsync of the
   * directory when syncDir), the whole batch in one threadpool job (files.cc). mode defaults to 0o600 and is applied
   * exactly (no umask). Rejects on the first failure with a Node-style system error (code, syscall, path), that file's
   * temp removed (a failed directory fsync leaves the new file in place); earlier files stay written. Throws a
   * TypeError
   * naming the entry for bad input.
   */
  writeFilesAtomic(
    files: readonly {
      path: string;
      data: string | Buffer;
      mode?: number;
      sync?: boolean;
      syncDir?: boolean;
    }[],
  ): Promise<void>;
  /** undefined when the system's libzstd (libzstd.so.1, loaded on first use) is usable, else why not (zstd.cc). */
  zstdLoad(): string | undefined;
  /** A zstd streaming decoder; throws when libzstd is not usable. Freed by zstdFree or when collected. */
  zstdDecoder(): ZstdDecoderHandle;
  /**
   * Decompresses input on the threadpool: output in ≤1 MiB buffers, the input bytes consumed (less than its length when
   * 8 MiB of output were reached: pass the rest again, or an empty buffer to drain), and zstd's hint (0 when a frame
   * ended with everything flushed; meaningless when the call read and wrote nothing). Rejects with code EZSTD and
   * zstd's error name on corrupt data. One call at a time.
   */
  zstdDecode(decoder: ZstdDecoderHandle, input: Buffer): Promise<{ chunks: Buffer[]; consumed: number; hint: number }>;
  /** Frees the decoder (after its running call, if any); later calls on it fail. */
  zstdFree(decoder: ZstdDecoderHandle): void;
  /** mknod(2); mode includes the S_IF* type bits. */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** lsetxattr(2) / lgetxattr(2) (undefined when absent) / llistxattr(2) / lremovexattr(2) (absent is not an error). */
  lsetxattr(path: string, name: string, value: Buffer): void;
  lgetxattr(path: string, name: string): Buffer | undefined;
  llistxattr(path: string): string[];
  lremovexattr(path: string, name: string): void;
  /**
   * openat2(2) of `rel` below `dirFd` with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS (an O_NOFOLLOW
   * walk where the kernel lacks openat2), O_CLOEXEC added: a symlink anywhere fails ELOOP (O_PATH|O_NOFOLLOW gives a
   * handle on a last-component symlink), a way out fails EXDEV; '' opens dirFd's directory again (beneath.cc).
   */
  openBeneath(dirFd: number, rel: string, flags: number, mode?: number): number;
  /**
   * openBeneath's fallback alone (the O_NOFOLLOW walk, '..' refused with EXDEV), so it can be tested where openat2
   * exists.
   */
  openBeneathWalk(dirFd: number, rel: string, flags: number, mode?: number): number;
  /** setxattr(2): follows the last component (for "/proc/self/fd/N" paths of O_PATH handles). */
  setxattr(path: string, name: string, value: Buffer): void;
  /** The O_PATH open flag (node:fs has no constant for it). */
  readonly O_PATH: number;
  /**
   * Creates files and symlinks in order on the threadpool, each relative to its directory handle and one name (a
   * non-directory there replaced, a directory there stops the batch: blocked, done = that op's index). Resolves with
   * how many ops are done, the xattrs the file system refused, and the first failure, where the batch stopped
   * (apply-batch.cc). Throws a TypeError naming the op for bad input.
   */
  applyEntries(ops: readonly ApplyEntryOp[]): Promise<ApplyEntriesResult>;
}

/** One entry for applyEntries: a regular file with its content chunks, or a symlink with its target. */
export type ApplyEntryOp = {
  dirFd: number;
  name: string;
  uid: number;
  gid: number;
  /** Permission bits (ignored for a symlink). */
  mode: number;
  mtimeMs: number;
  xattrs?: [string, Buffer][];
} & ({ kind: 'file'; data: Buffer[] } | { kind: 'symlink'; target: string });

export interface ApplyEntriesResult {
  done: number;
  blocked: boolean;
  warnings: { index: number; attr: string; code: string }[];
  error?: { index: number; code: string; errno: number; syscall: string; path: string; message: string };
}

/** One mount as the container child performs it (engine/execdriver/native-config.ts builds these). */
export interface NativeMount {
  destination: string;
  source: string;
  type?: string;
  /** fs-specific options (`mode=755,size=65536k`). */
  data?: string;
  /** MS_* flags; for kind 'bind' the non-bind flags (ro, nosuid, …) are applied by a remount. */
  flags: number;
  /** MS_PRIVATE / MS_SLAVE / MS_SHARED / MS_UNBINDABLE (| MS_REC), applied after the mount. */
  propagation: number[];
  /**
   * 'dev': a tmpfs filled with the standard device nodes and /dev symlinks; 'cgroup': the
   * container's own cgroups in each of cgroupHierarchies, with this mount's flags.
   */
  kind: 'generic' | 'bind' | 'dev' | 'cgroup';
  /** A bind of a file: the target is created as an empty file. */
  targetIsFile?: boolean;
  /**
   * An idmapped bind (open_tree + mount_setattr MOUNT_ATTR_IDMAP in a helper of the parent, move_mount in the child):
   * through a user namespace with these mappings, or the container's own when both are empty. recursive: the
   * submounts an rbind brings are idmapped too (OCI `ridmap`).
   */
  idmap?: {
    uidMappings: { containerID: number; hostID: number; size: number }[];
    gidMappings: { containerID: number; hostID: number; size: number }[];
    recursive: boolean;
  };
}

/** A host cgroup hierarchy as a 'cgroup' mount shows it (native-config.ts: cgroupHierarchies). */
export interface NativeCgroupHierarchy {
  /** The host's mount point of the hierarchy. */
  source: string;
  /** Its name below the mount's destination; "" for a host's only (v2) hierarchy: the destination itself. */
  name: string;
  /** Its controllers as /proc/self/cgroup lists them; "" for cgroup2. */
  key: string;
  /** cgroup v1 mount data for a fresh mount in a cgroup namespace ("none,name=systemd"). */
  data?: string;
  v2: boolean;
  /** Other names of a co-mounted hierarchy ("cpu" and "cpuacct" for "cpu,cpuacct"). */
  links: string[];
}

/** What containerSpawn takes: a validated spec, flattened (native-config.ts). */
export interface NativeSpawnConfig {
  namespaces: { type: string; path?: string }[];
  uidMappings: { containerID: number; hostID: number; size: number }[];
  gidMappings: { containerID: number; hostID: number; size: number }[];
  /** Absolute host path of the rootfs. */
  rootfs: string;
  /** MS_* flags for `/` before the rootfs bind (default MS_SLAVE | MS_REC). */
  rootPropagation: number;
  readonlyRoot: boolean;
  /**
   * Attach an idmapped copy of the rootfs (mapped through the container's new user namespace) instead of a bind, so
   * the host's root-owned files are the container root's. A helper of the parent makes it; an EINVAL or EPERM error
   * ("idmapped mount of <rootfs>") means the kernel or the filesystem refuses (idmapProbe tells beforehand).
   */
  idmapRootfs?: boolean;
  /**
   * A detached mount (an fd of fsmount or open_tree) the child attaches over `rootfs` in its own mount namespace
   * (move_mount, step rootfs-bind "detached <rootfs>"), instead of a bind of that path. The child gets a copy; the fd
   * stays the caller's. Refused with a host mount namespace or idmapRootfs.
   */
  rootfsMount?: number;
  mounts: NativeMount[];
  /** The host's cgroup hierarchies, when a mount is of kind 'cgroup'. */
  cgroupHierarchies?: NativeCgroupHierarchy[];
  /**
   * cgroup v1 `tasks` files (absolute) the child writes "0" into after 'setup', before anything else: it joins
   * those cgroups itself (the cgroups must exist by then). Fails the step cgroup-join naming the file.
   */
  cgroupTasks?: string[];
  /**
   * A cgroup2 directory (existing) the child starts in, through clone3 with CLONE_INTO_CGROUP; on a kernel without it
   * the child is cloned as usual and NativeSpawned.intoCgroup is false.
   */
  cloneIntoCgroup?: string;
  /** The child brings lo up after 'setup' (step loopback): for a network namespace the clone creates. */
  loopbackUp?: boolean;
  /** linux.devices: nodes made after the mounts (mode = S_IF* | permission bits). */
  devices?: { path: string; mode: number; major: number; minor: number; uid: number; gid: number }[];
  maskedPaths: string[];
  readonlyPaths: string[];
  /** Written after pivot_root: path under /proc/sys and value. */
  sysctl: { path: string; value: string }[];
  hostname?: string;
  domainname?: string;
  rlimits: { resource: number; soft: bigint; hard: bigint }[];
  noNewPrivileges: boolean;
  /** Bit masks; absent = leave the capability sets alone. */
  capabilities?: { bounding: bigint; effective: bigint; permitted: bigint; inheritable: bigint; ambient: bigint };
  uid: number;
  gid: number;
  additionalGids: number[];
  umask?: number;
  cwd: string;
  args: string[];
  env: string[];
  /** Parent fds that become the container's 0, 1, 2; -1 = /dev/null. */
  stdio: [number, number, number];
  oomScoreAdj?: number;
  /** Detached mode: the child opens this FIFO for writing at its start point instead of waiting on the socket. */
  execFifo?: string;
  /**
   * A seccomp filter (engine/execdriver/seccomp/native-filter.ts): sock_filter bytes, SECCOMP_FILTER_FLAG_* (0: prctl),
   * and where the child loads it (0 before user/caps, 1 end of setup, 2 before execve).
   */
  seccomp?: { filter: Buffer; flags: number; stage: 0 | 1 | 2 };
  /** Exec into a running container: every namespace joined by path, no mounts, no rootfs steps (rootfs is ignored). */
  exec?: boolean;
  /** Stop after the mounts, before pivot_root, with a 'hooks' message until 'resume' (createContainer hooks). */
  createContainerHooks?: boolean;
  /**
   * process.terminal: the child opens a pty in the container's /dev/pts (needs a devpts mount there), makes its peer
   * the
   * controlling terminal on fds 0–2 (stdio is then ignored) and sends the master in a 'terminal' message. rows/cols:
   * consoleSize (0 = leave).
   */
  terminal?: { rows: number; cols: number };
}

/**
 * A message from a container child: setup finished ('created'), a step failed ('error'), the mounts are done and it
 * waits
 * for 'resume' ('hooks'), or its pty master ('terminal', terminalFd; steps there are repeated in 'created').
 */
export interface NativeChildMessage {
  type: 'created' | 'error' | 'hooks' | 'terminal' | 'unknown';
  /** 'terminal' only: the pty master, close-on-exec, now owned by the receiver. */
  terminalFd?: number;
  /** CLOCK_MONOTONIC ns; index is the mount's position for step 'mount', else -1. */
  steps: { name: string; index: number; startNs: bigint; endNs: bigint }[];
  /** 'error' only: the failed step, errno (its name in code), the subject ("proc on /proc"). */
  step?: string;
  errno?: number;
  code?: string;
  strerror?: string;
  detail?: string;
}

export interface NativeSpawned {
  pid: number;
  /** Close-on-exec pidfd (CLONE_PIDFD): signal and reap through it. */
  pidfd: number;
  /** The parent's end of the sync socket. */
  syncFd: number;
  /** Before the clone syscall (on the spawn thread). */
  cloneStartNs: bigint;
  /** The child's first instant. */
  cloneEndNs: bigint;
  /** The child started in config.cloneIntoCgroup (clone3); false when the kernel lacks it or none was asked. */
  intoCgroup: boolean;
}

/**
 * nsBench's input: namespace kinds for clone(2) and for unshare(2) inside the child; `threads` × `perThread` ops
 * (default 1 × 1).
 */
export interface NsBenchOptions {
  clone?: readonly NsKind[];
  unshare?: readonly NsKind[];
  threads?: number;
  perThread?: number;
}

export type NsKind = 'mnt' | 'uts' | 'ipc' | 'pid' | 'net' | 'user' | 'cgroup';

/**
 * One clone → child → reap; times in ns from the op's start (the instant before clone), except startNs (from baseNs).
 */
export interface NsBenchOp {
  thread: number;
  startNs: number;
  /** clone(2) in the parent. */
  cloneNs: number;
  childStartNs: number;
  /** unshare(2) inside the child (nothing without unshare kinds). */
  unshareNs: number;
  childExitNs: number;
  reapedNs: number;
}

export interface NsBenchResult {
  /** CLOCK_MONOTONIC when the threads were released. */
  baseNs: bigint;
  /** From the release to the end of the last op. */
  wallNs: number;
  ops: NsBenchOp[];
}

export const addonPath = packagePath('native', 'build', 'Release', 'berth_native.node');

let loaded: NativeCore | undefined;

/** The native core; throws UNAVAILABLE with the fix when it was not built. */
export function native(): NativeCore {
  if (loaded !== undefined) return loaded;
  if (!existsSync(addonPath)) {
    throw unavailable(`native core ${addonPath}: not built (run \`npm install\` or \`npm run build:native\`)`);
  }
  loaded = createRequire(import.meta.url)(addonPath) as NativeCore;
  return loaded;
}

/** native().containerSpawn as a promise: a bad config throws synchronously, a failed clone rejects. */
export function spawnContainer(config: NativeSpawnConfig): Promise<NativeSpawned> {
  let resolve!: (s: NativeSpawned) => void;
  let reject!: (err: Error) => void;
  const p = new Promise<NativeSpawned>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  native().containerSpawn(config, (err, spawned) =>
    spawned !== null && err === null ? resolve(spawned) : reject(err ?? new Error('containerSpawn: no result')),
  );
  return p;
}
