// `npm run compare -- <baseline.json…> <candidate.json> [--threshold 10%] [--json F] [--bounds F]`:
// the regression gate. Several baseline files (or one holding several runs) give run-level
// verdicts calibrated on the between-run variance. Exit 0: no regression; 1: a case
// regressed; 2: bad usage or input.
import { parseArgs } from 'node:util';
import { invalidArgument } from '../engine/errdefs/errors.js';
import {
  compareInterleaved,
  compareResults,
  formatReport,
  parseThreshold,
  readBounds,
  type Bounds,
} from '../bench/compare/index.js';
import { writeFileAtomic } from '../engine/fsutil/atomic-write.js';
import { readResult } from '../bench/results/validate.js';
import { mergeRuns } from '../bench/results/merge-runs.js';
import { runIfMain } from './run-main.js';

export const usage = `usage: npm run compare -- <baseline.json> [<baseline.json> …] <candidate.json> [options]
       npm run compare -- --interleaved <baseline runs…> -- <candidate runs…> [options]

  The last file is the candidate. Several baseline files (runs of one commit on one
  host), or a baseline holding several runs (bench --repeat, npm run baseline -- record
  a.json b.json …), make the verdict run-level: per-run medians, between-run variance,
  Student's t, with an effect size and the minimum detectable change per case. With one
  single-run baseline the verdict rests on within-run noise only (a warning says so).
  Derived cases (ratios, differences) are shown and never gated: their inputs are.

  --interleaved     the runs of both sides were made alternately in one session (A B B A …,
                    see docs/benchmarks.md): each candidate run is paired with the baseline run
                    closest to it in time (from the runs' start and end times), and the verdict
                    per case is a paired t test over the pairs' log-ratios of medians, with an
                    effect size and minimum detectable change from the pairs' spread. A drift of
                    the host that moves both runs of a pair cancels. Baseline runs come first,
                    then a lone --, then the candidate runs; at least 2 of each.

  --threshold <p>   allowed worsening per case, e.g. 10% (default 10%, or the bounds file's)
  --bounds <file>   per-case thresholds: {"threshold": "10%", "cases": [{"suite": …, "case": …,
                    "target": …, "parameters": {…}, "threshold": "25%"}]}, first match wins
  --alpha <a>       significance level of the tests (default 0.05)
  --seed <n>        seed of the ratio bootstrap (default 1)
  --json <file>     also write the full comparison as JSON
  --help            this text

exit status: 0 no regression, 1 a case regressed, 2 bad usage or input
`;

interface Args {
  interleaved: boolean;
  baselines: string[];
  /** One file, or the candidate runs of an interleaved session. */
  candidates: string[];
  threshold: number | undefined;
  bounds: string | undefined;
  alpha: number;
  seed: number;
  json: string | undefined;
  help: boolean;
}

/** Parses the command line; INVALID_ARGUMENT naming the flag on bad input. */
export function parseCompareArgs(argv: readonly string[]): Args {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      tokens: true,
      options: {
        threshold: { type: 'string' },
        bounds: { type: 'string' },
        alpha: { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'string' },
        interleaved: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw invalidArgument(`compare: ${(err as Error).message}`);
  }
  const { values, positionals, tokens } = parsed;
  if (values.help === true)
    return {
      interleaved: false,
      baselines: [],
      candidates: [],
      threshold: undefined,
      bounds: undefined,
      alpha: 0.05,
      seed: 1,
      json: undefined,
      help: true,
    };
  const interleaved = values.interleaved === true;
  // in the interleaved form, the lone -- splits baseline runs from candidate runs
  const split = tokens.findIndex((t) => t.kind === 'option-terminator');
  const before = split < 0 ? positionals.length : tokens.slice(0, split).filter((t) => t.kind === 'positional').length;
  if (interleaved) {
    if (split < 0)
      throw invalidArgument('compare --interleaved: separate the baseline runs from the candidate runs with a lone --');
    if (before < 2 || positionals.length - before < 2)
      throw invalidArgument(
        `compare --interleaved: expected at least 2 baseline and 2 candidate runs, got ${before} and ${positionals.length - before}`,
      );
  } else if (split >= 0) {
    throw invalidArgument('compare: a lone -- separates the two sides only with --interleaved');
  } else if (positionals.length < 2)
    throw invalidArgument(
      `compare: expected one or more baseline files and a candidate file, got ${positionals.length} file(s)`,
    );
  const alpha = values.alpha === undefined ? 0.05 : Number(values.alpha);
  if (!(alpha > 0 && alpha < 1))
    throw invalidArgument(`--alpha ${JSON.stringify(values.alpha)}: expected a number within (0, 1)`);
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw invalidArgument(`--seed ${JSON.stringify(values.seed)}: expected an integer ≥ 0`);
  return {
    interleaved,
    baselines: interleaved ? positionals.slice(0, before) : positionals.slice(0, -1),
    candidates: interleaved ? positionals.slice(before) : [positionals[positionals.length - 1]],
    threshold: values.threshold === undefined ? undefined : parseThreshold(values.threshold, '--threshold'),
    bounds: values.bounds,
    alpha,
    seed,
    json: values.json,
    help: false,
  };
}

/** Runs the comparison; returns the exit status. Output goes to `out`, errors to `err`. */
export async function main(
  argv: readonly string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  let args: Args;
  try {
    args = parseCompareArgs(argv);
  } catch (e) {
    err(`${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (args.help) {
    out(usage);
    return 0;
  }
  try {
    const [baselines, candidates] = await Promise.all([
      Promise.all(args.baselines.map((f) => readResult(f))),
      Promise.all(args.candidates.map((f) => readResult(f))),
    ]);
    const bounds: Bounds | undefined = args.bounds === undefined ? undefined : await readBounds(args.bounds);
    const options = {
      threshold: args.threshold,
      bounds,
      alpha: args.alpha,
      seed: args.seed,
      baselineFile: args.baselines.join(' + '),
      candidateFile: args.candidates.join(' + '),
    };
    const report = args.interleaved
      ? compareInterleaved(baselines, candidates, options)
      : compareResults(baselines.length === 1 ? baselines[0] : mergeRuns(baselines, args.seed), candidates[0], options);
    out(`${formatReport(report)}\n`);
    if (args.json !== undefined) {
      await writeFileAtomic(args.json, `${JSON.stringify(report, null, 2)}\n`, {
        mode: 0o644,
        makeDirs: true,
        subject: `compare report ${args.json}`,
      });
    }
    return report.regressions > 0 ? 1 : 0;
  } catch (e) {
    err(`compare: ${(e as Error).message}\n`);
    return 2;
  }
}

runIfMain(import.meta.url, 'compare', main, 2);
