// The cgroup manager's boundary: what the execdriver asks of cgroups, whatever the
// host's layout (v1, v2 or hybrid). Resources use the runtime spec's own types.
import type { Context } from '../../trace/context.js';
import type { Resources } from '../spec/types.js';

export type CgroupMode = 'v1' | 'v2' | 'hybrid';

export interface CgroupStats {
  /** Absent when the host has no memory controller for this cgroup. */
  memory?: {
    /** Bytes charged now. */
    usage: number;
    /** Highest usage seen (v1 max_usage_in_bytes, v2 memory.peak; usage when the kernel lacks it). */
    maxUsage: number;
    /** Bytes, or undefined when unlimited. */
    limit?: number;
    /** Times the limit was hit and the OOM killer ran (v2 memory.events oom; v1: same as oomKills). */
    oomEvents: number;
    /** Processes the OOM killer killed in this cgroup. */
    oomKills: number;
  };
  cpu?: {
    /** Total CPU time of the cgroup's processes, in nanoseconds (v2 has µs resolution). */
    usageNs: number;
  };
  pids?: {
    current: number;
    /** Undefined when unlimited. */
    limit?: number;
  };
}

/** One container's cgroup, created or opened by a CgroupManager. */
export interface Cgroup {
  /** The path given to create/open, relative to each hierarchy's root (`berth/<id>`). */
  readonly path: string;
  readonly mode: CgroupMode;
  /** Every directory this cgroup lives in (one per v1 hierarchy, plus the unified one). */
  readonly dirs: readonly string[];

  /**
   * Moves process `pid` (and its threads) into the cgroup, in every hierarchy. Idempotent.
   * Fails naming cgroup.procs (`… cgroup.procs: write 123: ESRCH`) when the process is
   * gone; earlier hierarchies may already hold it then, which destroy() cleans up.
   */
  attach(ctx: Context, pid: number, opts?: AttachOptions): Promise<void>;
  /**
   * Writes the given resource limits; fields left out are not touched. Fails naming the
   * cgroup and file (`cgroup berth/abc memory.limit_in_bytes: write 1x: EINVAL`), or
   * NOT_IMPLEMENTED for a limit this layout cannot enforce (device rules on pure v2).
   * A failure part-way leaves the earlier writes in place. A few small file writes.
   */
  apply(ctx: Context, resources: Resources): Promise<void>;
  /** Reads usage counters; a few small file reads. Controllers the host lacks are absent. */
  stats(ctx: Context): Promise<CgroupStats>;
  /**
   * How often the OOM killer killed a process of this cgroup (stats().memory.oomKills) from one file read
   * (v1 memory.oom_control, v2 memory.events): the exit handling asks this of every container. 0 without a memory
   * controller.
   */
  oomKills(ctx: Context): Promise<number>;
  /** Pids in the cgroup (cgroup.procs of the first hierarchy), sorted. */
  pids(ctx: Context): Promise<number[]>;
  /** Freezes every process and waits until the kernel reports the cgroup frozen (bounded). */
  freeze(ctx: Context): Promise<void>;
  /** Thaws a frozen cgroup; idempotent. */
  thaw(ctx: Context): Promise<void>;
  /**
   * Sends `signal` to every process in the cgroup. SIGKILL is sent with the cgroup frozen
   * (or through cgroup.kill on v2), so a forking process cannot escape it. ESRCH from a
   * process exiting meanwhile is ignored. Returns how many processes were signalled.
   */
  kill(ctx: Context, signal: NodeJS.Signals | number): Promise<number>;
  /**
   * Waits (bounded) until no process is left, then removes every directory this
   * cgroup made, deepest first, retrying EBUSY while exiting tasks drain. Idempotent:
   * a second call, or a call on a cgroup already gone, succeeds. Fails CONFLICT naming
   * the pids still inside when processes remain; it never kills them itself.
   */
  destroy(ctx: Context): Promise<void>;
}

export interface AttachOptions {
  /**
   * The process joined the hierarchies of CgroupManager.selfJoinFiles itself (it wrote "0" into
   * each): only the others are written (the unified one on a hybrid host; none on pure v1).
   */
  selfJoined?: boolean;
  /** The process started in CgroupManager.cloneIntoDir (clone3 CLONE_INTO_CGROUP): that directory is not written. */
  clonedInto?: boolean;
}

export interface CreateCgroupOptions {
  /**
   * An existing leaf is used as it is (an OCI cgroupsPath may name one made beforehand):
   * resources are applied to it, and destroy() removes it once it is empty (it is the
   * container's own path), leaving it when it holds child cgroups.
   */
  joinExisting?: boolean;
  /**
   * The levels above the leaf belong to the caller, which removes them itself (an engine's own parent, removed when it
   * stops or starts): destroy() leaves them, and a create with this option below a parent this manager made or set up
   * before makes only the leaf (no mkdir, controller or cpuset set-up of each level in each hierarchy again); a parent
   * removed meanwhile is found by the leaf's mkdir (ENOENT) and the whole path walked again.
   */
  keepParents?: boolean;
}

export interface CgroupManager {
  readonly mode: CgroupMode;
  /**
   * Creates the cgroup at `path` (relative, e.g. `berth/<id>`; a leading / is ignored)
   * in every hierarchy berth uses and applies `resources`. Fails ALREADY_EXISTS when the
   * leaf exists (unless opts.joinExisting), INVALID_ARGUMENT for a bad path; on any
   * failure removes what it made (never a joined leaf).
   */
  create(ctx: Context, path: string, resources?: Resources, opts?: CreateCgroupOptions): Promise<Cgroup>;
  /**
   * A handle on an existing cgroup at `path` (another process created it). destroy()
   * on it removes only the leaf directories. Fails NOT_FOUND when it does not exist.
   */
  open(ctx: Context, path: string): Promise<Cgroup>;
  /**
   * The cgroup v1 `tasks` files of the cgroup at `path` (one per v1 hierarchy; none on pure v2),
   * known before create() made it. A single-threaded process joins them by writing "0" into each
   * itself, which the kernel does without the global lock a pid written by another process takes;
   * attach(…, {selfJoined: true}) then does the rest. No kernel or disk work.
   */
  selfJoinFiles(path: string): string[];
  /**
   * The cgroup2 directory of the cgroup at `path` (the unified one on a hybrid host, the only one on
   * pure v2; undefined on pure v1), which a process can be cloned straight into once create() made it.
   */
  cloneIntoDir(path: string): string | undefined;
  /**
   * Restart cleanup: kills (SIGKILL) what is left in every cgroup under `prefix` and
   * removes them, deepest first, then `prefix` itself. Returns the paths removed.
   * Only for a daemon that owns everything under prefix; a missing prefix is fine.
   */
  cleanupStale(ctx: Context, prefix: string): Promise<string[]>;
  /**
   * Removes the directories of `path` in every hierarchy where they are empty (no child
   * cgroup, no process); leaves the others. For a shared parent (`berth-runtime/`) after
   * its last container went. With `ancestors`, each ancestor of `path` in turn too,
   * up to the first that is not removed (a parent berth owns, like `berth/<root>`).
   * Returns whether `path` itself was removed anywhere. Never fails for a missing or
   * busy directory.
   */
  removeIfEmpty(ctx: Context, path: string, opts?: { ancestors?: boolean }): Promise<boolean>;
}
