// `npm run history -- append <result.json>` adds a run's summary line to results/history.jsonl
// (once per run id) for the history notebook; `list` prints the recorded runs.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { appendHistory, readHistory } from '../bench/compare/history-file.js';
import { readResult } from '../bench/results/validate.js';
import { runIfMain } from './run-main.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
export const defaultHistoryPath = path.join(repoRoot, 'results', 'history.jsonl');

export const usage = `usage: npm run history -- append <result.json…> [--history FILE]
       npm run history -- list [--history FILE]

  --history <file>   the history file (default results/history.jsonl)
`;

/** Runs the CLI; returns the exit status. Output goes to `out`, errors to `err`. */
export async function main(
  argv: readonly string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  let values: { history?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: { history: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (e) {
    err(`history: ${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help === true) {
    out(usage);
    return 0;
  }
  const [command, ...files] = positionals;
  const historyPath = path.resolve(values.history ?? defaultHistoryPath);
  try {
    if (command === 'append' && files.length > 0) {
      for (const file of files) {
        const doc = await readResult(file);
        const rel = path.relative(repoRoot, path.resolve(file));
        const { added } = await appendHistory(historyPath, doc, rel.startsWith('..') ? path.resolve(file) : rel);
        out(
          `${added ? 'added' : 'already recorded'}: run ${doc.run.id} (${doc.cases.length} cases) ${added ? 'to' : 'in'} ${historyPath}\n`,
        );
      }
      return 0;
    }
    if (command === 'list' && files.length === 0) {
      for (const line of await readHistory(historyPath)) {
        out(
          `${line.startedAt}  ${line.gitCommit?.slice(0, 10) ?? 'no-commit '}  ${line.profile.padEnd(7)}  ${line.hostname} (${line.hostFingerprint})  ${line.cases.length} cases  ${line.runId}\n`,
        );
      }
      return 0;
    }
    err(`history: expected 'append <result.json…>' or 'list'\n\n${usage}`);
    return 2;
  } catch (e) {
    err(`history: ${(e as Error).message}\n`);
    return 2;
  }
}

runIfMain(import.meta.url, 'history', main, 2);
