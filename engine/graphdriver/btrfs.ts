// btrfs: each layer is a btrfs subvolume; a child layer is a snapshot of its parent
// (copy-on-write, O(1) in the layer's size). Needs its home on a btrfs filesystem.
//
// On disk (`<root>/btrfs`):
//   subvolumes/<id>        the layer's subvolume (its complete root filesystem)
//   subvolumes/.tmp-<id>   a subvolume being created (renamed into place when done)
//   subvolumes/.rm-<id>    a subvolume being deleted
// Leftovers (.tmp-/.rm-) are deleted at init.
//
// Subvolumes are made and deleted with btrfs-progs (`btrfs subvolume create |
// snapshot | delete`) through execa: one process spawn (≈ 2–5 ms here) per call.
// The BTRFS_IOC_SNAP_CREATE_V2 / SNAP_DESTROY ioctls would save the spawn; the bench
// measures the spawned form. Diffs are the generic (naive) ones.
import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { execa } from 'execa';
import { alreadyExists, conflict, invalidArgument, notFound, unavailable, wrap } from '../errdefs/errors.js';
import type { Context } from '../trace/context.js';
import type { ApplyResult, Change, CreateOptions, Driver, DriverInit, DriverPlugin, DriverStatus, Mount } from './driver.js';
import { KeyedLock } from './keyed-lock.js';
import { checkId, checkNoStorageOpt } from './layer-id.js';
import { backingMount } from './mountinfo.js';
import { NaiveDiff } from './naive-diff.js';

export class BtrfsDriver implements Driver {
  readonly name = 'btrfs';
  readonly home: string;
  private readonly subvols: string;
  private readonly refs = new Map<string, number>();
  private readonly locks = new KeyedLock();
  private readonly naive: NaiveDiff;

  private constructor(home: string) {
    this.home = home;
    this.subvols = `${home}/subvolumes`;
    this.naive = new NaiveDiff(this);
  }

  /** UNAVAILABLE unless the home is on btrfs and btrfs-progs is installed; deletes leftovers. */
  static async init(ctx: Context, init: DriverInit): Promise<BtrfsDriver> {
    for (const key of Object.keys(init.options ?? {})) throw invalidArgument(`btrfs init: unknown option ${key}`);
    const d = new BtrfsDriver(`${init.root}/btrfs`);
    try {
      await mkdir(d.subvols, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw wrap(err, `btrfs init ${d.home}`, 'UNAVAILABLE');
    }
    const backing = await backingMount(d.home);
    if (backing.fsType !== 'btrfs') {
      throw unavailable(`btrfs init ${d.home}: the home is on ${backing.fsType} (${backing.mountPoint}), not btrfs`);
    }
    try {
      await execa('btrfs', ['--version'], { stdin: 'ignore' });
    } catch (err) {
      throw unavailable('btrfs init: the btrfs command (btrfs-progs) is not installed', { cause: err });
    }
    for (const name of await readdir(d.subvols)) {
      if (name.startsWith('.tmp-') || name.startsWith('.rm-')) await d.deleteSubvolume(ctx, `${d.subvols}/${name}`);
    }
    ctx.logger.debug('btrfs ready', { home: d.home });
    return d;
  }

  private dir(id: string): string {
    return `${this.subvols}/${id}`;
  }

  private async btrfs(ctx: Context, args: string[]): Promise<void> {
    await execa('btrfs', args, { cancelSignal: ctx.signal, stdin: 'ignore' });
  }

  /** Deletes a subvolume, or a plain directory left by an interrupted create. */
  private async deleteSubvolume(ctx: Context, path: string): Promise<void> {
    try {
      await this.btrfs(ctx, ['subvolume', 'delete', '--', path]);
    } catch {
      await rm(path, { recursive: true, force: true });
    }
  }

  /** A new subvolume (no parent) or a snapshot of the parent's: O(1); crash-safe. */
  async create(ctx: Context, id: string, parent: string | undefined, opts?: CreateOptions): Promise<void> {
    return this.locks.run(id, async () => {
      checkId(this.name, id);
      checkNoStorageOpt(this.name, id, opts?.storageOpt);
      if (parent !== undefined) checkId(this.name, parent);
      if (await this.exists(ctx, id)) throw alreadyExists(`btrfs layer ${id}: already exists`);
      if (parent !== undefined && !(await this.exists(ctx, parent))) throw notFound(`btrfs layer ${id}: parent ${parent} not found`);
      const tmp = `${this.subvols}/.tmp-${id}`;
      try {
        if (await lstat(tmp).then(() => true, () => false)) await this.deleteSubvolume(ctx, tmp);
        if (parent === undefined) await this.btrfs(ctx, ['subvolume', 'create', '--', tmp]);
        else await this.btrfs(ctx, ['subvolume', 'snapshot', '--', this.dir(parent), tmp]);
        await rename(tmp, this.dir(id));
      } catch (err) {
        await this.deleteSubvolume(ctx, tmp).catch(() => undefined);
        throw wrap(err, `btrfs create ${id}`);
      }
    });
  }

  async createReadWrite(ctx: Context, id: string, parent: string | undefined, opts?: CreateOptions): Promise<void> {
    return this.create(ctx, id, parent, opts);
  }

  /** Idempotent; CONFLICT while held by get(). Deletion is asynchronous inside btrfs. */
  async remove(ctx: Context, id: string): Promise<void> {
    return this.locks.run(id, async () => {
      checkId(this.name, id);
      const n = this.refs.get(id) ?? 0;
      if (n > 0) throw conflict(`btrfs remove ${id}: layer is in use (${n} get without put)`);
      const gone = `${this.subvols}/.rm-${id}`;
      try {
        await rename(this.dir(id), gone);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw wrap(err, `btrfs remove ${id}`);
      }
      try {
        await this.btrfs(ctx, ['subvolume', 'delete', '--', gone]);
      } catch (err) {
        throw wrap(err, `btrfs remove ${id}`);
      }
    });
  }

  /** A bind mount of the subvolume (the driver itself does not mount). */
  async mounts(ctx: Context, id: string): Promise<Mount[]> {
    await this.mustExist(ctx, id, 'mounts');
    return [{ type: 'bind', source: this.dir(id), options: ['rbind', 'rw'] }];
  }

  /** Returns the subvolume path; counts the reference. */
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
    const layers = (await readdir(this.subvols)).filter((n) => !n.startsWith('.')).length;
    const backing = await backingMount(this.home);
    return { 'Backing Filesystem': 'btrfs', 'Block Device': backing.source, Layers: String(layers) };
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
    if (!(await this.exists(ctx, id))) throw notFound(`btrfs ${what} ${id}: layer not found`);
  }
}

export const btrfsPlugin: DriverPlugin = {
  type: 'graphdriver',
  id: 'btrfs',
  init: (ctx, init) => BtrfsDriver.init(ctx, init),
};
