// The A/A–A/B calibration experiment as data: how often compare calls a regression where
// none was made (A/A: runs of one commit against each other) and how often it finds a
// known slowdown (A/B: a test-only delay injected into one case). scripts/aa-ab.ts runs
// the bench and writes the summary; `--record` files it under results/experiments/<host
// class>/, where the notebooks' calibration page and results/baselines/README.md read it.
import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import { invalidArgument } from '../../engine/errdefs/errors.js';
import { delayApplies } from '../inject-delay.js';
import { readJsonFile } from '../read-json.js';
import type { ResultDocument } from '../results/document.js';
import { mergeRuns } from '../results/merge-runs.js';
import { describeSchemaError } from '../results/validate.js';
import { compareResults, type CaseComparison } from './compare-results.js';
import { compareInterleaved } from './interleaved.js';
import { hostClass } from './host-class.js';

export interface ExperimentSummary {
  suite: string;
  profile: string;
  threshold: number;
  aa: { runs: number; comparisons: number; cases: number; falsePositives: number; rate: number; runsWithAny: number };
  ab: {
    slowdown: number;
    runs: number;
    injectedCases: number;
    detected: number;
    rate: number;
    otherCases: number;
    falseAlarms: number;
    medianMinDetectable: number | null;
  }[];
  /** The same runs judged by the interleaved (paired) compare; present when the runs were interleaved. */
  interleaved?: InterleavedSummary;
}

/** Rates of the interleaved compare (compareInterleaved) on an interleaved session's runs. */
export interface InterleavedSummary {
  /** Significance level of the paired test. */
  alpha: number;
  /** Candidate runs per paired comparison (null: all of them in one comparison). */
  pairsPerComparison: number | null;
  aa: {
    runs: number;
    comparisons: number;
    pairs: number;
    cases: number;
    falsePositives: number;
    rate: number;
    runsWithAny: number;
    medianMinDetectable: number | null;
  };
  ab: {
    slowdown: number;
    runs: number;
    comparisons: number;
    pairs: number;
    injectedCases: number;
    detected: number;
    rate: number;
    otherCases: number;
    falseAlarms: number;
    medianMinDetectable: number | null;
  }[];
}

/**
 * The experiment's figures from A runs (unchanged) and B runs by slowdown fraction (each
 * run records its injected delay). A/A: each A run against the others merged (needs 3
 * or more A runs); A/B: each B run against all A runs merged; derived cases are left
 * out (compare never gates on them). Pure apart from the bootstrap's seed.
 */
export function summarizeExperiment(
  aRuns: readonly ResultDocument[],
  bRuns: ReadonlyMap<number, readonly ResultDocument[]>,
  threshold = 0,
): ExperimentSummary {
  if (aRuns.length < 3) throw invalidArgument(`aa-ab: ${aRuns.length} A run(s); leave-one-out A/A needs at least 3`);
  let cases = 0;
  let falsePositives = 0;
  let runsWithAny = 0;
  aRuns.forEach((cand, i) => {
    const base = mergeRuns(aRuns.filter((_, j) => j !== i));
    const report = compareResults(base, cand, { threshold, resamples: 200 });
    const gated = report.cases.filter((c) => !c.derived);
    cases += gated.length;
    const fp = gated.filter((c) => c.verdict === 'regression').length;
    falsePositives += fp;
    if (fp > 0) runsWithAny++;
  });
  const all = mergeRuns(aRuns);
  const ab: ExperimentSummary['ab'] = [];
  for (const [slowdown, runs] of [...bRuns].sort((x, y) => x[0] - y[0])) {
    let injected = 0;
    let detected = 0;
    let other = 0;
    let falseAlarms = 0;
    const mdcs: number[] = [];
    for (const b of runs) {
      const delay = b.run.injectedDelay;
      if (delay === undefined || delay === null)
        throw invalidArgument(`aa-ab: B run ${b.run.id} records no injected delay`);
      const report = compareResults(all, b, { threshold, resamples: 200 });
      for (const c of report.cases) {
        if (c.derived) continue;
        const hit = c.verdict === 'regression';
        if (delayApplies(delay, { ...c, unit: 'ms', direction: c.direction, method: '' })) {
          injected++;
          if (hit) detected++;
          if (c.calibrated?.minDetectable != null) mdcs.push(c.calibrated.minDetectable);
        } else {
          other++;
          if (hit) falseAlarms++;
        }
      }
    }
    mdcs.sort((x, y) => x - y);
    ab.push({
      slowdown,
      runs: runs.length,
      injectedCases: injected,
      detected,
      rate: injected === 0 ? 0 : detected / injected,
      otherCases: other,
      falseAlarms,
      medianMinDetectable: mdcs.length === 0 ? null : mdcs[mdcs.length >> 1],
    });
  }
  return {
    suite: [...new Set(aRuns.flatMap((d) => d.suites.map((s) => s.name)))].join(','),
    profile: aRuns[0].run.profile,
    threshold,
    aa: {
      runs: aRuns.length,
      comparisons: aRuns.length,
      cases,
      falsePositives,
      rate: cases === 0 ? 0 : falsePositives / cases,
      runsWithAny,
    },
    ab,
  };
}

