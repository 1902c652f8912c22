// Small file helpers for the runtime: an atomic pid file and the exec FIFO.
import { execFile } from 'node:child_process';
import { rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { promisify } from 'node:util';
import { wrap } from '../errdefs/errors.js';

const run = promisify(execFile);

/** Writes `pid` to `path` through a temp file and rename, so readers never see it half-written. */
export async function writePidFile(path: string, pid: number): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, String(pid));
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw wrap(err, `pid file ${path}`);
  }
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
