// `npm run bench -- [flags]`: picks suites, targets and a profile, runs them, and
// writes one schema-valid result document. Exit 0: all ran or were skipped/not
// built; 1: a suite failed or the document could not be written; 2: bad usage;
// 130: interrupted (what was measured is still written).
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BerthError, invalidArgument } from '../engine/errdefs/errors.js';
import { background, withSignal } from '../engine/trace/index.js';
import { isProfile, profiles, type ProfileSettings } from './profiles.js';
import { PROFILES } from './results/document.js';
import { defaultResultPath, writeResult } from './results/write.js';
import { appendHistory } from './compare/history-file.js';
import { INJECT_DELAY_ENV, parseInjectDelay } from './inject-delay.js';
import { mergeRuns } from './results/merge-runs.js';
import type { InjectedDelay, ResultDocument } from './results/document.js';
import { formatTable, runBenchmarks } from './runner.js';
import type { RegisteredSuite } from './suite.js';
import { knownTargets, registry } from './suites/index.js';
import { runIfMain } from '../scripts/run-main.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_SEED = 1;

export const usage = `usage: npm run bench -- [options]

  --suite <a,b>       suites to run (default: every suite of the profile)
  --target <a,b>      only cases of these targets (${knownTargets.join(', ')}, …)
  --profile <name>    ${PROFILES.join(' | ')} (default: default)
  --out <file>        result file (default: results/runs/<date>-<host>-<profile>.json)
  --seed <n>          seed of corpora and bootstrap statistics (default ${DEFAULT_SEED})
  --cpu <n>           pin the process to CPU n (taskset); a warning when not possible
  --data-root <dir>   where suites keep data; its filesystem is recorded (default: ${os.tmpdir()})
  --repeat <n>        run the profile n times and write one document holding every run, with
                      each case's between-run spread (per-run medians, hierarchical bootstrap
                      interval); compare uses it for run-level verdicts (default 1)
  --history           append a summary line of this run to results/history.jsonl
  --list              list the suites and whether they can run here
  --help              this text

environment:
  ${INJECT_DELAY_ENV}="<suite>/<case> [k=v …]:<p>%"   test only: slows the named cases by
                      p % of each timed operation (busy-wait inside the timing); the result
                      records it and can never be a baseline (the A/B experiment, scripts/aa-ab.ts)
`;

export interface CliOptions {
  help: boolean;
  list: boolean;
  suites: RegisteredSuite[];
  targets: string[] | undefined;
  settings: ProfileSettings;
  out: string | undefined;
  seed: number;
  cpu: number | undefined;
  dataRoot: string;
  history: boolean;
  repeat: number;
}

/** Parses the flags; a bad flag or value throws INVALID_ARGUMENT naming it. */
export function parseCli(argv: readonly string[], known: readonly RegisteredSuite[] = registry): CliOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        suite: { type: 'string' },
        target: { type: 'string' },
        profile: { type: 'string' },
        out: { type: 'string' },
        seed: { type: 'string' },
        cpu: { type: 'string' },
        'data-root': { type: 'string' },
        repeat: { type: 'string' },
        list: { type: 'boolean' },
        history: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw invalidArgument(`bench: ${(err as Error).message}`);
  }
  const profileName = (values.profile as string | undefined) ?? 'default';
  if (!isProfile(profileName))
    throw invalidArgument(`profile ${JSON.stringify(profileName)}: unknown (expected ${PROFILES.join(', ')})`);
  const settings = profiles[profileName];

  const list = (v: unknown) =>
    String(v)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  let suites: RegisteredSuite[];
  if (values.suite !== undefined) {
    const names = list(values.suite);
    if (names.length === 0) throw invalidArgument('--suite: no suite named');
    suites = names.map((name) => {
      const found = known.find((s) => s.name === name);
      if (found === undefined)
        throw invalidArgument(`suite ${JSON.stringify(name)}: unknown (known: ${known.map((s) => s.name).join(', ')})`);
      return found;
    });
  } else {
    suites =
      settings.suites === 'all'
        ? [...known]
        : known.filter((s) => (settings.suites as readonly string[]).includes(s.name));
  }

  let targets: string[] | undefined;
  if (values.target !== undefined) {
    targets = list(values.target);
    if (targets.length === 0) throw invalidArgument('--target: no target named');
    for (const t of targets) {
      if (!knownTargets.includes(t))
        throw invalidArgument(`target ${JSON.stringify(t)}: unknown (known: ${knownTargets.join(', ')})`);
    }
  }

  const integer = (flag: string, v: unknown, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (String(v).trim() === '' || !Number.isSafeInteger(n) || n < min)
      throw invalidArgument(`--${flag} ${JSON.stringify(v)}: expected an integer ≥ ${min}`);
    return n;
  };

  return {
    help: values.help === true,
    list: values.list === true,
    suites,
    targets,
    settings,
    out: values.out as string | undefined,
    seed: integer('seed', values.seed, 0) ?? DEFAULT_SEED,
    cpu: integer('cpu', values.cpu, 0),
    dataRoot: path.resolve((values['data-root'] as string | undefined) ?? os.tmpdir()),
    history: values.history === true,
    repeat: integer('repeat', values.repeat, 1) ?? 1,
  };
}