function midTime(d: ResultDocument): number {
  return (Date.parse(d.run.startedAt) + Date.parse(d.run.finishedAt)) / 2;
}

function chunks<T>(xs: readonly T[], size: number | null): T[][] {
  if (size === null) return [[...xs]];
  const out: T[][] = [];
  for (let i = 0; i + size <= xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

function medianOf(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((x, y) => x - y);
  return s[s.length >> 1];
}

/**
 * The experiment's figures under the interleaved compare, from runs made alternately in one
 * session (their times give the order). A/A: the A runs in time order split into alternating
 * halves (1st, 3rd, … against 2nd, 4th, …; and, with 5 or more, 2nd, 4th, … against 3rd,
 * 5th, …), each half paired with the other; A/B: each slowdown's B runs paired with the A
 * runs beside them. With `pairsPerComparison`, the candidate runs (in time order) are cut
 * into disjoint groups of that many, each compared on its own (more verdicts, each on fewer
 * pairs); a trailing short group is left out. Derived cases are left out. INVALID_ARGUMENT
 * with fewer than 4 A runs or fewer than 2 B runs per slowdown (or per group). Pure.
 */
export function summarizeInterleaved(
  aRuns: readonly ResultDocument[],
  bRuns: ReadonlyMap<number, readonly ResultDocument[]>,
  opts: { threshold?: number; alpha?: number; pairsPerComparison?: number | null } = {},
): InterleavedSummary {
  const threshold = opts.threshold ?? 0;
  const alpha = opts.alpha ?? 0.05;
  const k = opts.pairsPerComparison ?? null;
  if (k !== null && !(Number.isSafeInteger(k) && k >= 2))
    throw invalidArgument(`aa-ab: pairs per comparison ${k}: expected an integer ≥ 2`);
  if (aRuns.length < 4)
    throw invalidArgument(`aa-ab: ${aRuns.length} A run(s); the interleaved A/A needs at least 4 (2 pairs)`);
  const gated = (cases: CaseComparison[]) => cases.filter((c) => !c.derived && c.verdict !== 'not-comparable');
  const sorted = [...aRuns].sort((x, y) => midTime(x) - midTime(y));
  const splits: [ResultDocument[], ResultDocument[]][] = [
    [sorted.filter((_, i) => i % 2 === 0), sorted.filter((_, i) => i % 2 === 1)],
  ];
  if (sorted.length >= 5)
    splits.push([sorted.filter((_, i) => i % 2 === 1), sorted.filter((_, i) => i > 0 && i % 2 === 0)]);
  const aa = { runs: aRuns.length, comparisons: 0, pairs: 0, cases: 0, falsePositives: 0, rate: 0, runsWithAny: 0 };
  const aaMdc: number[] = [];
  for (const [base, cand] of splits)
    for (const group of chunks(cand, k)) {
      const report = compareInterleaved(base, group, { threshold, alpha });
      const cases = gated(report.cases);
      const fp = cases.filter((c) => c.verdict === 'regression').length;
      aa.comparisons++;
      aa.pairs += report.pairs.length;
      aa.cases += cases.length;
      aa.falsePositives += fp;
      if (fp > 0) aa.runsWithAny++;
      for (const c of cases) if (c.paired?.minDetectable != null) aaMdc.push(c.paired.minDetectable);
    }
  aa.rate = aa.cases === 0 ? 0 : aa.falsePositives / aa.cases;
  const ab: InterleavedSummary['ab'] = [];
  for (const [slowdown, runs] of [...bRuns].sort((x, y) => x[0] - y[0])) {
    const row = {
      slowdown,
      runs: runs.length,
      comparisons: 0,
      pairs: 0,
      injectedCases: 0,
      detected: 0,
      otherCases: 0,
      falseAlarms: 0,
    };
    const mdcs: number[] = [];
    for (const group of chunks(
      [...runs].sort((x, y) => midTime(x) - midTime(y)),
      k,
    )) {
      const report = compareInterleaved(aRuns, group, { threshold, alpha });
      row.comparisons++;
      row.pairs += report.pairs.length;
      for (const c of gated(report.cases)) {
        const hit = c.verdict === 'regression';
        const delays = group.map((d) => d.run.injectedDelay);
        if (delays.some((d) => d === undefined || d === null))
          throw invalidArgument(`aa-ab: a B run of the +${slowdown * 100}% group records no injected delay`);
        if (delayApplies(delays[0], { ...c, unit: 'ms', direction: c.direction, method: '' })) {
          row.injectedCases++;
          if (hit) row.detected++;
          if (c.paired?.minDetectable != null) mdcs.push(c.paired.minDetectable);
        } else {
          row.otherCases++;
          if (hit) row.falseAlarms++;
        }
      }
    }
    ab.push({
      ...row,
      rate: row.injectedCases === 0 ? 0 : row.detected / row.injectedCases,
      medianMinDetectable: medianOf(mdcs),
    });
  }
  return { alpha, pairsPerComparison: k, aa: { ...aa, medianMinDetectable: medianOf(aaMdc) }, ab };
}

/** The summary as lines for a terminal. */
export function formatExperiment(s: ExperimentSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const lines = [
    `suite ${s.suite}, profile ${s.profile}, bound ${pct(s.threshold)}`,
    `A/A: ${s.aa.runs} runs, each against the others merged: ${s.aa.falsePositives} of ${s.aa.cases} case comparisons called regressions (false-positive rate ${pct(s.aa.rate)}); ${s.aa.runsWithAny} of ${s.aa.comparisons} comparisons had at least one`,
  ];
  for (const b of s.ab) {
    lines.push(
      `A/B +${pct(b.slowdown)}: ${b.runs} runs: ${b.detected} of ${b.injectedCases} injected cases detected (${pct(b.rate)}); ${b.falseAlarms} of ${b.otherCases} other cases called regressions; median MDC of the injected cases ${b.medianMinDetectable === null ? '–' : pct(b.medianMinDetectable)}`,
    );
  }
  const il = s.interleaved;
  if (il !== undefined) {
    const per =
      il.pairsPerComparison === null ? 'all pairs in one comparison' : `${il.pairsPerComparison} pairs a comparison`;
    const mdc = (x: number | null) => (x === null ? '–' : pct(x));
    lines.push(
      `interleaved (paired t over pairs of neighbouring runs, α ${il.alpha}, ${per}):`,
      `  A/A: ${il.aa.runs} runs in alternating halves, ${il.aa.comparisons} comparisons of ${il.aa.pairs} pairs in all: ${il.aa.falsePositives} of ${il.aa.cases} case comparisons called regressions (${pct(il.aa.rate)}); median MDC ${mdc(il.aa.medianMinDetectable)}`,
    );
    for (const b of il.ab)
      lines.push(
        `  A/B +${pct(b.slowdown)}: ${b.runs} runs, ${b.comparisons} comparisons of ${b.pairs} pairs in all: ${b.detected} of ${b.injectedCases} injected cases detected (${pct(b.rate)}); ${b.falseAlarms} of ${b.otherCases} other cases called regressions; median MDC of the injected cases ${mdc(b.medianMinDetectable)}`,
      );
  }
  return lines.join('\n');
}

/** What a recorded experiment says about where and when it ran, beside its summary. */
export interface ExperimentProvenance {
  /** The A runs' host class (results/baselines/ files by the same name). */
  hostClass: string;
  hostname: string;
  fingerprint: string;
  cpuModel: string;
  kernel: string;
  /** The commit every run measured (null outside a git checkout) and whether any tree was dirty. */
  gitCommit: string | null;
  gitDirty: boolean | null;
  startedAt: string;
  finishedAt: string;
  /** The 1-minute load average at the start of each run, lowest and highest (the bench's own load included). */
  loadAverage1m: { min: number; max: number };
  /** The injected case as BERTH_BENCH_INJECT_DELAY names it, without the percentage. */
  inject: string;
  /** Ids of the A runs, then the B runs in slowdown order. */
  runIds: string[];
}

/** A summary as filed in the repository: schema version, summary, provenance. */
export interface ExperimentRecord extends ExperimentSummary {
  schemaVersion: 1;
  recorded: ExperimentProvenance;
}

/**
 * The record of an experiment from its summary and the very runs it summarised. Fails with
 * INVALID_ARGUMENT when the runs disagree on the host fingerprint or the commit (a record
 * describes one commit on one host), when the B runs do not name one injected case, or when
 * the host's core count is unknown (no host class).
 */
export function experimentRecord(
  summary: ExperimentSummary,
  aRuns: readonly ResultDocument[],
  bRuns: ReadonlyMap<number, readonly ResultDocument[]>,
): ExperimentRecord {
  const injected = new Set(
    [...bRuns.values()].flat().map((d) => (d.run.injectedDelay?.spec ?? '').replace(/:[^:]*%$/, '')),
  );
  if (injected.size !== 1 || injected.has(''))
    throw invalidArgument(
      `experiment record: the B runs must share one injected case (found ${injected.size === 0 ? 'none' : [...injected].map((s) => JSON.stringify(s)).join(', ')})`,
    );
  const inject = [...injected][0];
  const all = [...aRuns, ...[...bRuns].sort((x, y) => x[0] - y[0]).flatMap(([, runs]) => runs)];
  if (all.length === 0) throw invalidArgument('experiment record: no runs');
  const first = all[0];
  for (const d of all) {
    if (d.host.fingerprint !== first.host.fingerprint)
      throw invalidArgument(
        `experiment record: run ${d.run.id} was made on host ${d.host.fingerprint}, run ${first.run.id} on ${first.host.fingerprint}`,
      );
    if (d.run.gitCommit !== first.run.gitCommit)
      throw invalidArgument(
        `experiment record: run ${d.run.id} measured commit ${String(d.run.gitCommit)}, run ${first.run.id} ${String(first.run.gitCommit)}`,
      );
  }
  const loads = all.map((d) => d.host.loadAverage[0]);
  const times = all.flatMap((d) => [Date.parse(d.run.startedAt), Date.parse(d.run.finishedAt)]);
  return {
    schemaVersion: 1,
    ...summary,
    recorded: {
      hostClass: hostClass(first.host),
      hostname: first.host.hostname,
      fingerprint: first.host.fingerprint,
      cpuModel: first.host.cpu.model,
      kernel: first.host.kernel,
      gitCommit: first.run.gitCommit,
      gitDirty: all.some((d) => d.run.gitDirty === true)
        ? true
        : all.every((d) => d.run.gitDirty === false)
          ? false
          : null,
      startedAt: new Date(Math.min(...times)).toISOString(),
      finishedAt: new Date(Math.max(...times)).toISOString(),
      loadAverage1m: { min: Math.min(...loads), max: Math.max(...loads) },
      inject,
      runIds: all.map((d) => d.run.id),
    },
  };
}

/**
 * `results/experiments/<host class>/aa-ab-<suite>-<profile>.json`, relative to the repository root;
 * `…-interleaved.json` for an interleaved session, so it never replaces a record of the other kind.
 */
export function experimentPath(
  record: Pick<ExperimentRecord, 'suite' | 'profile' | 'recorded' | 'interleaved'>,
): string {
  const safe = (s: string) => s.toLowerCase().replace(/[^a-z0-9.-]+/g, '-');
  const kind = record.interleaved === undefined ? '' : '-interleaved';
  return `results/experiments/${record.recorded.hostClass}/aa-ab-${safe(record.suite)}-${safe(record.profile)}${kind}.json`;
}

/** Where the record schema lives. */
export const EXPERIMENT_SCHEMA_URL = new URL('../../results/schema/experiment.schema.json', import.meta.url);

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (compiled === undefined) {
    const schema = JSON.parse(readFileSync(EXPERIMENT_SCHEMA_URL, 'utf8')) as object;
    compiled = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);
  }
  return compiled;
}

