// Controlled backing stores for benchmarks: the filesystem under a graphdriver (or any
// disk-bound workload) is part of the experiment, so a suite picks it and records it.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidArgument, isBerthError, wrap } from '../engine/errdefs/errors.js';
import { MNT_DETACH } from '../engine/graphdriver/host-mount.js';
import { createLoopFilesystem, LOOP_MKFS, type LoopFilesystem } from '../engine/graphdriver/loop-fs.js';
import { backingMount, isMountPoint } from '../engine/graphdriver/mountinfo.js';
import { native } from '../native/index.js';

/**
 * host: a folder on the data root's own filesystem (whatever it is);
 * tmpfs: a fresh tmpfs; ext4 / xfs / btrfs: a fresh filesystem on a sparse loop file.
 */
export type BackingKind = 'host' | 'tmpfs' | 'ext4' | 'xfs' | 'btrfs';
export const BACKING_KINDS: readonly BackingKind[] = ['host', 'tmpfs', 'ext4', 'xfs', 'btrfs'];

export interface BackingStore {
  /** An empty directory on the store, where the workload keeps its data. */
  readonly path: string;
  readonly kind: BackingKind;
  /** The filesystem type `path` lives on, read from mountinfo (ext4, tmpfs, btrfs, …). */
  readonly filesystem: string;
  /** The loop device of a loop-file store, else undefined. */
  readonly device: string | undefined;
  /** How the store was made, in a sentence (for a case's notes). */
  readonly description: string;
  /**
   * Unmounts, detaches the loop device and deletes every file and folder the store
   * made. Idempotent; runs every step even when one fails, then throws the first
   * failure naming the store.
   */
  dispose(): Promise<void>;
}

export interface BackingStoreOptions {
  /** Parent folder for the store's folders and loop file (e.g. the run's data root). */
  dir: string;
  /** tmpfs size limit or loop file size (default 1024 MiB; xfs needs ≥ 300, btrfs ≥ 114). */
  sizeMiB?: number;
  /** Extra mount(2) options for tmpfs and loop stores (comma-separated). */
  mountOptions?: string;
}

const DEFAULT_SIZE_MIB = 1024;

/**
 * Creates a backing store of `kind` under `opts.dir`: a folder (host), a tmpfs mount,
 * or a sparse file formatted with mkfs, attached with `losetup --find` and mounted.
 * On any failure every step done so far is undone (unmount, detach, delete) before
 * the error is thrown: INVALID_ARGUMENT for a bad kind or size, UNAVAILABLE when a
 * tool or loop devices are missing, else the step's error naming the store.
 * Cost: host/tmpfs a mkdir and a mount; loop stores the mkfs and losetup spawns.
 */
export async function createBackingStore(kind: BackingKind, opts: BackingStoreOptions): Promise<BackingStore> {
  if (!BACKING_KINDS.includes(kind))
    throw invalidArgument(`backing store ${JSON.stringify(kind)}: unknown kind (known: ${BACKING_KINDS.join(', ')})`);
  const sizeMiB = opts.sizeMiB ?? DEFAULT_SIZE_MIB;
  if (!Number.isInteger(sizeMiB) || sizeMiB < 1)
    throw invalidArgument(`backing store ${kind}: size ${sizeMiB} MiB is not a positive integer`);
  let base: string;
  try {
    base = await mkdtemp(join(opts.dir, `berth-store-${kind}-${process.pid}-`));
  } catch (err) {
    throw wrap(err, `backing store ${kind} in ${opts.dir}`);
  }
  const subject = `backing store ${kind} ${base}`;
  const mountPoint = join(base, 'mnt');
  let loop: LoopFilesystem | undefined;
  let tmpfsMounted = false;
  let disposed = false;

  const dispose = async (): Promise<void> => {
    if (disposed) return;
    const errors: unknown[] = [];
    if (loop !== undefined) {
      await loop.dispose().catch((err: unknown) => errors.push(err));
    }
    if (tmpfsMounted || (await isMountPoint(mountPoint).catch(() => false))) {
      try {
        native().umount2(mountPoint, 0);
      } catch (err) {
        // busy (a straggling reader): detach lazily
        try {
          native().umount2(mountPoint, MNT_DETACH);
        } catch (err2) {
          if ((err2 as NodeJS.ErrnoException).code !== 'EINVAL') errors.push(err);
        }
      }
      tmpfsMounted = false;
    }
    await rm(base, { recursive: true, force: true }).catch((err: unknown) => errors.push(err));
    if (errors.length > 0) throw wrap(errors[0], `${subject}: dispose`);
    disposed = true;
  };

  try {
    let root = mountPoint;
    if (kind === 'tmpfs') {
      await mkdir(mountPoint);
      const data = [`size=${sizeMiB}m`, 'mode=0755', ...(opts.mountOptions ? [opts.mountOptions] : [])].join(',');
      try {
        native().mount('tmpfs', mountPoint, 'tmpfs', 0, data);
      } catch (err) {
        throw wrap(err, `${subject}: mount tmpfs (${data})`, 'UNAVAILABLE');
      }
      tmpfsMounted = true;
    } else if (kind === 'host') {
      await mkdir(mountPoint);
    } else {
      try {
        loop = await createLoopFilesystem(kind, { dir: base, sizeMiB, mountOptions: opts.mountOptions });
      } catch (err) {
        throw wrap(err, subject); // keeps the code (UNAVAILABLE when a tool is missing)
      }
      root = loop.mountPoint;
    }
    const path = join(root, 'data');
    await mkdir(path, { mode: 0o755 });
    const filesystem = (await backingMount(path)).fsType;
    const description =
      kind === 'host'
        ? `a folder on the data root's filesystem (${filesystem}) under ${opts.dir}`
        : kind === 'tmpfs'
          ? `a fresh tmpfs (size=${sizeMiB}m)`
          : `a fresh ${kind} (${[LOOP_MKFS[kind].cmd, ...LOOP_MKFS[kind].args].join(' ')}) on a ${sizeMiB} MiB sparse loop file in ${opts.dir}` +
            `${kind === 'btrfs' ? ', mounted nodiscard (newer kernels default btrfs to discard=async, which punches holes in the loop file during the run)' : ''}`;
    return {
      path,
      kind,
      filesystem,
      get device() {
        return loop?.device;
      },
      description,
      dispose,
    };
  } catch (err) {
    await dispose().catch(() => undefined);
    throw isBerthError(err) ? err : wrap(err, subject);
  }
}
