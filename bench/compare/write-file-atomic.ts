// Writes a text file all-or-nothing (temp file in the same folder, then rename), for
// the compare report, history lines' rewrites and figures: no half-written output.
import { wrap } from '../../engine/errdefs/errors.js';
import { writeFileAtomic as writeAtomically } from '../../engine/fsutil/atomic-write.js';

/**
 * Replaces `path` with `data` atomically (mode 0644); parent folders are created.
 * On failure the temp file is removed and `path` keeps its old content; the error
 * (errno class) names `subject` (default `file <path>`). Cost: one write and one
 * rename, in one threadpool job.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, subject = `file ${path}`): Promise<void> {
  try {
    await writeAtomically(path, data, { mode: 0o644, makeDirs: true });
  } catch (err) {
    throw wrap(err, subject);
  }
}
