// The generic diff for drivers without a native one (Docker's NaiveDiffDriver and
// fsdiff): mount the layer and its parent, walk both trees, and compare metadata.
// Used for vfs and btrfs (which have no diff of their own) through withDiff, and
// by overlay2 for a pair of layers that are not parent and child.
import { lstat, readdir, readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { wrap } from '../errdefs/errors.js';
import { applyLayer, type IdShift } from '../archive/apply-layer.js';
import { throwIfCancelled, type Context } from '../trace/context.js';
import { changesTar } from '../archive/diff-tar.js';
import {
  isDiffDriver,
  type ApplyResult,
  type Change,
  type DiffDriver,
  type DiffingDriver,
  type ProtoDriver,
} from './driver.js';

/**
 * The changes that turn `parentDir` (undefined: empty) into `layerDir`, sorted by
 * path (parents first). A path is 'modify' when its type, mode, owner, rdev or
 * symlink target differ, or (for non-directories) its size or mtime; a directory
 * whose subtree changed is reported as modified too, so its metadata travels with
 * the diff. A deleted directory is one change (its contents are not listed).
 * Cost: one lstat per path in both trees.
 */
export async function walkChanges(ctx: Context, layerDir: string, parentDir: string | undefined): Promise<Change[]> {
  const out: Change[] = [];
  await walk(ctx, layerDir, parentDir, '', out);
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}

/** Returns whether anything changed below `rel`. */
async function walk(
  ctx: Context,
  layerDir: string,
  parentDir: string | undefined,
  rel: string,
  out: Change[],
): Promise<boolean> {
  throwIfCancelled(ctx, `changes of ${layerDir}`);
  const newNames = await readdir(rel === '' ? layerDir : `${layerDir}/${rel}`);
  let oldNames: string[] = [];
  if (parentDir !== undefined) {
    try {
      oldNames = await readdir(rel === '' ? parentDir : `${parentDir}/${rel}`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    }
  }
  let changed = false;
  const newSet = new Set(newNames);
  for (const name of oldNames) {
    if (newSet.has(name)) continue;
    out.push({ path: `/${rel === '' ? name : `${rel}/${name}`}`, kind: 'delete' });
    changed = true;
  }
  const oldSet = new Set(oldNames);
  for (const name of newNames) {
    const r = rel === '' ? name : `${rel}/${name}`;
    const nst = await lstat(`${layerDir}/${r}`);
    const ost = oldSet.has(name) && parentDir !== undefined ? await lstat(`${parentDir}/${r}`) : undefined;
    let kind: Change['kind'] | undefined;
    if (ost === undefined) kind = 'add';
    else if (await differs(ost, nst, `${parentDir}/${r}`, `${layerDir}/${r}`)) kind = 'modify';
    let below = false;
    if (nst.isDirectory()) {
      below = await walk(ctx, layerDir, ost?.isDirectory() ? parentDir : undefined, r, out);
    }
    if (kind === undefined && below) kind = 'modify';
    if (kind !== undefined) {
      out.push({ path: `/${r}`, kind });
      changed = true;
    }
  }
  return changed;
}

async function differs(o: Stats, n: Stats, oldPath: string, newPath: string): Promise<boolean> {
  if (o.mode !== n.mode || o.uid !== n.uid || o.gid !== n.gid || o.rdev !== n.rdev) return true;
  if (n.isDirectory()) return false;
  if (o.size !== n.size || o.mtimeMs !== n.mtimeMs) return true;
  if (n.isSymbolicLink()) return (await readlink(oldPath)) !== (await readlink(newPath));
  return false;
}

/**
 * The DiffDriver of a ProtoDriver that has no native diff: every method mounts
 * (get) the layer and its parent for its duration and puts them afterwards — for
 * diff() when the returned stream ends or is destroyed. applyDiff uses the
 * applier's 'delete' whiteout mode (the layer holds a full copy of its parent).
 */
export class NaiveDiff implements DiffDriver {
  constructor(
    private readonly driver: ProtoDriver,
    private readonly idShift?: IdShift,
  ) {}

  async changes(ctx: Context, id: string, parent: string | undefined): Promise<Change[]> {
    return this.withDirs(ctx, id, parent, 'changes', (dir, pdir) => walkChanges(ctx, dir, pdir));
  }

  async diff(ctx: Context, id: string, parent: string | undefined): Promise<NodeJS.ReadableStream> {
    const { dir, pdir, release } = await this.mountBoth(ctx, id, parent);
    try {
      const changes = await walkChanges(ctx, dir, pdir);
      return changesTar(ctx, dir, changes, release, this.idShift);
    } catch (err) {
      await release();
      throw wrap(err, `${this.driver.name} diff ${id}`);
    }
  }

  async diffSize(ctx: Context, id: string, parent: string | undefined): Promise<number> {
    return this.withDirs(ctx, id, parent, 'diffSize', async (dir, pdir) => {
      const seen = new Set<string>();
      let size = 0;
      for (const c of await walkChanges(ctx, dir, pdir)) {
        if (c.kind === 'delete') continue;
        const st = await lstat(`${dir}${c.path}`);
        if (!st.isFile()) continue;
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
        size += st.size;
      }
      return size;
    });
  }

  async applyDiff(
    ctx: Context,
    id: string,
    _parent: string | undefined,
    tar: NodeJS.ReadableStream,
  ): Promise<ApplyResult> {
    const dir = await this.driver.get(ctx, id);
    try {
      return await applyLayer(ctx, dir, tar, {
        whiteouts: 'delete',
        ...(this.idShift ? { idShift: this.idShift } : {}),
      });
    } catch (err) {
      throw wrap(err, `${this.driver.name} applyDiff ${id}`);
    } finally {
      await this.driver.put(ctx, id);
    }
  }

  private async mountBoth(ctx: Context, id: string, parent: string | undefined) {
    const dir = await this.driver.get(ctx, id);
    let pdir: string | undefined;
    try {
      if (parent !== undefined) pdir = await this.driver.get(ctx, parent);
    } catch (err) {
      await this.driver.put(ctx, id);
      throw err;
    }
    const release = async () => {
      await this.driver.put(ctx, id);
      if (parent !== undefined) await this.driver.put(ctx, parent);
    };
    return { dir, pdir, release };
  }

  private async withDirs<T>(
    ctx: Context,
    id: string,
    parent: string | undefined,
    what: string,
    fn: (dir: string, pdir: string | undefined) => Promise<T>,
  ): Promise<T> {
    const { dir, pdir, release } = await this.mountBoth(ctx, id, parent);
    try {
      return await fn(dir, pdir);
    } catch (err) {
      throw wrap(err, `${this.driver.name} ${what} ${id}`);
    } finally {
      await release();
    }
  }
}

/**
 * `driver` when it has its own diff, else a view of it whose diff methods are the
 * naive ones (Docker's NewNaiveDiffDriver). The view inherits from the driver, so
 * its own methods and properties (and an instrumented driver's spans) stay.
 */
export function withDiff<D extends ProtoDriver & Partial<DiffDriver>>(driver: D, idShift?: IdShift): D & DiffingDriver {
  if (isDiffDriver(driver)) return driver as D & DiffingDriver;
  const naive = new NaiveDiff(driver, idShift);
  const view = Object.create(driver) as D & DiffingDriver;
  view.changes = (ctx, id, parent) => naive.changes(ctx, id, parent);
  view.diff = (ctx, id, parent) => naive.diff(ctx, id, parent);
  view.diffSize = (ctx, id, parent) => naive.diffSize(ctx, id, parent);
  view.applyDiff = (ctx, id, parent, tar) => naive.applyDiff(ctx, id, parent, tar);
  return view;
}
