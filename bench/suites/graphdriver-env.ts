// One graphdriver on one backing store for a bench case: store made, driver initialised
// and instrumented, image chains built, and all of it undone by one dispose.
import { execaSync } from 'execa';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { DiffingDriver } from '../../engine/graphdriver/driver.js';
import { withDiff } from '../../engine/graphdriver/naive-diff.js';
import { graphdriverPlugin } from '../../engine/graphdriver/builtins.js';
import { MNT_DETACH, unmount } from '../../engine/graphdriver/host-mount.js';
import { mountsUnder } from '../../engine/graphdriver/mountinfo.js';
import { instrument, type Context } from '../../engine/trace/index.js';
import { createBackingStore, type BackingKind, type BackingStore } from '../backing-store.js';
import { buildLayerTar } from './graphdriver-layers.js';

export type DriverName = 'vfs' | 'overlay2' | 'btrfs';
export const DRIVER_NAMES: readonly DriverName[] = ['vfs', 'overlay2', 'btrfs'];

export interface DriverEnv {
  /** The driver wrapped with instrument('graphdriver.<name>', …), so spans feed the phase breakdown. */
  readonly driver: DiffingDriver;
  /** The same driver without the wrapper (set-up work that must not show up in phases). */
  readonly raw: DiffingDriver;
  readonly store: BackingStore;
  /** The driver's data root (inside the store). */
  readonly root: string;
  /**
   * Cleans up the driver (unmounts all it mounted), unmounts anything left under the
   * store, then disposes the store. Idempotent; every step runs even if one fails.
   */
  dispose(ctx: Context): Promise<void>;
}

export interface DriverEnvOptions {
  /** Where the store's folder or loop file goes (the run's data root). */
  dir: string;
  sizeMiB: number;
}

/**
 * Makes the backing store, initialises `name` in it and instruments it. Fails with
 * the store's or the driver's error (UNAVAILABLE when the store's filesystem cannot
 * hold the driver); nothing is left behind on failure.
 */
export async function openDriverEnv(
  ctx: Context,
  name: DriverName,
  backing: BackingKind,
  opts: DriverEnvOptions,
): Promise<DriverEnv> {
  const store = await createBackingStore(backing, { dir: opts.dir, sizeMiB: opts.sizeMiB });
  const root = `${store.path}/root`;
  let raw: DiffingDriver | undefined;
  let disposed = false;
  const dispose = async (c: Context): Promise<void> => {
    if (disposed) return;
    const errors: unknown[] = [];
    if (raw !== undefined) await raw.cleanup(c).catch((err: unknown) => errors.push(err));
    try {
      for (const m of await mountsUnder(store.path))
        unmount(`graphdriver bench ${name} on ${backing}: leftover`, m, MNT_DETACH);
    } catch (err) {
      errors.push(err);
    }
    await store.dispose().catch((err: unknown) => errors.push(err));
    if (errors.length > 0) throw errors[0];
    disposed = true;
  };
  try {
    raw = withDiff(await graphdriverPlugin(name).init(ctx, { root }));
  } catch (err) {
    await dispose(ctx).catch(() => undefined);
    throw err;
  }
  return { driver: instrument(`graphdriver.${name}`, raw), raw, store, root, dispose };
}

/** A fresh stream over a tar held in memory (what applyDiff reads). */
export function tarReader(buf: Buffer): NodeJS.ReadableStream {
  return Readable.from([buf], { objectMode: false });
}

/**
 * Builds an image chain of `depth` layers named `<prefix>-0 … <prefix>-<depth-1>` with
 * the uninstrumented driver: layer 0 gets `base` (or one small file), every later layer
 * one small file of its own (`layers/<i>/file`). Returns the ids, bottom first.
 * Cost: depth × (create + applyDiff); vfs copies the growing tree each time.
 */
export async function buildChain(
  ctx: Context,
  env: DriverEnv,
  prefix: string,
  depth: number,
  base?: Buffer,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < depth; i++) {
    const id = `${prefix}-${i}`;
    const parent = ids[ids.length - 1];
    await env.raw.create(ctx, id, parent);
    const tar =
      i === 0 && base !== undefined ? base : await buildLayerTar([{ path: `layers/${i}/file`, size: 256 }], i + 1);
    await env.raw.applyDiff(ctx, id, parent, tarReader(tar));
    ids.push(id);
  }
  return ids;
}

/** Whether the host can run `name` at all (root is checked by the suite), or why not. */
export function driverUnavailable(name: DriverName): string | undefined {
  if (name === 'overlay2') {
    const fs = (() => {
      try {
        return readFileSync('/proc/filesystems', 'utf8');
      } catch {
        return '';
      }
    })();
    return /\toverlay$/m.test(fs) ? undefined : 'the kernel has no overlay filesystem';
  }
  if (name === 'btrfs') {
    for (const tool of ['btrfs', 'mkfs.btrfs']) {
      try {
        execaSync(tool, ['--version'], { stdin: 'ignore' });
      } catch {
        return `${tool} not installed (btrfs-progs)`;
      }
    }
  }
  return undefined;
}

/** Whether a backing store kind can be made here (its mkfs exists), or why not. */
export function backingUnavailable(kind: BackingKind): string | undefined {
  const tool =
    kind === 'ext4' ? 'mkfs.ext4' : kind === 'xfs' ? 'mkfs.xfs' : kind === 'btrfs' ? 'mkfs.btrfs' : undefined;
  if (tool === undefined) return undefined;
  try {
    execaSync(tool, ['-V'], { stdin: 'ignore', reject: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return `${tool} not installed`;
  }
  return undefined;
}
