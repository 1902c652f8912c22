// Directory handles inside a layer root: every directory the applier writes into is
// reached from the root's fd without following any symlink (openat2 with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS in the native core), so no entry, however
// the tree changed since an earlier one, can make it act outside the root.
import { closeSync, constants, mkdirSync, openSync } from 'node:fs';
import { native } from '../../native/index.js';
import { invalidArgument } from '../errdefs/errors.js';

/** The path node:fs calls take for an open handle, or for `name` inside an open directory handle. */
export function fdPath(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

/** openat2 below `dirFd`: never through a symlink, never outside (ELOOP / EXDEV otherwise). */
export function openBeneath(dirFd: number, rel: string, flags: number, mode = 0): number {
  return native().openBeneath(dirFd, rel, flags, mode);
}

export function oPath(): number {
  return native().O_PATH;
}

/**
 * What to do about a directory component missing from the root: 'never' create it
 * (the caller gets undefined), create it 'always', or ask the MissingDirHook ('hook').
 */
export type CreateMode = 'never' | 'always' | 'hook';

/**
 * Called for a component absent from the root before it is created; may refuse by throwing, or finish the new directory
 * (fd: an O_PATH handle on it).
 */
export interface MissingDirHook {
  /** Whether `rel` should be created at all ('skip': the caller gets undefined). */
  before(rel: string, entry: string): 'create' | 'skip';
  /** Called after mkdir with a handle on the new directory. */
  after(rel: string, fd: number): void;
  /** A component that is not a directory in the root (a whiteout, say): true when the hook replaced it by one. */
  notDir?(parentFd: number, name: string, rel: string): boolean;
}

const CACHE = 64;
const DIR_FLAGS = () => oPath() | constants.O_DIRECTORY;

export class RootHandles {
  readonly rootFd: number;
  /** O_PATH handles of directories recently written into, most recent last. */
  private readonly dirs = new Map<string, number>();
  /**
   * Handles dropped from the cache while work queued elsewhere may still name them (deferCloses()): kept open until
   * takeRetired()'s caller closes them, so their numbers cannot be reused meanwhile.
   */
  private retired: number[] | undefined;

  constructor(
    readonly root: string,
    private readonly hook?: MissingDirHook,
  ) {
    this.rootFd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
  }

  /**
   * A handle on the directory `rel` ('' = the root), every component a real
   * directory (not a symlink), creating missing ones (mode 0755) as `create` says. Fails INVALID_ARGUMENT naming
   * `entry` when a component is a symlink or
   * not a directory; undefined when one is missing and is not to be created. The
   * handle stays owned here (valid until the next forget() of it or close()).
   */
  dir(rel: string, entry: string, create: CreateMode): number | undefined {
    if (rel === '') return this.rootFd;
    const cached = this.dirs.get(rel);
    if (cached !== undefined) {
      this.dirs.delete(rel);
      this.dirs.set(rel, cached);
      return cached;
    }
    let fd: number | undefined;
    try {
      fd = openBeneath(this.rootFd, rel, DIR_FLAGS());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ELOOP' && code !== 'ENOTDIR') throw err;
      fd = this.walk(rel, entry, create);
      if (fd === undefined) return undefined;
    }
    this.remember(rel, fd);
    return fd;
  }

  /** Component by component from the root: finds the culprit and creates what is missing. */
  private walk(rel: string, entry: string, create: CreateMode): number | undefined {
    const parts = rel.split('/');
    let cur = this.rootFd;
    let curRel = '';
    const opened: number[] = [];
    try {
      for (const part of parts) {
        const next = curRel === '' ? part : `${curRel}/${part}`;
        let fd: number;
        try {
          fd = openBeneath(cur, part, DIR_FLAGS());
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ELOOP')
            throw invalidArgument(
              `layer entry ${JSON.stringify(entry)}: path escapes the layer root through symlink ${JSON.stringify(next)}`,
            );
          if (code === 'ENOTDIR') {
            if (this.hook?.notDir?.(cur, part, next) !== true)
              throw invalidArgument(
                `layer entry ${JSON.stringify(entry)}: parent ${JSON.stringify(next)} is not a directory`,
              );
            this.forget(next);
          } else if (code === 'ENOENT') {
            if (create === 'never') return undefined;
            if (create === 'hook' && this.hook !== undefined && this.hook.before(next, entry) === 'skip')
              return undefined;
            mkdirSync(fdPath(cur, part), { mode: 0o755 });
          } else throw err;
          fd = openBeneath(cur, part, DIR_FLAGS());
          if (code === 'ENOENT') this.hook?.after(next, fd);
        }
        opened.push(fd);
        cur = fd;
        curRel = next;
      }
      opened.pop();
      return cur;
    } finally {
      for (const fd of opened) closeSync(fd);
    }
  }

  private remember(rel: string, fd: number): void {
    this.dirs.set(rel, fd);
    while (this.dirs.size > CACHE) {
      const [oldest, ofd] = this.dirs.entries().next().value as [string, number];
      this.dirs.delete(oldest);
      this.drop(ofd);
    }
  }

  private drop(fd: number): void {
    if (this.retired !== undefined) this.retired.push(fd);
    else closeSync(fd);
  }

  /** From now on a handle leaving the cache stays open until takeRetired() hands it over (or close()). */
  deferCloses(): void {
    this.retired ??= [];
  }

  /** The handles dropped since the last call, open; the caller closes them once nothing uses them. */
  takeRetired(): number[] {
    const out = this.retired ?? [];
    if (this.retired !== undefined) this.retired = [];
    return out;
  }

  /** Drops the handles of `rel` and everything below it (it was removed or replaced). */
  forget(rel: string): void {
    const prefix = `${rel}/`;
    for (const [k, fd] of [...this.dirs]) {
      if (rel === '' || k === rel || k.startsWith(prefix)) {
        this.dirs.delete(k);
        this.drop(fd);
      }
    }
  }

  /** Closes every handle, the retired ones and the root's included. */
  close(): void {
    for (const fd of this.dirs.values()) closeSync(fd);
    this.dirs.clear();
    for (const fd of this.takeRetired()) closeSync(fd);
    closeSync(this.rootFd);
  }
}

/** The INVALID_ARGUMENT of a hard link whose target cannot be used. */
export function badLinkTarget(entry: string, target: string, why: string): Error {
  return invalidArgument(`layer entry ${JSON.stringify(entry)}: hard link target ${JSON.stringify(target)} ${why}`);
}
