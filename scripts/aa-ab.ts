// `npx tsx scripts/aa-ab.ts [options]`: measures how well `npm run compare` tells a change from
// noise on this host. A/A: several quick runs of one commit, each compared with the others
// merged (every regression called is a false positive). A/B: runs with a known slowdown
// injected into one case (BERTH_BENCH_INJECT_DELAY), compared with all A runs merged (the
// share of injected cases called regressions is the detection rate). Results go to --out,
// never into the repository: they describe the host they were measured on.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { invalidArgument } from '../engine/errdefs/errors.js';
import { writeFileAtomic } from '../engine/fsutil/atomic-write.js';
import {
  experimentPath,
  experimentRecord,
  formatExperiment,
  summarizeExperiment,
  summarizeInterleaved,
  validateExperiment,
} from '../bench/compare/experiment.js';
import { parseThreshold } from '../bench/compare/index.js';
import { INJECT_DELAY_ENV, parseInjectDelay } from '../bench/inject-delay.js';
import type { ResultDocument } from '../bench/results/document.js';
import { readResult } from '../bench/results/validate.js';
import { runIfMain } from './run-main.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export const usage = `usage: npx tsx scripts/aa-ab.ts --out <dir> [options]

  --out <dir>          where the run files and aa-ab.json go (required; not the repository)
  --suite <name>       suite to run (default trace: no root, no network)
  --profile <name>     bench profile (default quick)
  --runs <n>           A runs of the unchanged commit (default 5, at least 3)
  --b-runs <n>         runs per injected slowdown (default 3)
  --inject <case>      the case to slow, as BERTH_BENCH_INJECT_DELAY names it without the
                       percentage (default "trace/call mode=sync tracing=plain")
  --slowdowns <list>   injected slowdowns in percent (default 10,25)
  --threshold <p>      the bound a regression must exceed (default 0%: the statistics alone)
  --from <dir>         analyse the run files already in <dir> instead of running the bench
  --interleave         run A and B in balanced interleaved rounds (A B₁ A B₂, then reversed) and
                       add the paired verdicts (each B run against the A run beside it) to the
                       summary; A/A pairs the A runs in alternating halves (with --from: the
                       runs there were interleaved; their start and end times give the order)
  --alpha <a>          significance level of the interleaved (paired) test (default 0.05)
  --pairs-per <k>      cut each interleaved comparison into disjoint groups of k candidate runs
                       (more verdicts, each on fewer pairs; default: all runs in one comparison)
  --record             also file the summary with its provenance (host, commit, load, run ids)
                       in results/experiments/<host class>/aa-ab-<suite>-<profile>.json, where
                       the calibration notebook page reads it (the run files stay in --out)
