// Atomic file writes for every module: each file goes to a temp file in its
// directory, is written (and fsynced when asked) and renamed over its path, so a
// reader sees the old or the new content, never a part. The whole batch is one
// native threadpool job (native/src/files.cc): with fs.promises the same work is
// five threadpool round trips per file, each also waiting for the event loop.
// fs.promises, not node:fs/promises: the getter loads it (with streams and readline) only when a
// directory is made, not at every command's start
import {
  closeSync,
  constants,
  fchmodSync,
  openSync,
  promises as fsp,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { native } from '../../native/index.js';
import { wrap } from '../errdefs/errors.js';

export interface AtomicFile {
  path: string;
  data: string | Uint8Array;
  /** Permission bits, applied exactly, without the umask (default 0o600). */
  mode?: number;
  /** fsync the file before the rename (default false). */
  sync?: boolean;
  /**
   * fsync the directory after the rename (default false), so the new name survives a
   * power cut too. A file system that cannot sync a directory is not an error. When
   * this fsync fails the new content is already in place.
   */
  syncDir?: boolean;
}

export interface AtomicWriteOptions {
  /** Create missing parent directories (then the batch is retried once). Default false: ENOENT. */
  makeDirs?: boolean;
  /**
   * The subject of a failure: with it, a failure is a BerthError `<subject>: <errno>: …`
   * (errdefs wrap); without it, the Node-style system error itself.
   */
  subject?: string;
}

/**
 * Writes files in order, each atomically. Rejects on the first failure (see
 * AtomicWriteOptions.subject; a system error has code, syscall and path), that
 * file's temp removed; files before it stay written.
 */
export async function writeFilesAtomic(files: readonly AtomicFile[], opts: AtomicWriteOptions = {}): Promise<void> {
  const batch = files.map((f) => ({
    ...f,
    data:
      typeof f.data === 'string' || Buffer.isBuffer(f.data)
        ? f.data
        : Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength),
  }));
  try {
    try {
      await native().writeFilesAtomic(batch);
    } catch (err) {
      if (opts.makeDirs !== true || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      for (const dir of new Set(files.map((f) => dirname(f.path)))) await fsp.mkdir(dir, { recursive: true });
      await native().writeFilesAtomic(batch);
    }
  } catch (err) {
    throw opts.subject === undefined ? err : wrap(err, opts.subject);
  }
}

/** writeFilesAtomic for one file. */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  opts: Omit<AtomicFile, 'path' | 'data'> & AtomicWriteOptions = {},
): Promise<void> {
  const { makeDirs, subject, ...file } = opts;
  await writeFilesAtomic([{ path, data, ...file }], { makeDirs, subject });
}

let syncTemps = 0;

/**
 * writeFileAtomic in this thread (open O_EXCL, write, fchmod, close, rename; no fsync):
 * for a short command that waits for the write anyway, such as berth-runtime's state
 * store, without a thread-pool round trip. Throws as writeFileAtomic rejects; the temp
 * file is gone after a failure.
 */
export function writeFileAtomicSync(
  path: string,
  data: string | Uint8Array,
  opts: { mode?: number; subject?: string } = {},
): void {
  const mode = opts.mode ?? 0o600;
  // not the native writer's `.<name>.<pid>.<n>`: both may write in one process
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.s${syncTemps++}`);
  let made = false;
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    made = true;
    try {
      writeFileSync(fd, data);
      fchmodSync(fd, mode);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    if (made) {
      try {
        unlinkSync(tmp);
      } catch {
        // renamed already, or removed by someone else
      }
    }
    throw opts.subject === undefined ? err : wrap(err, opts.subject);
  }
}
