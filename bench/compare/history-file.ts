// results/history.jsonl on disk: read it, and add a run's line all-or-nothing (the
// whole file is rewritten through a temp file and a rename), once per run id.
import { readFile } from 'node:fs/promises';
import { invalidArgument, wrap } from '../../engine/errdefs/errors.js';
import type { ResultDocument } from '../results/document.js';
import { historyLine, parseHistory, type HistoryLine } from './history-line.js';
import { writeFileAtomic } from '../../engine/fsutil/atomic-write.js';

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw wrap(err, `history file ${path}`);
  }
}

/**
 * The lines of a history file, oldest first; an absent file is an empty history.
 * Fails with INVALID_ARGUMENT naming the file and line on a malformed line, or the
 * errno class when it cannot be read. Cost O(size).
 */
export async function readHistory(path: string): Promise<HistoryLine[]> {
  const text = await readText(path);
  try {
    return parseHistory(text, `history file ${path}`);
  } catch (err) {
    throw invalidArgument((err as Error).message, { cause: err });
  }
}

/**
 * Adds the line of `doc` (from result file `file`) to the history at `path`.
 * Idempotent: a run id already present is not added again (`added: false`). The
 * existing lines are checked first, so a malformed history is reported, not extended.
 * The file is replaced atomically (old or new content after a crash, never half a
 * line). Cost: reading and rewriting the whole file.
 */
export async function appendHistory(
  path: string,
  doc: ResultDocument,
  file: string,
): Promise<{ added: boolean; line: HistoryLine }> {
  const text = await readText(path);
  let existing: HistoryLine[];
  try {
    existing = parseHistory(text, `history file ${path}`);
  } catch (err) {
    throw invalidArgument((err as Error).message, { cause: err });
  }
  const line = historyLine(doc, file);
  if (existing.some((l) => l.runId === line.runId)) return { added: false, line };
  const prefix = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  await writeFileAtomic(path, `${prefix}${JSON.stringify(line)}\n`, {
    mode: 0o644,
    makeDirs: true,
    subject: `history file ${path}`,
  });
  return { added: true, line };
}