`;

async function bench(out: string, suite: string, profile: string, env: Record<string, string>): Promise<void> {
  process.stderr.write(
    `bench → ${out}${
      Object.keys(env).length > 0
        ? ` (${Object.entries(env)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')})`
        : ''
    }\n`,
  );
  // exit 1 (a suite failed) still writes the file; the analysis reads what was measured
  const r = await execa(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'bench', 'cli.ts'), '--suite', suite, '--profile', profile, '--out', out],
    {
      cwd: repoRoot,
      env,
      reject: false,
      stdout: 'ignore',
      stderr: 'inherit',
    },
  );
  if (r.exitCode !== 0 && r.exitCode !== 1) throw new Error(`bench ${out}: exit ${r.exitCode ?? r.signal}`);
}

/** One bench run of an interleaved session: an A run, or the B run of one slowdown (index into the list). */
export type ScheduleSlot = { side: 'a'; index: number } | { side: 'b'; slowdown: number; index: number };

/**
 * The order of an interleaved session: rounds of `A B₁ A B₂ …` (one A before each
 * slowdown's B run while A runs last), every other round reversed (`… B₂ A B₁ A`), so
 * each B run has an A run beside it and a drift of the host over the session falls on
 * both sides alike (a balanced ABBA order). Extra A runs go at the end of the rounds.
 * Pure.
 */
export function interleavedSchedule(aCount: number, bCount: number, slowdowns: number): ScheduleSlot[] {
  const out: ScheduleSlot[] = [];
  let a = 0;
  for (let r = 0; r < bCount || a < aCount; r++) {
    const round: ScheduleSlot[] = [];
    for (let s = 0; s < Math.max(1, slowdowns); s++) {
      if (a < aCount) round.push({ side: 'a', index: a++ });
      if (r < bCount && s < slowdowns) round.push({ side: 'b', slowdown: s, index: r });
    }
    out.push(...(r % 2 === 1 ? round.reverse() : round));
  }
  // A runs numbered in the order they run
  let next = 0;
  return out.map((slot) => (slot.side === 'a' ? { side: 'a', index: next++ } : slot));
}

export async function main(argv: readonly string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      options: {
        out: { type: 'string' },
        suite: { type: 'string' },
        profile: { type: 'string' },
        runs: { type: 'string' },
        'b-runs': { type: 'string' },
        inject: { type: 'string' },
        slowdowns: { type: 'string' },
        threshold: { type: 'string' },
        from: { type: 'string' },
        record: { type: 'boolean' },
        interleave: { type: 'boolean' },
        alpha: { type: 'string' },
        'pairs-per': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`aa-ab: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(usage);
    return 0;
  }
  try {
    const count = (flag: string, v: unknown, dflt: number, min: number) => {
      const n = v === undefined ? dflt : Number(v);
      if (!Number.isSafeInteger(n) || n < min)
        throw invalidArgument(`--${flag} ${JSON.stringify(v)}: expected an integer ≥ ${min}`);
      return n;
    };
    const dir = path.resolve(String(values.from ?? values.out ?? ''));
    if (values.out === undefined && values.from === undefined) throw invalidArgument('aa-ab: --out <dir> is required');
    if (!path.relative(repoRoot, dir).startsWith('..'))
      throw invalidArgument(
        `aa-ab: ${dir} is inside the repository; experiment results describe one host and stay outside it`,
      );
    const suite = String(values.suite ?? 'trace');
    const profile = String(values.profile ?? 'quick');
    const aCount = count('runs', values.runs, 5, 3);
    const bCount = count('b-runs', values['b-runs'], 3, 1);
    const inject = String(values.inject ?? 'trace/call mode=sync tracing=plain');
    const slowdowns = String(values.slowdowns ?? '10,25')
      .split(',')
      .map((s) => parseThreshold(s.trim(), '--slowdowns'));
    for (const s of slowdowns) parseInjectDelay(`${inject}:${s * 100}%`); // checks the case spec early
    const threshold = values.threshold === undefined ? 0 : parseThreshold(String(values.threshold), '--threshold');
    await mkdir(dir, { recursive: true });
    const aFile = (i: number) => path.join(dir, `a-${i}.json`);
    const bFile = (s: number, i: number) => path.join(dir, `b-${Math.round(s * 100)}-${i}.json`);
    if (values.from === undefined) {
      const env = (s: number | null) => ({ [INJECT_DELAY_ENV]: s === null ? '' : `${inject}:${s * 100}%` });
      if (values.interleave === true) {
        // balanced rounds (A B₁ A B₂, then reversed), so every B run has an A run beside it
        for (const slot of interleavedSchedule(aCount, bCount, slowdowns.length))
          if (slot.side === 'a') await bench(aFile(slot.index), suite, profile, env(null));
          else await bench(bFile(slowdowns[slot.slowdown], slot.index), suite, profile, env(slowdowns[slot.slowdown]));
      } else {
        // A and B runs alternate, so a drift of the host over the hour hits both alike
        for (let i = 0; i < Math.max(aCount, bCount); i++) {
          if (i < aCount) await bench(aFile(i), suite, profile, env(null));
          if (i < bCount) for (const s of slowdowns) await bench(bFile(s, i), suite, profile, env(s));
        }
      }
    }
    const aRuns = await Promise.all(Array.from({ length: aCount }, (_, i) => readResult(aFile(i))));
    const bRuns = new Map<number, ResultDocument[]>();
    for (const s of slowdowns)
      bRuns.set(s, await Promise.all(Array.from({ length: bCount }, (_, i) => readResult(bFile(s, i)))));
    const summary = summarizeExperiment(aRuns, bRuns, threshold);
    if (values.interleave === true) {
      const alpha = values.alpha === undefined ? 0.05 : Number(values.alpha);
      if (!(alpha > 0 && alpha < 1))
        throw invalidArgument(`--alpha ${JSON.stringify(values.alpha)}: expected a number within (0, 1)`);
      const k = values['pairs-per'] === undefined ? null : count('pairs-per', values['pairs-per'], 0, 2);
      summary.interleaved = summarizeInterleaved(aRuns, bRuns, { threshold, alpha, pairsPerComparison: k });
    } else if (values.alpha !== undefined || values['pairs-per'] !== undefined) {
      throw invalidArgument('aa-ab: --alpha and --pairs-per apply to --interleave only');
    }
    const report = path.join(dir, 'aa-ab.json');
    await writeFileAtomic(report, `${JSON.stringify(summary, null, 2)}\n`, {
      mode: 0o644,
      makeDirs: true,
      subject: `experiment summary ${report}`,
    });
    process.stdout.write(`${formatExperiment(summary)}\nsummary written to ${report}\n`);
    if (values.record === true) {
      const record = validateExperiment(experimentRecord(summary, aRuns, bRuns), 'experiment record');
      const file = path.join(repoRoot, experimentPath(record));
      await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`, {
        mode: 0o644,
        makeDirs: true,
        subject: `experiment record ${file}`,
      });
      process.stdout.write(`recorded in ${path.relative(repoRoot, file)}\n`);
    }
    return 0;
  } catch (err) {
    process.stderr.write(`aa-ab: ${(err as Error).message}\n`);
    return 2;
  }
}

runIfMain(import.meta.url, 'aa-ab', main, 2);
