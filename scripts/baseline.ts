// `npm run baseline -- record <result.json…>` files one run, or several runs of one commit
// merged into one document (so compare can estimate the between-run variance), as its host
// class's baseline; `path <result.json>` prints where that baseline lives (CI compares against it).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidArgument } from '../engine/errdefs/errors.js';
import { writeFileAtomic } from '../engine/fsutil/atomic-write.js';
import { baselinePath } from '../bench/compare/host-class.js';
import type { ResultDocument } from '../bench/results/document.js';
import { mergeRuns } from '../bench/results/merge-runs.js';
import { readResult, validateResult } from '../bench/results/validate.js';
import { runIfMain } from './run-main.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Refuses a run that must not stand for berth's speed: an injected delay. */
function checkBaselineRun(doc: ResultDocument, file: string): void {
  const d = doc.run.injectedDelay;
  if (d !== undefined && d !== null)
    throw invalidArgument(
      `result file ${file}: carries a test-only injected delay (${d.spec}); it cannot be a baseline`,
    );
}

/**
 * Files results/baselines/<host class>/<profile>.json under `root`, replacing the
 * previous baseline atomically, and returns the path written. One file is copied as
 * is (validated first); several are merged (mergeRuns: same profile and host, and here
 * also the same commit with a clean tree) into one document that records each run.
 * Fails with INVALID_ARGUMENT for an invalid file, an injected delay, runs of different
 * commits or a dirty tree, or an unknown core count (no host class).
 */
export async function recordBaseline(files: string | readonly string[], root = repoRoot): Promise<string> {
  const list = typeof files === 'string' ? [files] : [...files];
  if (list.length === 0) throw invalidArgument('baseline: no result file');
  const docs = await Promise.all(list.map((f) => readResult(f)));
  docs.forEach((d, i) => checkBaselineRun(d, list[i]));
  if (docs.length === 1) {
    const dest = path.join(root, baselinePath(docs[0].host, docs[0].run.profile));
    await writeFileAtomic(dest, await readFile(list[0]), { mode: 0o644, makeDirs: true, subject: `baseline ${dest}` });
    return dest;
  }
  const commits = new Set(docs.map((d) => d.run.gitCommit));
  if (commits.size > 1)
    throw invalidArgument(
      `baseline: the runs come from ${commits.size} commits (${[...commits].map((c) => c?.slice(0, 10) ?? 'none').join(', ')}); a baseline's runs must all be of one commit`,
    );
  const dirty = list.filter((_, i) => docs[i].run.gitDirty === true);
  if (dirty.length > 0)
    throw invalidArgument(`baseline: ${dirty.join(', ')} ran from a checkout with uncommitted changes`);
  const merged = validateResult(mergeRuns(docs), 'merged baseline');
  const dest = path.join(root, baselinePath(merged.host, merged.run.profile));
  await writeFileAtomic(dest, `${JSON.stringify(merged, null, 2)}\n`, {
    mode: 0o644,
    makeDirs: true,
    subject: `baseline ${dest}`,
  });
  return dest;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...files] = argv;
  if ((command !== 'record' && command !== 'path') || files.length === 0 || (command === 'path' && files.length > 1)) {
    process.stderr.write(
      'usage: npm run baseline -- record <result.json> [<result.json> …]   (several runs of one commit are merged)\n       npm run baseline -- path <result.json>\n',
    );
    return 2;
  }
  try {
    if (command === 'path') {
      const doc = await readResult(files[0]);
      process.stdout.write(`${baselinePath(doc.host, doc.run.profile)}\n`);
    } else {
      process.stderr.write(`baseline recorded: ${await recordBaseline(files)}\n`);
    }
    return 0;
  } catch (err) {
    process.stderr.write(`baseline: ${(err as Error).message}\n`);
    return 2;
  }
}

runIfMain(import.meta.url, 'baseline', main, 2);