/** Counts a schema cannot check: detections within the cases, rates that match their counts. */
function recordProblems(r: ExperimentRecord): string[] {
  const problems: string[] = [];
  const near = (a: number, b: number) => Math.abs(a - b) <= 1e-9;
  if (r.aa.falsePositives > r.aa.cases) problems.push('/aa/falsePositives: exceeds /aa/cases');
  if (!near(r.aa.rate, r.aa.cases === 0 ? 0 : r.aa.falsePositives / r.aa.cases))
    problems.push('/aa/rate: is not falsePositives / cases');
  r.ab.forEach((b, i) => {
    if (b.detected > b.injectedCases) problems.push(`/ab/${i}/detected: exceeds injectedCases`);
    if (b.falseAlarms > b.otherCases) problems.push(`/ab/${i}/falseAlarms: exceeds otherCases`);
    if (!near(b.rate, b.injectedCases === 0 ? 0 : b.detected / b.injectedCases))
      problems.push(`/ab/${i}/rate: is not detected / injectedCases`);
  });
  const il = r.interleaved;
  if (il !== undefined) {
    if (il.aa.falsePositives > il.aa.cases)
      problems.push('/interleaved/aa/falsePositives: exceeds /interleaved/aa/cases');
    if (!near(il.aa.rate, il.aa.cases === 0 ? 0 : il.aa.falsePositives / il.aa.cases))
      problems.push('/interleaved/aa/rate: is not falsePositives / cases');
    il.ab.forEach((b, i) => {
      if (b.detected > b.injectedCases) problems.push(`/interleaved/ab/${i}/detected: exceeds injectedCases`);
      if (b.falseAlarms > b.otherCases) problems.push(`/interleaved/ab/${i}/falseAlarms: exceeds otherCases`);
      if (!near(b.rate, b.injectedCases === 0 ? 0 : b.detected / b.injectedCases))
        problems.push(`/interleaved/ab/${i}/rate: is not detected / injectedCases`);
    });
  }
  if (Date.parse(r.recorded.finishedAt) < Date.parse(r.recorded.startedAt))
    problems.push('/recorded/finishedAt: is before startedAt');
  return problems;
}

/**
 * `doc` as a record when it follows the schema and its counts agree; otherwise
 * INVALID_ARGUMENT naming `subject` and each problem.
 */
export function validateExperiment(doc: unknown, subject = 'experiment record'): ExperimentRecord {
  const validate = validator();
  const problems = validate(doc)
    ? recordProblems(doc as ExperimentRecord)
    : [...new Set((validate.errors ?? []).map(describeSchemaError))];
  if (problems.length > 0) throw invalidArgument(`${subject}: ${problems.join('; ')}`, { details: { problems } });
  return doc as ExperimentRecord;
}

/** Reads and validates a record file; every error message starts with `experiment file <path>`. */
async function readExperiment(path: string): Promise<ExperimentRecord> {
  const subject = `experiment file ${path}`;
  return validateExperiment(await readJsonFile(path, subject), subject);
}

/** Every record in the `*.json` files below `dir` (sorted by path); none when `dir` does not exist. */
export async function readExperimentsUnder(dir: string): Promise<ExperimentRecord[]> {
  if (!existsSync(dir)) return [];
  const files = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile() && e.name.endsWith('.json') && !e.name.startsWith('.'))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
  return Promise.all(files.map((f) => readExperiment(f)));
}
