// The part vfs and btrfs share: drivers whose layer is one complete directory tree
// (a copy, or a subvolume snapshot) under `<home>/<layersDir>/<id>`. They differ only
// in how a tree is made from its parent and how one is deleted; naming, crash
// safety (.tmp-/.rm- names), and reference counting live here; they have no diff of their own (the layer
// store uses the generic one, naive-diff.ts).
//
// Crash safety: a layer is built as `.tmp-<id>` and renamed into place when
// complete; a removal renames it to `.rm-<id>` first. Either leftover is deleted by
// removeLeftovers() at init, so a crash never leaves a half layer under its id.
import { lstat, readdir, rename } from 'node:fs/promises';
import { alreadyExists, conflict, notFound, wrap } from '../errdefs/errors.js';
import type { Context } from '../trace/context.js';
import type { CreateOptions, DriverStatus, Mount, ProtoDriver } from './driver.js';
import { KeyedLock } from '../fsutil/keyed-lock.js';
import { checkId, checkNoStorageOpt } from './layer-id.js';

export abstract class TreeLayerDriver implements ProtoDriver {
  abstract readonly name: string;
  protected readonly refs = new Map<string, number>();
  protected readonly locks = new KeyedLock();

  protected constructor(
    readonly home: string,
    /** The folder holding one tree per layer. */
    protected readonly layers: string,
  ) {}

  /** Makes the tree at `target` (absent): empty, or from the parent's tree. */
  protected abstract makeTree(ctx: Context, target: string, parentTree: string | undefined): Promise<void>;

  /** Deletes a tree (a layer, or a leftover); a missing tree is not an error. */
  protected abstract deleteTree(ctx: Context, path: string): Promise<void>;

  /** The driver-specific status lines (backing filesystem, device). */
  protected abstract backingStatus(): Promise<DriverStatus>;

  protected dir(id: string): string {
    return `${this.layers}/${id}`;
  }

  /** Deletes `.tmp-`/`.rm-` leftovers of creates and removes a crash interrupted. */
  protected async removeLeftovers(ctx: Context): Promise<void> {
    for (const name of await readdir(this.layers)) {
      if (name.startsWith('.tmp-') || name.startsWith('.rm-')) await this.deleteTree(ctx, `${this.layers}/${name}`);
    }
  }

  /** Builds the layer from its parent's tree under a temporary name, then renames it into place. */
  async create(ctx: Context, id: string, parent: string | undefined, opts?: CreateOptions): Promise<void> {
    return this.locks.run(id, async () => {
      checkId(this.name, id);
      checkNoStorageOpt(this.name, id, opts?.storageOpt);
      if (parent !== undefined) checkId(this.name, parent);
      if (await this.exists(ctx, id)) throw alreadyExists(`${this.name} layer ${id}: already exists`);
      if (parent !== undefined && !(await this.exists(ctx, parent)))
        throw notFound(`${this.name} layer ${id}: parent ${parent} not found`);
      const tmp = `${this.layers}/.tmp-${id}`;
      try {
        if (
          await lstat(tmp).then(
            () => true,
            () => false,
          )
        )
          await this.deleteTree(ctx, tmp);
        await this.makeTree(ctx, tmp, parent === undefined ? undefined : this.dir(parent));
        await rename(tmp, this.dir(id));
      } catch (err) {
        await this.deleteTree(ctx, tmp).catch(() => undefined);
        throw wrap(err, `${this.name} create ${id}`);
      }
    });
  }

  async createReadWrite(ctx: Context, id: string, parent: string | undefined, opts?: CreateOptions): Promise<void> {
    return this.create(ctx, id, parent, opts);
  }

  /** Idempotent; CONFLICT while the layer is held by get(). */
  async remove(ctx: Context, id: string): Promise<void> {
    return this.locks.run(id, async () => {
      checkId(this.name, id);
      const n = this.refs.get(id) ?? 0;
      if (n > 0) throw conflict(`${this.name} remove ${id}: layer is in use (${n} get without put)`);
      const gone = `${this.layers}/.rm-${id}`;
      try {
        await rename(this.dir(id), gone);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw wrap(err, `${this.name} remove ${id}`);
      }
      try {
        await this.deleteTree(ctx, gone);
      } catch (err) {
        throw wrap(err, `${this.name} remove ${id}`);
      }
    });
  }

  /** A bind mount of the layer's tree (the driver itself never mounts). */
  async mounts(ctx: Context, id: string): Promise<Mount[]> {
    await this.mustExist(ctx, id, 'mounts');
    return [{ type: 'bind', source: this.dir(id), options: ['rbind', 'rw'] }];
  }

  /** Returns the layer's tree; counts the reference (no mount). */
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
    const count = (await readdir(this.layers)).filter((n) => !n.startsWith('.')).length;
    return { ...(await this.backingStatus()), Layers: String(count) };
  }

  async cleanup(_ctx: Context): Promise<void> {
    this.refs.clear();
  }

  private async mustExist(ctx: Context, id: string, what: string): Promise<void> {
    if (!(await this.exists(ctx, id))) throw notFound(`${this.name} ${what} ${id}: layer not found`);
  }
}
