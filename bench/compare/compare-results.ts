// The regression check: pairs the cases of a baseline and a candidate run and decides,
// per case, whether the candidate got worse beyond a threshold with significance.
import { invalidArgument } from '../../engine/errdefs/errors.js';
import type { CaseResult, ResultDocument } from '../results/document.js';
import { bootstrapRatioCI, compareRunMedians, mannWhitneyU, mean } from '../stats.js';
import { caseKey, caseLabel, type CaseIdentity } from './case-key.js';
import type { PairedComparison } from './interleaved.js';
import { thresholdFor, type Bounds } from './threshold.js';

/**
 * regression: worse than the threshold allows, significant by both tests;
 * improvement: the mirror image; within-threshold: a significant change smaller than
 * the threshold; no-significant-change: the tests cannot tell the runs apart;
 * not-comparable: no ratio can be formed (a baseline sample ≤ 0, e.g. an overhead);
 * derived: a case computed from others (a ratio, a difference), shown with its change
 * but never a regression itself: its inputs are compared and gated.
 */
export type CaseVerdict =
  'regression' | 'improvement' | 'within-threshold' | 'no-significant-change' | 'not-comparable' | 'derived';

/**
 * The run-level test of a case whose baseline holds several runs: per-run medians,
 * between-run variance, Student's t (see compareRunMedians).
 */
export interface CalibratedComparison {
  /** Runs on each side that have the case. */
  runs: { baseline: number; candidate: number };
  /** Relative standard deviation of the baseline's per-run medians (null when their mean is 0). */
  betweenRunSpread: number | null;
  df: number;
  p: number;
  /** The change in between-run standard deviations (a standardized effect size), null when the runs agree exactly. */
  effect: number | null;
  /**
   * Smallest worsening (fraction, log scale turned into a ratio) the test detects with
   * 80 % power at alpha; null on the linear scale (some median ≤ 0).
   */
  minDetectable: number | null;
  /** Candidate minus baseline on the linear scale (when a median is ≤ 0), with its interval. */
  difference: { value: number; low: number; high: number } | null;
}

export interface CaseComparison extends CaseIdentity {
  key: string;
  label: string;
  unit: string;
  direction: CaseResult['direction'];
  baseline: { n: number; p50: number };
  candidate: { n: number; p50: number };
  /** median(candidate) / median(baseline) with its bootstrap interval; null when not comparable. */
  ratio: { value: number; low: number; high: number; level: number } | null;
  /** Two-sided Mann–Whitney U p-value. */
  p: number;
  /** Allowed worsening as a fraction. */
  threshold: number;
  /** Worsening as a fraction: ratio − 1 when lower is better, 1 − ratio when higher is better; negative = better. */
  worsening: number | null;
  verdict: CaseVerdict;
  /** Why a case is not comparable; null otherwise. */
  reason: string | null;
  /** Present when the baseline holds several runs of the case: the verdict comes from it. */
  calibrated: CalibratedComparison | null;
  /** Present in an interleaved comparison (compareInterleaved): the verdict comes from the pairs of runs. */
  paired?: PairedComparison | null;
  /** Whether the case is derived from others (never gated). */
  derived: boolean;
}

export interface ComparisonReport {
  baseline: RunRef;
  candidate: RunRef;
  alpha: number;
  cases: CaseComparison[];
  /** Keys of cases present only in one file, with their labels. */
  onlyInBaseline: { key: string; label: string }[];
  onlyInCandidate: { key: string; label: string }[];
  warnings: string[];
  regressions: number;
}

export interface RunRef {
  file: string;
  runId: string;
  gitCommit: string | null;
  profile: string;
  hostFingerprint: string;
  hostname: string;
}

export interface CompareOptions {
  /** Default allowed worsening as a fraction; per-case bounds override it. */
  threshold?: number;
  bounds?: Bounds;
  /** Significance level of both tests; default 0.05. */
  alpha?: number;
  /** Seed of the ratio bootstrap; default 1. */
  seed?: number;
  /** Resamples of the ratio bootstrap; default 2000. */
  resamples?: number;
  /** File names for the report and messages. */
  baselineFile?: string;
  candidateFile?: string;
}

function runRef(doc: ResultDocument, file: string): RunRef {
  return {
    file,
    runId: doc.run.id,
    gitCommit: doc.run.gitCommit,
    profile: doc.run.profile,
    hostFingerprint: doc.host.fingerprint,
    hostname: doc.host.hostname,
  };
}

