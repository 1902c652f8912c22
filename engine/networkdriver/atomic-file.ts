// Crash-safe JSON state files: written to a temp file in the same directory,
// fsynced and renamed over the old one, so a reader sees the old or the new
// content, never a half-written one. The write is one native threadpool job
// (writeFilesAtomic): on a slow disk, five fs.promises round trips per file cost
// more than the syscalls themselves.
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { native } from '../../native/index.js';
import { wrap, ErrorCode } from '../errdefs/errors.js';

export interface AtomicFile {
  path: string;
  data: string | Buffer;
  /** Permission bits, exactly (default 0o600). */
  mode?: number;
  /** fsync before the rename (default false). */
  sync?: boolean;
}

/**
 * Writes files in order, each atomically, in one threadpool job; a missing
 * directory is created (then the batch is retried once). Rejects with a system
 * error (code, path) on the first failure; files before it stay written.
 */
export async function writeFilesAtomic(files: readonly AtomicFile[]): Promise<void> {
  try {
    await native().writeFilesAtomic(files);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    for (const dir of new Set(files.map((f) => dirname(f.path)))) await mkdir(dir, { recursive: true });
    await native().writeFilesAtomic(files);
  }
}

/** Writes value as JSON to path atomically (temp + fsync + rename). Creates the directory. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  try {
    await writeFilesAtomic([{ path, data: `${JSON.stringify(value, null, 2)}\n`, mode: 0o600, sync: true }]);
  } catch (err) {
    throw wrap(err, `state ${path}: write`);
  }
}

/** Reads a JSON file; undefined when it does not exist, DATA_LOSS when it is not JSON. */
export async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw wrap(err, `state ${path}: read`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw wrap(err, `state ${path}: corrupt`, ErrorCode.DATA_LOSS);
  }
}

/** Removes a state file; absent is not an error. One unlink (rm would stat first). */
export async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw wrap(err, `state ${path}: remove`);
  }
}
