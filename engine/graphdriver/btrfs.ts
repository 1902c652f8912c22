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
// snapshot | delete`) as commands: one process spawn per call.
// The BTRFS_IOC_SNAP_CREATE_V2 / SNAP_DESTROY ioctls would save the spawn; the bench
// measures the spawned form. Diffs are the generic (naive) ones.
import { mkdir, rm } from 'node:fs/promises';
import { invalidArgument, unavailable, wrap } from '../errdefs/errors.js';
import { runChecked } from '../fsutil/run-command.js';
import type { Context } from '../trace/context.js';
import type { DriverInit, DriverPlugin, DriverStatus } from './driver.js';
import { backingMount } from './mountinfo.js';
import { TreeLayerDriver } from './tree-driver.js';

export class BtrfsDriver extends TreeLayerDriver {
  readonly name = 'btrfs';

  private constructor(home: string) {
    super(home, `${home}/subvolumes`);
  }

  /** UNAVAILABLE unless the home is on btrfs and btrfs-progs is installed; deletes leftovers. */
  static async init(ctx: Context, init: DriverInit): Promise<BtrfsDriver> {
    for (const key of Object.keys(init.options ?? {})) throw invalidArgument(`btrfs init: unknown option ${key}`);
    const d = new BtrfsDriver(`${init.root}/btrfs`);
    try {
      await mkdir(d.layers, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw wrap(err, `btrfs init ${d.home}`, 'UNAVAILABLE');
    }
    const backing = await backingMount(d.home);
    if (backing.fsType !== 'btrfs') {
      throw unavailable(`btrfs init ${d.home}: the home is on ${backing.fsType} (${backing.mountPoint}), not btrfs`);
    }
    try {
      await runChecked('btrfs', ['--version']);
    } catch (err) {
      throw unavailable('btrfs init: the btrfs command (btrfs-progs) is not installed', { cause: err });
    }
    await d.removeLeftovers(ctx);
    ctx.logger.debug('btrfs ready', { home: d.home });
    return d;
  }

  private async btrfs(ctx: Context, args: string[]): Promise<void> {
    await runChecked('btrfs', args, { signal: ctx.signal });
  }

  /** A new subvolume, or a snapshot of the parent's: O(1) in the layer's size. */
  protected async makeTree(ctx: Context, target: string, parentTree: string | undefined): Promise<void> {
    if (parentTree === undefined) await this.btrfs(ctx, ['subvolume', 'create', '--', target]);
    else await this.btrfs(ctx, ['subvolume', 'snapshot', '--', parentTree, target]);
  }

  /** Deletes a subvolume (asynchronously inside btrfs), or a plain directory left by an interrupted create. */
  protected async deleteTree(ctx: Context, path: string): Promise<void> {
    try {
      await this.btrfs(ctx, ['subvolume', 'delete', '--', path]);
    } catch {
      await rm(path, { recursive: true, force: true });
    }
  }

  protected async backingStatus(): Promise<DriverStatus> {
    const backing = await backingMount(this.home);
    return { 'Backing Filesystem': 'btrfs', 'Block Device': backing.source };
  }
}

export const btrfsPlugin: DriverPlugin = {
  type: 'graphdriver',
  id: 'btrfs',
  init: (ctx, init) => BtrfsDriver.init(ctx, init),
};
