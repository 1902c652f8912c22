// A throw-away filesystem (btrfs, ext4, xfs) on a sparse loop file: for the btrfs
// driver, its tests, and the harness's controlled backing stores. Creation undoes
// every step already done when a later one fails; the disposer always undoes all
// of them (unmount, detach the loop device, delete the file and folders).
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native } from '../../native/index.js';
import { isBerthError, unavailable, wrap } from '../errdefs/errors.js';
import { runChecked } from '../fsutil/run-command.js';
import { MNT_DETACH } from './host-mount.js';
import { isMountPoint } from './mountinfo.js';

export type LoopFsType = 'btrfs' | 'ext4' | 'xfs';

/**
 * mkfs per type: quiet, forced onto a plain file, no discard pass; ext4 initialises
 * its inode tables now rather than in a background thread during a measurement.
 * btrfs is mounted nodiscard: newer kernels default it to discard=async, which
 * punches holes into the loop file while a benchmark runs.
 */
export const LOOP_MKFS: Record<LoopFsType, { cmd: string; args: string[]; pkg: string; mountData: string[] }> = {
  ext4: {
    cmd: 'mkfs.ext4',
    args: ['-q', '-F', '-E', 'nodiscard,lazy_itable_init=0,lazy_journal_init=0'],
    pkg: 'e2fsprogs',
    mountData: [],
  },
  xfs: { cmd: 'mkfs.xfs', args: ['-q', '-f', '-K'], pkg: 'xfsprogs', mountData: [] },
  btrfs: { cmd: 'mkfs.btrfs', args: ['-q', '-f', '-K'], pkg: 'btrfs-progs', mountData: ['nodiscard'] },
};

export interface LoopFilesystem {
  readonly fsType: LoopFsType;
  /** Where the filesystem is mounted. */
  readonly mountPoint: string;
  /** The loop device (/dev/loopN). */
  readonly device: string;
  /** The sparse backing file. */
  readonly file: string;
  /**
   * Unmounts, detaches the loop device and deletes the file and folders. Idempotent; a step already undone is not an
   * error.
   */
  dispose(): Promise<void>;
}

export interface LoopFilesystemOptions {
  /** Parent folder for the image file and the mount point (default: the OS temp dir). */
  dir?: string;
  /** Size of the sparse file in MiB (default 256; btrfs needs ≥ 114, xfs ≥ 300). */
  sizeMiB?: number;
  /** Extra mount(2) data options, comma-separated. */
  mountOptions?: string;
}

/**
 * Creates a sparse file, runs mkfs on it, attaches it with `losetup --find` and
 * mounts it. Fails with UNAVAILABLE when the mkfs tool or loop devices are missing,
 * else with the failing step's error naming the file; nothing is left behind.
 * Cost: the mkfs and losetup process spawns, and mkfs's writes.
 */
export async function createLoopFilesystem(
  fsType: LoopFsType,
  opts: LoopFilesystemOptions = {},
): Promise<LoopFilesystem> {
  const m = LOOP_MKFS[fsType];
  const base = await mkdtemp(join(opts.dir ?? tmpdir(), `berth-${fsType}-${process.pid}-`));
  const file = join(base, `${fsType}.img`);
  const mountPoint = join(base, 'mnt');
  const subject = `loop ${fsType} ${file}`;
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
        // busy (a straggling reader): detach lazily so the loop device can still go
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
        await runChecked('losetup', ['-d', device]);
        device = '';
      } catch (err) {
        errors.push(err);
      }
    }
    await rm(base, { recursive: true, force: true }).catch((err: unknown) => errors.push(err));
    if (errors.length > 0) throw wrap(errors[0], `${subject}: dispose`);
    disposed = true;
  };
  try {
    const fh = await open(file, 'w', 0o600);
    try {
      await fh.truncate((opts.sizeMiB ?? 256) * 1024 * 1024);
    } finally {
      await fh.close();
    }
    try {
      await runChecked(m.cmd, [...m.args, file]);
    } catch (err) {
      throw isBerthError(err, 'UNAVAILABLE')
        ? unavailable(`${subject}: ${m.cmd} not found (install ${m.pkg})`, { cause: err })
        : wrap(err, `${subject}: ${m.cmd}`);
    }
    try {
      device = (await runChecked('losetup', ['--find', '--show', '--', file])).stdout.trim();
    } catch (err) {
      throw unavailable(`${subject}: losetup failed (${(err as Error).message})`, { cause: err });
    }
    await mkdir(mountPoint);
    const data = [...m.mountData, ...(opts.mountOptions ? [opts.mountOptions] : [])].join(',');
    try {
      native().mount(device, mountPoint, fsType, 0, data === '' ? null : data);
    } catch (err) {
      throw wrap(
        err,
        `${subject}: mount ${device} (${[fsType, data].filter((x) => x !== '').join(', ')})`,
        'UNAVAILABLE',
      );
    }
    mounted = true;
  } catch (err) {
    await dispose().catch(() => undefined);
    throw err;
  }
  return {
    fsType,
    mountPoint,
    get device() {
      return device;
    },
    file,
    dispose,
  };
}
