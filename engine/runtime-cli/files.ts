// Small file helpers for the runtime: an atomic pid file and the exec FIFO.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { wrap } from '../errdefs/errors.js';
import { writeFileAtomic } from '../fsutil/atomic-write.js';

const run = promisify(execFile);

/** Writes `pid` to `path` (mode 0644) through a temp file and rename, so readers never see it half-written. */
export async function writePidFile(path: string, pid: number): Promise<void> {
  await writeFileAtomic(path, String(pid), { mode: 0o644, subject: `pid file ${path}` });
}

/**
 * Makes the FIFO a created container's init blocks on (mode 0622 so a non-root
 * container user can open it for writing). Node has no mkfifo: coreutils' mkfifo runs
 * once (one process spawn).
 */
export async function makeFifo(path: string): Promise<void> {
  try {
    await run('mkfifo', ['-m', '0622', path]);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw wrap(new Error((e.stderr ?? e.message).trim()), `exec fifo ${path}: mkfifo`);
  }
}
