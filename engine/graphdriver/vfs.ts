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
import { mkdir, rm } from 'node:fs/promises';
import { wrap } from '../errdefs/errors.js';
import { runChecked } from '../fsutil/run-command.js';
import type { Context } from '../trace/context.js';
import type { DriverInit, DriverPlugin, DriverStatus } from './driver.js';
import { backingMount } from './mountinfo.js';
import { TreeLayerDriver } from './tree-driver.js';

export class VfsDriver extends TreeLayerDriver {
  readonly name = 'vfs';

  private constructor(home: string) {
    super(home, `${home}/dir`);
  }

  /** Creates the home (if missing) and deletes leftovers of interrupted creates/removes. */
  static async init(ctx: Context, init: DriverInit): Promise<VfsDriver> {
    for (const key of Object.keys(init.options ?? {}))
      throw wrap(new Error(`unknown option ${key}`), 'vfs init', 'INVALID_ARGUMENT');
    const d = new VfsDriver(`${init.root}/vfs`);
    try {
      await mkdir(d.layers, { recursive: true, mode: 0o700 });
      await d.removeLeftovers(ctx);
    } catch (err) {
      throw wrap(err, `vfs init ${d.home}`, 'UNAVAILABLE');
    }
    ctx.logger.debug('vfs ready', { home: d.home });
    return d;
  }

  /** An empty directory, or a full copy of the parent's tree (cost proportional to its size). */
  protected async makeTree(ctx: Context, target: string, parentTree: string | undefined): Promise<void> {
    if (parentTree === undefined) await mkdir(target, { mode: 0o755 });
    else await runChecked('cp', ['-a', '--reflink=auto', '--', `${parentTree}/.`, target], { signal: ctx.signal });
  }

  /** Cost: deleting the whole tree. */
  protected async deleteTree(_ctx: Context, path: string): Promise<void> {
    await rm(path, { recursive: true, force: true });
  }

  protected async backingStatus(): Promise<DriverStatus> {
    const backing = await backingMount(this.home).catch(() => undefined);
    return { 'Backing Filesystem': backing?.fsType ?? 'unknown' };
  }
}

export const vfsPlugin: DriverPlugin = {
  type: 'graphdriver',
  id: 'vfs',
  init: (ctx, init) => VfsDriver.init(ctx, init),
};
