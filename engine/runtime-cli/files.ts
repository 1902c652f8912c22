// Small file helpers for the runtime: an atomic pid file and the exec FIFO.
import { chmodSync, constants } from 'node:fs';
import { native } from '../../native/index.js';
import { wrap } from '../errdefs/errors.js';
import { writeFileAtomic } from '../fsutil/atomic-write.js';

/** Writes `pid` to `path` (mode 0644) through a temp file and rename, so readers never see it half-written. */
export async function writePidFile(path: string, pid: number): Promise<void> {
  await writeFileAtomic(path, String(pid), { mode: 0o644, subject: `pid file ${path}` });
}

/**
 * Makes the FIFO a created container's init blocks on (mode 0622 so a non-root
 * container user can open it for writing): mknod(2) through the native core, then a
 * chmod past the umask — no mkfifo process to spawn.
 */
export async function makeFifo(path: string): Promise<void> {
  try {
    native().mknod(path, constants.S_IFIFO | 0o622, 0, 0);
    chmodSync(path, 0o622);
  } catch (err) {
    throw wrap(err, `exec fifo ${path}: mknod`);
  }
}
