// Writes a text file all-or-nothing (temp file in the same folder, then rename), for
// the compare report, history lines' rewrites and figures: no half-written output.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { wrap } from '../../engine/errdefs/errors.js';

/**
 * Replaces `path` with `data` atomically; parent folders are created. On failure the
 * temp file is removed and `path` keeps its old content; the error (errno class)
 * names `subject` (default `file <path>`). Cost: one write and one rename.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, subject = `file ${path}`): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(tmp, data, { flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw wrap(err, subject);
  }
}