/** Prints each suite with whether it is built and whether it can run on this host. */
async function listSuites(dataRoot: string, known: readonly RegisteredSuite[]): Promise<void> {
  for (const r of known) {
    let status = 'not built yet';
    if (r.load !== undefined) {
      try {
        const suite = await r.load();
        const reason = suite.requires ? await suite.requires(dataRoot) : undefined;
        status = reason === undefined ? 'ready' : `skipped here: ${reason}`;
      } catch (err) {
        status = `broken: ${(err as Error).message}`;
      }
    }
    process.stdout.write(`${r.name.padEnd(12)} ${status.padEnd(24)} ${r.description}\n`);
  }
}

/** Runs the CLI and returns its exit code; `known` replaces the suite registry (tests). */
export async function main(argv: readonly string[], known: readonly RegisteredSuite[] = registry): Promise<number> {
  let options: CliOptions;
  let injectDelay: InjectedDelay | undefined;
  try {
    options = parseCli(argv, known);
    injectDelay = parseInjectDelay(process.env[INJECT_DELAY_ENV]);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (options.list) {
    await listSuites(options.dataRoot, known);
    return 0;
  }

  // the first Ctrl-C (SIGINT) or SIGTERM stops after the current sample (teardowns run, the file is written); a
  // second signal kills
  const interrupt = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    stoppedBy = signal;
    process.stderr.write(
      `interrupted (${signal}): finishing the current sample, tearing down, writing the result (Ctrl-C again to kill)\n`,
    );
    interrupt.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (injectDelay !== undefined)
    process.stderr.write(
      `warning: ${INJECT_DELAY_ENV}=${injectDelay.spec}: a test-only slowdown is injected; this run is not berth's own speed\n`,
    );
  const runs: ResultDocument[] = [];
  let failed = false;
  try {
    for (let i = 0; i < options.repeat && !interrupt.signal.aborted; i++) {
      if (options.repeat > 1) process.stderr.write(`run ${i + 1} of ${options.repeat}\n`);
      const outcome = await runBenchmarks({
        ctx: withSignal(background(), interrupt.signal),
        suites: options.suites,
        settings: options.settings,
        targets: options.targets,
        seed: options.seed,
        cpu: options.cpu,
        dataRoot: options.dataRoot,
        argv,
        injectDelay,
      });
      runs.push(outcome.document);
      failed ||= outcome.failed;
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  // several runs: one document with every run's samples tagged by run, and each case's between-run spread
  const document = runs.length > 1 ? mergeRuns(runs, options.seed) : runs[0];
  process.stdout.write(`${formatTable(document)}\n`);
  const out = path.resolve(
    options.out ?? defaultResultPath(repoRoot, document.run.startedAt, document.host.hostname, document.run.profile),
  );
  try {
    await writeResult(out, document); // validates first: an invalid document is never written
  } catch (err) {
    const message = err instanceof BerthError ? err.message : `result ${out}: ${(err as Error).message}`;
    process.stderr.write(`${message}\n`);
    return 1;
  }
  process.stderr.write(`result written to ${out}\n`);
  if (options.history) {
    const historyFile = path.join(repoRoot, 'results', 'history.jsonl');
    try {
      await appendHistory(historyFile, document, path.relative(repoRoot, out));
      process.stderr.write(`history line appended to ${historyFile}\n`);
    } catch (err) {
      process.stderr.write(`history ${historyFile}: ${(err as Error).message}\n`);
      return 1;
    }
  }
  for (const s of document.suites) {
    if (s.status === 'failed') process.stderr.write(`suite ${s.name} failed: ${s.reason}\n`);
  }
  if (stoppedBy !== undefined) return 128 + (os.constants.signals[stoppedBy] ?? 2);
  return failed ? 1 : 0;
}

runIfMain(import.meta.url, 'bench', main);
