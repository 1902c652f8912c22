// The table of functions a cgroup layout implements (crun's cgroup-internal.h idea):
// the manager does the generic work (directories, attach, destroy) and calls these for
// what differs between v1 and v2. One backend is chosen per process, from the host.
import type { Context } from '../../trace/context.js';
import type { Resources } from '../spec/types.js';
import type { CgroupMode, CgroupStats } from './types.js';

/** Where one cgroup lives: hierarchy key (v1 controller name, or "unified") → directory. */
export interface CgroupDirs {
  /** Normalized relative path, e.g. "berth/abc". */
  readonly path: string;
  readonly dirs: ReadonlyMap<string, string>;
}

export interface CgroupBackend {
  readonly mode: CgroupMode;
  /** Hierarchy key → mount point of every hierarchy a cgroup is made in. */
  roots(): ReadonlyMap<string, string>;
  /** Called before mkdir of a level under `parent` in hierarchy `key` (v2: enable controllers there). */
  beforeMkdir(key: string, parent: string): Promise<void>;
  /** Called after mkdir of a new level (v1 cpuset: copy cpus/mems from the parent). */
  afterMkdir(key: string, dir: string, parent: string): Promise<void>;
  apply(ctx: Context, cg: CgroupDirs, resources: Resources): Promise<void>;
  stats(ctx: Context, cg: CgroupDirs): Promise<CgroupStats>;
  /** The memory controller's oom_kill count (one file), 0 without one. */
  oomKills(ctx: Context, cg: CgroupDirs): Promise<number>;
  /** Undefined when the layout cannot freeze (v1 without the freezer controller). */
  freeze?(ctx: Context, cg: CgroupDirs): Promise<void>;
  thaw?(ctx: Context, cg: CgroupDirs): Promise<void>;
  /** Kills everything at once in the kernel (v2 cgroup.kill); false when not available. */
  killAll?(ctx: Context, cg: CgroupDirs): Promise<boolean>;
}
