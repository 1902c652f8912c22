// Writes a result document to disk only after it validates, atomically, so a crash
// or a bad document never leaves a partial or invalid result file behind.

import { join } from 'node:path';
import { invalidArgument } from '../../engine/errdefs/errors.js';
import { writeFileAtomic } from '../../engine/fsutil/atomic-write.js';
import { PROFILES, type Profile, type ResultDocument } from './document.js';
import { validateResult } from './validate.js';

/**
 * Validates `doc` (see validateResult), then writes it as indented JSON to `path`
 * (mode 0644) through engine/fsutil's atomic writer: parent directories are created,
 * the bytes go to a temp file in the same directory, are fsynced, the temp file is
 * renamed over `path` (replacing an existing file), then the directory is fsynced.
 * On a failure before the rename the temp file is removed and `path` keeps its old
 * content or stays absent. Fails with INVALID_ARGUMENT for an invalid document
 * (nothing is written), or the errno class of a failed write; messages start with
 * `result file <path>`. Cost: one file write plus two fsyncs, in one threadpool job.
 */
export async function writeResult(path: string, doc: ResultDocument): Promise<void> {
  const subject = `result file ${path}`;
  validateResult(doc, subject);
  await writeFileAtomic(path, `${JSON.stringify(doc, null, 2)}\n`, {
    mode: 0o644,
    sync: true,
    syncDir: true,
    makeDirs: true,
    subject,
  });
}

/** `20261128-040127` from a date, in UTC. */
function compactUtc(date: Date): string {
  const iso = date.toISOString(); // 2026-11-28T04:01:27.123Z
  return `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}`;
}

/**
 * The conventional place of a run's result: `<root>/results/runs/<YYYYMMDD-HHMMSS>-<host>-<profile>.json`,
 * the time in UTC, the host name reduced to `[A-Za-z0-9.-]` (others become `-`, at
 * most 63 characters). `root` is the repository root. Pure. Fails with
 * INVALID_ARGUMENT for an unparsable `startedAt` or an unknown profile.
 */
export function defaultResultPath(root: string, startedAt: Date | string, hostname: string, profile: Profile): string {
  const date = typeof startedAt === 'string' ? new Date(startedAt) : startedAt;
  if (Number.isNaN(date.getTime())) throw invalidArgument(`result path: start time ${String(startedAt)} is not a date`);
  if (!(PROFILES as readonly string[]).includes(profile)) {
    throw invalidArgument(`result path: profile ${String(profile)} must be one of ${PROFILES.join(', ')}`);
  }
  const host =
    hostname
      .replace(/[^A-Za-z0-9.-]+/g, '-')
      .slice(0, 63)
      .replace(/^[.-]+|[.-]+$/g, '') || 'host';
  return join(root, 'results', 'runs', `${compactUtc(date)}-${host}-${profile}.json`);
}