/** Cases by key; two cases with one key make the file ambiguous. */
function indexCases(doc: ResultDocument, file: string): Map<string, CaseResult> {
  const byKey = new Map<string, CaseResult>();
  for (const c of doc.cases) {
    const key = caseKey(c);
    if (byKey.has(key))
      throw invalidArgument(`result file ${file}: case ${key} appears twice; cannot tell which to compare`);
    byKey.set(key, c);
  }
  return byKey;
}

/**
 * Compares every case present in both documents (matched by suite, case, target and
 * parameters). Per case: the ratio of medians candidate/baseline with a percentile
 * bootstrap interval, and a two-sided Mann–Whitney U test. A case is a regression
 * when its ratio is worse than 1 ± threshold in the case's direction, the p-value is
 * below alpha and the whole interval lies on the worse side of 1. Cases in one file
 * only are listed in onlyInBaseline/onlyInCandidate. Different host fingerprints or
 * profiles add a warning. Fails with INVALID_ARGUMENT when a case's unit or direction
 * differs between the files, or a file holds one case twice. Deterministic for a
 * seed; cost O(cases · resamples · n).
 */
export function compareResults(
  baseline: ResultDocument,
  candidate: ResultDocument,
  opts: CompareOptions = {},
): ComparisonReport {
  const alpha = opts.alpha ?? 0.05;
  if (!(alpha > 0 && alpha < 1)) throw invalidArgument(`alpha ${alpha}: must be within (0, 1)`);
  const baseFile = opts.baselineFile ?? 'baseline';
  const candFile = opts.candidateFile ?? 'candidate';
  const base = indexCases(baseline, baseFile);
  const cand = indexCases(candidate, candFile);

  const warnings: string[] = [];
  if (baseline.host.fingerprint !== candidate.host.fingerprint) {
    warnings.push(
      `host fingerprints differ (baseline ${baseline.host.fingerprint} on ${baseline.host.hostname}, candidate ${candidate.host.fingerprint} on ${candidate.host.hostname}): differences may come from the machines, not the code`,
    );
  }
  if ((baseline.run.repeat?.runs ?? 1) < 2) {
    warnings.push(
      'the baseline holds one run: verdicts rest on within-run noise, which understates how much runs of one commit differ; record several (npm run baseline -- record a.json b.json …) for run-level verdicts',
    );
  }
  for (const [side, doc] of [
    ['baseline', baseline],
    ['candidate', candidate],
  ] as const) {
    const d = doc.run.injectedDelay;
    if (d !== undefined && d !== null)
      warnings.push(`the ${side} carries a test-only injected delay (${d.spec}): it is not berth's own speed`);
  }
  if (baseline.run.profile !== candidate.run.profile) {
    warnings.push(
      `profiles differ (baseline ${baseline.run.profile}, candidate ${candidate.run.profile}): sample counts and workload sizes may differ`,
    );
  }

  const cases: CaseComparison[] = [];
  for (const [key, b] of base) {
    const c = cand.get(key);
    if (c === undefined) continue;
    if (b.unit !== c.unit)
      throw invalidArgument(
        `case ${key}: unit differs (baseline ${b.unit}, candidate ${c.unit}); convert one run or compare like with like`,
      );
    if (b.direction !== c.direction)
      throw invalidArgument(`case ${key}: direction differs (baseline ${b.direction}, candidate ${c.direction})`);
    cases.push(compareCase(key, b, c, { ...opts, alpha }));
  }
  const onlyInBaseline = [...base].filter(([k]) => !cand.has(k)).map(([key, c]) => ({ key, label: caseLabel(c) }));
  const onlyInCandidate = [...cand].filter(([k]) => !base.has(k)).map(([key, c]) => ({ key, label: caseLabel(c) }));
  if (onlyInBaseline.length > 0)
    warnings.push(`${onlyInBaseline.length} case(s) of the baseline are missing from the candidate`);
  if (onlyInCandidate.length > 0) warnings.push(`${onlyInCandidate.length} case(s) of the candidate have no baseline`);

  return {
    baseline: runRef(baseline, baseFile),
    candidate: runRef(candidate, candFile),
    alpha,
    cases,
    onlyInBaseline,
    onlyInCandidate,
    warnings,
    regressions: cases.filter((c) => c.verdict === 'regression').length,
  };
}

