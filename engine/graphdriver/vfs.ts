// vfs: the simplest graphdriver — every layer is a full copy of its parent's tree,
// no mounts. Slow and space-hungry, but it runs on any filesystem.
//
// On disk (`<root>/vfs`):
//   dir/<id>/          the layer's complete root filesystem
//   dir/.tmp-<id>/     a layer being created (renamed into place when complete)
//   dir/.rm-<id>/      a layer being removed (renamed away first, then deleted)
// Leftover .tmp-/.rm- dirs (a crash) are deleted at init.
//
// The copy is `cp -a --reflink=auto SRC/. DST` (GNU coreutils): it keeps ownership,
// modes, timestamps, xattrs, hard links within the tree and special files, and
// shares extents where the filesystem can (btrfs/xfs reflinks) — faster and more
// faithful than a copy written in JS (node:fs.cp keeps neither owners nor xattrs).
// Its cost is one process spawn plus the copy itself, measured by the bench suite.
import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { execa } from 'execa';
import { alreadyExists, conflict, notFound, wrap } from '../errdefs/errors.js';
import type { Context } from '../trace/context.js';
import type { ApplyResult, Change, CreateOptions, Driver, DriverInit, DriverPlugin, DriverStatus, Mount } from './driver.js';
import { KeyedLock } from './keyed-lock.js';
import { checkId, checkNoStorageOpt } from './layer-id.js';
import { backingMount } from './mountinfo.js';
import { NaiveDiff } from './naive-diff.js';

export class VfsDriver implements Driver {
  readonly name = 'vfs';
  readonly home: string;
  private readonly dirs: string;
  private readonly refs = new Map<string, number>();
  private readonly locks = new KeyedLock();
  private readonly naive: NaiveDiff;

  private constructor(home: string) {
    this.home = home;
    this.dirs = `${home}/dir`;
    this.naive = new NaiveDiff(this);
  }

  /** Creates the home (if missing) and deletes leftovers of interrupted creates/removes. */
  static async init(ctx: Context, init: DriverInit): Promise<VfsDriver> {
    for (const key of Object.keys(init.options ?? {})) throw wrap(new Error(`unknown option ${key}`), 'vfs init', 'INVALID_ARGUMENT');
    const d = new VfsDriver(`${init.root}/vfs`);
    try {
      await mkdir(d.dirs, { recursive: true, mode: 0o700 });
      for (const name of await readdir(d.dirs)) {
        if (name.startsWith('.tmp-') || name.startsWith('.rm-')) await rm(`${d.dirs}/${name}`, { recursive: true, force: true });
      }
    } catch (err) {
      throw wrap(err, `vfs init ${d.home}`, 'UNAVAILABLE');
    }
    ctx.logger.debug('vfs ready', { home: d.home });
    return d;
  }

  private dir(id: string): string {
    return `${this.dirs}/${id}`;
  }

  /** Copies the parent's tree (cost proportional to its size) into a new layer; crash-safe. */
  async create(ctx: Context, id: string, parent: string | undefined, opts?: CreateOptions): Promise<void> {
    return this.locks.run(id, async () => {
      checkId(this.name, id);
      checkNoStorageOpt(this.name, id, opts?.storageOpt);
      if (parent !== undefined) checkId(this.name, parent);
      if (await this.exists(ctx, id)) throw alreadyExists(`vfs layer ${id}: already exists`);
      if (parent !== undefined && !(await this.exists(ctx, parent))) throw notFound(`vfs layer ${id}: parent ${parent} not found`);
      const tmp = `${this.dirs}/.tmp-${id}`;
      try {
        await rm(tmp, { recursive: true, force: true });
        if (parent === undefined) {
          await mkdir(tmp, { mode: 0o755 });
        } else {
          await execa('cp', ['-a', '--reflink=auto', '--', `${this.dir(parent)}/.`, tmp], { cancelSignal: ctx.signal, stdin: 'ignore' });
        }
        await rename(tmp, this.dir(id));
      } catch (err) {
        await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
        throw wrap(err, `vfs create ${id}`);
      }
    });
  }

  async createReadWrite(ctx: Context, id: string, parent: string | undefined, opts?: CreateOptions): Promise<void> {
    return this.create(ctx, id, parent, opts);
  }

  /** Idempotent; CONFLICT while the layer is held by get(). Cost: deleting the whole tree. */
  async remove(_ctx: Context, id: string): Promise<void> {
    return this.locks.run(id, async () => {
      checkId(this.name, id);
      if ((this.refs.get(id) ?? 0) > 0) throw conflict(`vfs remove ${id}: layer is in use (${this.refs.get(id)} get without put)`);
      const gone = `${this.dirs}/.rm-${id}`;
      try {
        await rename(this.dir(id), gone);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw wrap(err, `vfs remove ${id}`);
      }
      await rm(gone, { recursive: true, force: true }).catch((err: unknown) => {
        throw wrap(err, `vfs remove ${id}`);
      });
    });
  }

  /** A bind mount of the layer's directory (vfs itself never mounts). */
  async mounts(ctx: Context, id: string): Promise<Mount[]> {
    await this.mustExist(ctx, id, 'mounts');
    return [{ type: 'bind', source: this.dir(id), options: ['rbind', 'rw'] }];
  }

  /** Returns the layer's directory; counts the reference (no mount). */
  async get(ctx: Context, id: string): Promise<string> {
    return this.locks.run(id, async () => {
      await this.mustExist(ctx, id, 'get');
      this.refs.set(id, (this.refs.get(id) ?? 0) + 1);
      return this.dir(id);
    });
  }

  async put(_ctx: Context, id: string): Promise<void> {
    return this.locks.run(id, async () => {
      const n = this.refs.get(id) ?? 0;
      if (n <= 1) this.refs.delete(id);
      else this.refs.set(id, n - 1);
    });
  }

  async exists(_ctx: Context, id: string): Promise<boolean> {
    checkId(this.name, id);
    try {
      return (await lstat(this.dir(id))).isDirectory();
    } catch {
      return false;
    }
  }

  async status(_ctx: Context): Promise<DriverStatus> {
    const layers = (await readdir(this.dirs)).filter((n) => !n.startsWith('.')).length;
    const backing = await backingMount(this.home).catch(() => undefined);
    return { 'Backing Filesystem': backing?.fsType ?? 'unknown', Layers: String(layers) };
  }

  async cleanup(_ctx: Context): Promise<void> {
    this.refs.clear();
  }

  changes(ctx: Context, id: string, parent: string | undefined): Promise<Change[]> {
    return this.naive.changes(ctx, id, parent);
  }

  diff(ctx: Context, id: string, parent: string | undefined): Promise<NodeJS.ReadableStream> {
    return this.naive.diff(ctx, id, parent);
  }

  diffSize(ctx: Context, id: string, parent: string | undefined): Promise<number> {
    return this.naive.diffSize(ctx, id, parent);
  }

  applyDiff(ctx: Context, id: string, parent: string | undefined, tar: NodeJS.ReadableStream): Promise<ApplyResult> {
    return this.naive.applyDiff(ctx, id, parent, tar);
  }

  private async mustExist(ctx: Context, id: string, what: string): Promise<void> {
    if (!(await this.exists(ctx, id))) throw notFound(`vfs ${what} ${id}: layer not found`);
  }
}

export const vfsPlugin: DriverPlugin = {
  type: 'graphdriver',
  id: 'vfs',
  init: (ctx, init) => VfsDriver.init(ctx, init),
};
