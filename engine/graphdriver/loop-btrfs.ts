// A throw-away btrfs filesystem on a sparse loop file, for the btrfs driver's tests
// and the harness's controlled backing stores. The disposer always undoes every
// step that was done (unmount, detach the loop device, delete the file).
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { native } from '../../native/index.js';
import { unavailable, wrap } from '../errdefs/errors.js';
import { MNT_DETACH } from './host-mount.js';
import { isMountPoint } from './mountinfo.js';

export interface LoopBtrfs {
  /** Where the filesystem is mounted. */
  readonly mountPoint: string;
  /** The loop device (/dev/loopN). */
  readonly device: string;
  /** The sparse backing file. */
  readonly file: string;
  /** Unmounts, detaches the loop device and deletes the file and folders. Idempotent; never throws for a step already undone. */
  dispose(): Promise<void>;
}

export interface LoopBtrfsOptions {
  /** Parent folder for the image file and the mount point (default: the OS temp dir). */
  dir?: string;
  /** Size of the sparse file (default 256 MiB; btrfs needs ≥ 114 MiB). */
  sizeMiB?: number;
}

/**
 * Creates a sparse file, `mkfs.btrfs` on it, attaches it with `losetup --find`,
 * and mounts it. On any failure everything done so far is undone before the error
 * (UNAVAILABLE when btrfs-progs or loop devices are missing) is thrown.
 * Cost: ≈ 0.1–0.3 s (mkfs and losetup spawns).
 */
export async function createLoopBtrfs(opts: LoopBtrfsOptions = {}): Promise<LoopBtrfs> {
  const base = await mkdtemp(join(opts.dir ?? tmpdir(), `berth-btrfs-${process.pid}-`));
  const file = join(base, 'btrfs.img');
  const mountPoint = join(base, 'mnt');
  let device = '';
  let mounted = false;
  let disposed = false;
  const dispose = async (): Promise<void> => {
    if (disposed) return;
    const errors: unknown[] = [];
    if (mounted || (await isMountPoint(mountPoint).catch(() => false))) {
      try {
        native().umount2(mountPoint, 0);
      } catch (err) {
        try {
          native().umount2(mountPoint, MNT_DETACH);
        } catch (err2) {
          if ((err2 as NodeJS.ErrnoException).code !== 'EINVAL') errors.push(err ?? err2);
        }
      }
      mounted = false;
    }
    if (device !== '') {
      try {
        await execa('losetup', ['-d', device], { stdin: 'ignore' });
        device = '';
      } catch (err) {
        errors.push(err);
      }
    }
    await rm(base, { recursive: true, force: true }).catch((err: unknown) => errors.push(err));
    if (errors.length > 0) throw wrap(errors[0], `loop btrfs ${file}: dispose`);
    disposed = true;
  };
  try {
    const fh = await open(file, 'w', 0o600);
    await fh.truncate((opts.sizeMiB ?? 256) * 1024 * 1024);
    await fh.close();
    try {
      await execa('mkfs.btrfs', ['-q', '-f', file], { stdin: 'ignore' });
    } catch (err) {
      throw (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? unavailable('loop btrfs: mkfs.btrfs not found (install btrfs-progs)', { cause: err })
        : wrap(err, `loop btrfs ${file}: mkfs.btrfs`);
    }
    try {
      device = (await execa('losetup', ['--find', '--show', '--', file], { stdin: 'ignore' })).stdout.trim();
    } catch (err) {
      throw unavailable(`loop btrfs ${file}: losetup failed (${(err as Error).message})`, { cause: err });
    }
    await mkdir(mountPoint);
    try {
      native().mount(device, mountPoint, 'btrfs', 0, null);
    } catch (err) {
      throw wrap(err, `loop btrfs ${device}: mount on ${mountPoint}`, 'UNAVAILABLE');
    }
    mounted = true;
  } catch (err) {
    await dispose().catch(() => undefined);
    throw err;
  }
  return {
    mountPoint,
    get device() {
      return device;
    },
    file,
    dispose,
  };
}