function compareCase(
  key: string,
  b: CaseResult,
  c: CaseResult,
  opts: CompareOptions & { alpha: number },
): CaseComparison {
  const threshold = thresholdFor(b, opts.bounds, opts.threshold);
  const { p } = mannWhitneyU(b.samples, c.samples);
  const common = {
    key,
    label: caseLabel(b),
    suite: b.suite,
    case: b.case,
    target: b.target,
    parameters: b.parameters,
    unit: b.unit,
    direction: b.direction,
    baseline: { n: b.stats.n, p50: b.stats.p50 },
    candidate: { n: c.stats.n, p50: c.stats.p50 },
    p,
    threshold,
  };
  const derived = b.derived !== undefined || c.derived !== undefined;
  const result = compareMeasured(b, c, opts, common, threshold);
  // a derived case is reported, never gated: its inputs carry the verdict
  return derived && result.verdict !== 'not-comparable'
    ? { ...result, verdict: 'derived', derived }
    : { ...result, derived };
}

/** Medians of each run of a case that has several (per `runs`), else of its one run. */
function runMedians(c: CaseResult): number[] {
  return c.runs === undefined ? [c.stats.p50] : c.runs.perRun.map((r) => r.p50);
}

function compareMeasured(
  b: CaseResult,
  c: CaseResult,
  opts: CompareOptions & { alpha: number },
  common: Omit<CaseComparison, 'ratio' | 'worsening' | 'verdict' | 'reason' | 'calibrated' | 'derived'>,
  threshold: number,
): Omit<CaseComparison, 'derived'> {
  const lowerBetter = b.direction === 'lower-is-better';
  const baseRuns = runMedians(b);
  if (baseRuns.length >= 2) {
    const candRuns = runMedians(c);
    const r = compareRunMedians(baseRuns, candRuns, { alpha: opts.alpha });
    const m = mean(baseRuns);
    const calibrated: CalibratedComparison = {
      runs: { baseline: baseRuns.length, candidate: candRuns.length },
      betweenRunSpread: baseRuns.length >= 2 && m !== 0 ? stddevOf(baseRuns) / Math.abs(m) : null,
      df: r.df,
      p: r.p,
      effect: r.standardized,
      minDetectable: r.scale === 'log' ? Math.exp(r.mdc) - 1 : null,
      difference: r.scale === 'linear' ? { value: r.estimate, low: r.low, high: r.high } : null,
    };
    const significant = r.p < opts.alpha;
    if (r.scale === 'linear') {
      const worse = lowerBetter ? r.estimate > 0 : r.estimate < 0;
      return {
        ...common,
        p: r.p,
        ratio: null,
        worsening: null,
        verdict: significant ? (worse ? 'regression' : 'improvement') : 'no-significant-change',
        reason: 'a median is ≤ 0: compared as a difference, without a threshold',
        calibrated,
      };
    }
    const ratio = { value: Math.exp(r.estimate), low: Math.exp(r.low), high: Math.exp(r.high), level: 1 - opts.alpha };
    const worsening = lowerBetter ? ratio.value - 1 : 1 - ratio.value;
    return {
      ...common,
      p: r.p,
      ratio,
      worsening,
      verdict: verdictOf(significant, worsening, threshold),
      reason: null,
      calibrated,
    };
  }
  if (b.samples.some((x) => x <= 0)) {
    return {
      ...common,
      ratio: null,
      worsening: null,
      verdict: 'not-comparable',
      reason: 'a baseline sample is ≤ 0, so a ratio of medians means nothing',
      calibrated: null,
    };
  }
  const ci = bootstrapRatioCI(b.samples, c.samples, {
    seed: opts.seed ?? 1,
    resamples: opts.resamples ?? 2000,
    level: 1 - opts.alpha,
  });
  const worsening = lowerBetter ? ci.ratio - 1 : 1 - ci.ratio;
  const significant = common.p < opts.alpha && (ci.low > 1 || ci.high < 1);
  return {
    ...common,
    ratio: { value: ci.ratio, low: ci.low, high: ci.high, level: ci.level },
    worsening,
    verdict: verdictOf(significant, worsening, threshold),
    reason: null,
    calibrated: null,
  };
}

function verdictOf(significant: boolean, worsening: number, threshold: number): CaseVerdict {
  if (!significant) return 'no-significant-change';
  if (worsening > threshold) return 'regression';
  if (worsening < -threshold) return 'improvement';
  return 'within-threshold';
}

function stddevOf(xs: readonly number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
}
