// `npm run compare -- <baseline.json…> <candidate.json> [--threshold 10%] [--json F] [--bounds F]`:
// the regression gate. Several baseline files (or one holding several runs) give run-level
// verdicts calibrated on the between-run variance. Exit 0: no regression; 1: a case
// regressed; 2: bad usage or input.
import { parseArgs } from 'node:util';
import { invalidArgument } from '../engine/errdefs/errors.js';
import { compareResults, formatReport, parseThreshold, readBounds, type Bounds } from '../bench/compare/index.js';
import { writeFileAtomic } from '../engine/fsutil/atomic-write.js';
import { readResult } from '../bench/results/validate.js';
import { mergeRuns } from '../bench/results/merge-runs.js';
import { runIfMain } from './run-main.js';

export const usage = `usage: npm run compare -- <baseline.json> [<baseline.json> …] <candidate.json> [options]

  The last file is the candidate. Several baseline files (runs of one commit on one
  host), or a baseline holding several runs (bench --repeat, npm run baseline -- record
  a.json b.json …), make the verdict run-level: per-run medians, between-run variance,
  Student's t, with an effect size and the minimum detectable change per case. With one
  single-run baseline the verdict rests on within-run noise only (a warning says so).
  Derived cases (ratios, differences) are shown and never gated: their inputs are.

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
  baselines: string[];
  candidate: string;
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
      options: {
        threshold: { type: 'string' },
        bounds: { type: 'string' },
        alpha: { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw invalidArgument(`compare: ${(err as Error).message}`);
  }
  const { values, positionals } = parsed;
  if (values.help === true)
    return {
      baselines: [],
      candidate: '',
      threshold: undefined,
      bounds: undefined,
      alpha: 0.05,
      seed: 1,
      json: undefined,
      help: true,
    };
  if (positionals.length < 2)
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
    baselines: positionals.slice(0, -1),
    candidate: positionals[positionals.length - 1],
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
    const [baselines, candidate] = await Promise.all([
      Promise.all(args.baselines.map((f) => readResult(f))),
      readResult(args.candidate),
    ]);
    const baseline = baselines.length === 1 ? baselines[0] : mergeRuns(baselines, args.seed);
    const bounds: Bounds | undefined = args.bounds === undefined ? undefined : await readBounds(args.bounds);
    const report = compareResults(baseline, candidate, {
      threshold: args.threshold,
      bounds,
      alpha: args.alpha,
      seed: args.seed,
      baselineFile: args.baselines.join(' + '),
      candidateFile: args.candidate,
    });
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
