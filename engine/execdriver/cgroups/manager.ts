// createCgroupManager: picks the backend for this host's layout once (v1, hybrid or v2)
// and does the work common to all of them: making and removing directories, moving
// processes in, signalling them. Layout on disk: for a path `berth/<id>`, one directory
// `<hierarchy mount>/berth/<id>` per hierarchy the backend lists in roots().
// The directory calls are synchronous for the reason cgroup-fs.ts gives for the control
// files: cgroupfs is in-kernel, and each async call waits on libuv's thread pool.
import { mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { alreadyExists, conflict, invalidArgument, notFound, wrap } from '../../errdefs/errors.js';
import type { Context } from '../../trace/context.js';
import type { Resources } from '../spec/types.js';
import type { CgroupBackend, CgroupDirs } from './backend.js';
import { parsePids, readControl, readControlIfExists, writeControl } from './cgroup-fs.js';
import { detectLayout, type CgroupLayout } from './detect.js';
import type { AttachOptions, Cgroup, CgroupManager, CgroupMode, CgroupStats, CreateCgroupOptions } from './types.js';
import { createV1Backend, UNIFIED_KEY } from './v1.js';
import { createV2Backend } from './v2.js';

export interface CgroupManagerOptions {
  /** The layout to use instead of this host's (tests point it at one hierarchy). */
  layout?: CgroupLayout;
  /** How long destroy() waits for processes to leave, in ms (default 5000). */
  drainTimeoutMs?: number;
}

/** The backend table: one constructor per layout. */
const backends: Record<CgroupMode, (layout: CgroupLayout) => CgroupBackend> = {
  v1: createV1Backend,
  hybrid: createV1Backend,
  v2: createV2Backend,
};

/** Detects the host layout (one procfs read) unless given one; the backend is fixed from then on. */
export function createCgroupManager(options: CgroupManagerOptions = {}): CgroupManager {
  const layout = options.layout ?? detectLayout();
  return new Manager(backends[layout.mode](layout), options.drainTimeoutMs ?? 5000);
}

/** "/berth//abc/" → "berth/abc"; rejects empty paths and . or .. segments. */
export function normalizeCgroupPath(path: string): string {
  const segments = path.split('/').filter((s) => s !== '');
  if (segments.length === 0) throw invalidArgument(`cgroup ${JSON.stringify(path)}: empty path`);
  if (segments.some((s) => s === '.' || s === '..'))
    throw invalidArgument(`cgroup ${JSON.stringify(path)}: . and .. are not allowed`);
  return segments.join('/');
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function hasSubdirs(path: string): boolean {
  try {
    return readdirSync(path, { withFileTypes: true }).some((e) => e.isDirectory());
  } catch {
    return false;
  }
}

/** How often create() walks a hierarchy again when another engine removed a shared ancestor meanwhile. */
const MKDIR_ATTEMPTS = 5;

/** A level above the one being made vanished (removed by another engine once empty). */
class AncestorVanished extends Error {
  constructor(readonly error: Error) {
    super(error.message);
  }
}

class Manager implements CgroupManager {
  readonly mode: CgroupMode;
  /** Parent levels (full paths) made or set up by a keepParents create: a later such create makes only its leaf. */
  private readonly readyParents = new Set<string>();

  constructor(
    private readonly backend: CgroupBackend,
    private readonly drainTimeoutMs: number,
  ) {
    this.mode = backend.mode;
  }

  private dirsFor(path: string): Map<string, string> {
    const dirs = new Map<string, string>();
    for (const [key, root] of this.backend.roots()) dirs.set(key, join(root, path));
    return dirs;
  }

  selfJoinFiles(path: string): string[] {
    if (this.backend.mode === 'v2') return [];
    const files = new Set<string>();
    for (const [key, d] of this.dirsFor(normalizeCgroupPath(path)))
      if (key !== UNIFIED_KEY) files.add(join(d, 'tasks'));
    return [...files];
  }

  cloneIntoDir(path: string): string | undefined {
    if (this.backend.mode === 'v1') return undefined;
    return this.dirsFor(normalizeCgroupPath(path)).get(UNIFIED_KEY);
  }

  /** Each hierarchy mount once, with every key (controller) mounted there: cpu and cpuacct often share one. */
  private hierarchies(): Map<string, string[]> {
    const byRoot = new Map<string, string[]>();
    for (const [key, root] of this.backend.roots()) byRoot.set(root, [...(byRoot.get(root) ?? []), key]);
    return byRoot;
  }

  async create(ctx: Context, path: string, resources?: Resources, opts: CreateCgroupOptions = {}): Promise<Cgroup> {
    const rel = normalizeCgroupPath(path);
    const dirs = this.dirsFor(rel);
    const leaves: string[] = [];
    const parents: string[] = [];
    const joined: string[] = []; // existing leaves: kept on a failed create, removed by destroy only once empty
    try {
      for (const [root, keys] of this.hierarchies()) {
        // Another engine on the host removes a shared ancestor (berth/) once it is empty: when a
        // level vanishes between its EEXIST and the mkdir below it (ENOENT), walk again from the root.
        for (let attempt = 1; ; attempt++) {
          try {
            await this.walk(rel, root, keys, opts, { leaves, parents, joined });
            break;
          } catch (err) {
            if (!(err instanceof AncestorVanished)) throw err;
            if (attempt >= MKDIR_ATTEMPTS) throw err.error;
          }
        }
      }
      const cg = new CgroupHandle(
        this.backend,
        rel,
        dirs,
        [...leaves, ...joined],
        opts.keepParents === true ? [] : parents,
        this.drainTimeoutMs,
      );
      if (resources) await cg.apply(ctx, resources);
      return cg;
    } catch (err) {
      for (const d of [...leaves].reverse().concat([...parents].reverse())) {
        try {
          rmdirSync(d);
        } catch {
          // best effort: the create failed already
        }
      }
      throw err;
    }
  }

  /** mkdir of each level of `rel` under one hierarchy's root; AncestorVanished when a parent level is gone. */
  private async walk(
    rel: string,
    root: string,
    keys: string[],
    opts: CreateCgroupOptions,
    made: { leaves: string[]; parents: string[]; joined: string[] },
  ): Promise<void> {
    let parent = root;
    const segments = rel.split('/');
    let from = 0;
    const above = join(root, posix.dirname(rel));
    if (opts.keepParents === true && segments.length > 1 && this.readyParents.has(above)) {
      parent = above;
      from = segments.length - 1;
    }
    for (let i = from; i < segments.length; i++) {
      const d = join(parent, segments[i]!);
      const last = i === segments.length - 1;
      try {
        for (const key of keys) await this.backend.beforeMkdir(key, parent);
        mkdirSync(d); // cgroupfs: in-kernel, cheaper synchronous (see cgroup-fs.ts)
        (last ? made.leaves : made.parents).push(d);
        for (const key of keys) await this.backend.afterMkdir(key, d, parent);
        if (!last && opts.keepParents === true) this.readyParents.add(d);
      } catch (err) {
        const code = errno(err);
        if (code === 'ENOENT' && i > 0) {
          // removed meanwhile: the walk again starts from the root
          this.readyParents.delete(parent);
          throw new AncestorVanished(wrap(err, `cgroup ${rel}: mkdir ${d}`));
        }
        if (code !== 'EEXIST') throw wrap(err, `cgroup ${rel}: mkdir ${d}`);
        if (last && opts.joinExisting !== true) throw alreadyExists(`cgroup ${rel}: already exists (${d})`);
        if (last && !made.joined.includes(d)) made.joined.push(d);
        // Made by a concurrent create that may not have set it up yet (a v1 cpuset's cpus and mems):
        // a child made, or a process joined, before that would be refused (ENOSPC). Idempotent.
        try {
          for (const key of keys) await this.backend.afterMkdir(key, d, parent);
        } catch (e) {
          throw wrap(e, `cgroup ${rel}: set up ${d}`);
        }
        if (!last && opts.keepParents === true) this.readyParents.add(d);
      }
      parent = d;
    }
  }

  async removeIfEmpty(_ctx: Context, path: string, opts: { ancestors?: boolean } = {}): Promise<boolean> {
    const rel = normalizeCgroupPath(path);
    const first = await this.removeOneIfEmpty(rel);
    if (opts.ancestors && !first.busy) {
      // an ancestor goes once nothing below it is left (a missing level counts as gone)
      for (let p = posix.dirname(rel); p !== '.' && p !== '/' && p !== ''; p = posix.dirname(p)) {
        if ((await this.removeOneIfEmpty(p)).busy) break;
      }
    }
    return first.removed;
  }

  /** rmdir of `rel` in every hierarchy: whether it went anywhere, and whether it is still used somewhere. */
  private async removeOneIfEmpty(rel: string): Promise<{ removed: boolean; busy: boolean }> {
    let removed = false;
    let busy = false;
    for (const d of new Set(this.dirsFor(rel).values())) {
      try {
        rmdirSync(d);
        removed = true;
      } catch (err) {
        const code = errno(err) ?? '';
        if (code === 'EBUSY' || code === 'ENOTEMPTY') busy = true;
        else if (code !== 'ENOENT') throw wrap(err, `cgroup ${rel}: rmdir ${d}`);
      }
    }
    return { removed, busy };
  }

  async open(_ctx: Context, path: string): Promise<Cgroup> {
    const rel = normalizeCgroupPath(path);
    const dirs = this.dirsFor(rel);
    const existing: string[] = [];
    for (const d of dirs.values()) if (isDir(d)) existing.push(d);
    if (existing.length === 0) throw notFound(`cgroup ${rel}: does not exist`);
    return new CgroupHandle(this.backend, rel, dirs, existing, [], this.drainTimeoutMs);
  }

  async cleanupStale(ctx: Context, prefix: string): Promise<string[]> {
    const rel = normalizeCgroupPath(prefix);
    const found = new Set<string>();
    const walk = async (root: string, sub: string): Promise<void> => {
      let entries;
      try {
        entries = readdirSync(join(root, sub), { withFileTypes: true });
      } catch (err) {
        if (errno(err) === 'ENOENT') return;
        throw wrap(err, `cgroup ${sub}: cleanup: readdir`);
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const child = `${sub}/${e.name}`;
        found.add(child);
        await walk(root, child);
      }
    };
    for (const root of this.hierarchies().keys()) await walk(root, rel);
    const depth = (p: string) => p.split('/').length;
    const order = [...found].sort((a, b) => depth(b) - depth(a) || a.localeCompare(b));
    const removed: string[] = [];
    for (const p of [...order, rel]) {
      let cg: Cgroup;
      try {
        cg = await this.open(ctx, p);
      } catch {
        continue;
      }
      await cg.kill(ctx, 'SIGKILL');
      await cg.destroy(ctx);
      removed.push(p);
    }
    return removed;
  }
}

class CgroupHandle implements Cgroup {
  readonly dirs: readonly string[];
  readonly mode: CgroupMode;
  private readonly cg: CgroupDirs;

  constructor(
    private readonly backend: CgroupBackend,
    readonly path: string,
    dirMap: Map<string, string>,
    /** Leaf directories this handle removes on destroy. */
    private readonly leaves: string[],
    /** Ancestors create() made; removed on destroy only if nothing else uses them. */
    private readonly parents: string[],
    private readonly drainTimeoutMs: number,
  ) {
    this.cg = { path, dirs: dirMap };
    this.dirs = [...new Set(dirMap.values())];
    this.mode = backend.mode;
  }

  async attach(_ctx: Context, pid: number, opts: AttachOptions = {}): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw invalidArgument(`cgroup ${this.path}: attach: invalid pid ${pid}`);
    const skip = (key: string) =>
      key === UNIFIED_KEY ? opts.clonedInto === true : opts.selfJoined === true && this.mode !== 'v2';
    const dirs = new Set([...this.cg.dirs].filter(([key]) => !skip(key)).map(([, d]) => d));
    for (const d of dirs) await writeControl(this.path, d, 'cgroup.procs', pid);
  }

  async apply(ctx: Context, resources: Resources): Promise<void> {
    await this.backend.apply(ctx, this.cg, resources);
  }

  async stats(ctx: Context): Promise<CgroupStats> {
    return this.backend.stats(ctx, this.cg);
  }

  async oomKills(ctx: Context): Promise<number> {
    return this.backend.oomKills(ctx, this.cg);
  }

  async pids(_ctx: Context): Promise<number[]> {
    return parsePids(await readControl(this.path, this.dirs[0], 'cgroup.procs'));
  }

  /** Pids in any of this cgroup's directories that still exist. */
  private async allPids(): Promise<number[]> {
    const all = new Set<number>();
    for (const d of this.dirs) {
      const text = await readControlIfExists(this.path, d, 'cgroup.procs');
      for (const pid of parsePids(text ?? '')) all.add(pid);
    }
    return [...all].sort((a, b) => a - b);
  }

  async freeze(ctx: Context): Promise<void> {
    if (!this.backend.freeze)
      throw wrap(new Error('this host has no freezer controller'), `cgroup ${this.path}: freeze`, 'NOT_IMPLEMENTED');
    await this.backend.freeze(ctx, this.cg);
  }

  async thaw(ctx: Context): Promise<void> {
    if (!this.backend.thaw)
      throw wrap(new Error('this host has no freezer controller'), `cgroup ${this.path}: thaw`, 'NOT_IMPLEMENTED');
    await this.backend.thaw(ctx, this.cg);
  }

  async kill(ctx: Context, signal: NodeJS.Signals | number): Promise<number> {
    const isKill = signal === 'SIGKILL' || signal === 9;
    if (isKill && this.backend.killAll) {
      const n = (await this.allPids()).length;
      if (await this.backend.killAll(ctx, this.cg)) return n;
    }
    const frozen = isKill && this.backend.freeze !== undefined && this.backend.thaw !== undefined;
    if (frozen) await this.backend.freeze!(ctx, this.cg);
    try {
      let sent = 0;
      for (const pid of await this.allPids()) {
        try {
          process.kill(pid, signal);
          sent++;
        } catch (err) {
          if (errno(err) === 'ESRCH') continue;
          throw wrap(err, `cgroup ${this.path}: kill ${pid} with ${signal}`, 'INVALID_ARGUMENT');
        }
      }
      return sent;
    } finally {
      if (frozen) await this.backend.thaw!(ctx, this.cg);
    }
  }

  async destroy(ctx: Context): Promise<void> {
    if (!(await this.anyExists())) return;
    // The common case, a cgroup its processes have left: each leaf goes at the first rmdir (the kernel refuses one
    // that holds a task, EBUSY), without the thaw and the reads of every hierarchy's cgroup.procs first.
    if (this.removeLeavesAtOnce()) {
      this.removeParents();
      return;
    }
    // Killed processes cannot exit while frozen.
    if (this.backend.thaw && this.leaves.length > 0) await this.backend.thaw(ctx, this.cg).catch(() => undefined);
    const deadline = Date.now() + this.drainTimeoutMs;
    let left = await this.allPids();
    for (let i = 0; left.length > 0 && Date.now() < deadline; i++) {
      await sleep(Math.min(5 * (i + 1), 100));
      left = await this.allPids();
    }
    if (left.length > 0) {
      throw conflict(
        `cgroup ${this.path}: destroy: ${left.length} process(es) still inside (${left.slice(0, 10).join(', ')})`,
        { details: { pids: left } },
      );
    }
    for (const d of [...this.leaves].reverse()) await this.removeDir(d, deadline);
    this.removeParents();
  }

  /** rmdir of each leaf; false at the first one that cannot go yet (left to the careful path). */
  private removeLeavesAtOnce(): boolean {
    for (const d of [...this.leaves].reverse()) {
      try {
        rmdirSync(d);
      } catch (err) {
        if (errno(err) !== 'ENOENT') return false;
      }
    }
    return true;
  }

  private removeParents(): void {
    for (const d of [...this.parents].reverse()) {
      // Shared ancestors (berth/) stay while other containers use them.
      try {
        rmdirSync(d);
      } catch (err) {
        if (!['ENOENT', 'EBUSY', 'ENOTEMPTY'].includes(errno(err) ?? ''))
          throw wrap(err, `cgroup ${this.path}: rmdir ${d}`);
      }
    }
  }

  private async anyExists(): Promise<boolean> {
    for (const d of this.leaves) if (isDir(d)) return true;
    return false;
  }

  /** rmdir, retrying EBUSY (tasks still exiting) until the deadline (at least 2 s more). */
  private async removeDir(d: string, deadline: number): Promise<void> {
    const until = Math.max(deadline, Date.now() + 2000);
    for (let i = 0; ; i++) {
      try {
        rmdirSync(d);
        return;
      } catch (err) {
        const code = errno(err);
        if (code === 'ENOENT') return;
        // a cgroup with child cgroups (someone else's, in a joined path) is left where it is
        if ((code === 'EBUSY' || code === 'ENOTEMPTY') && hasSubdirs(d)) return;
        if (code !== 'EBUSY' || Date.now() >= until) throw wrap(err, `cgroup ${this.path}: rmdir ${d}`);
      }
      await sleep(Math.min(5 * (i + 1), 100));
    }
  }
}
