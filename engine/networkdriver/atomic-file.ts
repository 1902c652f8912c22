// Crash-safe JSON state files: written to a temp file in the same directory,
// fsynced and renamed over the old one, so a reader sees the old or the new
// content, never a half-written one.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { wrap, ErrorCode } from '../errdefs/errors.js';

/** Writes value as JSON to path atomically (temp + fsync + rename). Creates the directory. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.tmp-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(value, null, 2)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
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

/** Removes a state file; absent is not an error. */
export async function removeFile(path: string): Promise<void> {
  try {
    await rm(path, { force: true });
  } catch (err) {
    throw wrap(err, `state ${path}: remove`);
  }
}
