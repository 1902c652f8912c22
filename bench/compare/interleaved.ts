// The interleaved (RMIT) regression check: baseline and candidate runs made alternately in
// one session, each candidate run paired with the baseline run beside it in time, and the
// verdict per case taken over the pairs. A drift of the host that moves both runs of a pair
// (a busier hour, a slower minute) cancels within the pair; only the pairs' own spread is left.
import { invalidArgument } from '../../engine/errdefs/errors.js';
import type { CaseResult, ResultDocument } from '../results/document.js';
import { mean, median, stddev, studentTCdf, studentTQuantile } from '../stats.js';
import { caseKey, caseLabel } from './case-key.js';
import type { CaseComparison, CompareOptions, ComparisonReport, RunRef } from './compare-results.js';
import { thresholdFor } from './threshold.js';

/** One baseline run and the candidate run paired with it. */
export interface RunPair {
  baseline: number;
  candidate: number;
  /** Seconds between the two runs' midpoints. */
  gapSeconds: number;
}

/** The pair-level test of one case (see compareInterleaved). */
export interface PairedComparison {
  /** Pairs in which both runs have the case. */
  pairs: number;
  /** Pairs in which the candidate's median is worse than its baseline partner's. */
  worseInPairs: number;
  /** 'log': per-pair log-ratios of medians; 'linear': differences (some median ≤ 0). */
  scale: 'log' | 'linear';
  df: number;
  p: number;
  /** Mean change over the pairs in the pairs' standard deviations (Cohen's d_z); null when all pairs agree exactly. */
  effect: number | null;
  /** Relative standard deviation of the per-pair ratios (log scale), null on the linear scale. */
  pairSpread: number | null;
  /** Smallest worsening (a fraction) the paired test detects with 80 % power at alpha; null on the linear scale. */
  minDetectable: number | null;
  /** Candidate minus baseline on the linear scale, with its interval. */
  difference: { value: number; low: number; high: number } | null;
}

/** A paired comparison: the usual report, the pairs used and the runs left without a partner. */
export interface InterleavedReport extends ComparisonReport {
  pairs: (RunPair & { baselineRun: string; candidateRun: string })[];
  unpaired: { baseline: string[]; candidate: string[] };
}

function midpoint(d: ResultDocument, side: string, i: number): number {
  const start = Date.parse(d.run.startedAt);
  const end = Date.parse(d.run.finishedAt);
  if (!Number.isFinite(start) || !Number.isFinite(end))
    throw invalidArgument(`interleaved compare: ${side} run ${i + 1} (${d.run.id}) has no valid start and end time`);
  return (start + end) / 2;
}

/**
 * Pairs baseline with candidate runs by time: repeatedly the two unpaired runs (one of
 * each side) whose midpoints lie closest, each run in at most one pair, so an A B B A
 * order gives (A₁,B₁) and (B₂,A₂). Returns the pairs sorted by time; runs beyond the
 * smaller side stay unpaired. INVALID_ARGUMENT when a run has no valid times. Pure;
 * O(n² log n).
 */
export function pairRuns(baseline: readonly ResultDocument[], candidate: readonly ResultDocument[]): RunPair[] {
  const tb = baseline.map((d, i) => midpoint(d, 'baseline', i));
  const tc = candidate.map((d, i) => midpoint(d, 'candidate', i));
  const couples: RunPair[] = [];
  tb.forEach((b, i) =>
    tc.forEach((c, j) => couples.push({ baseline: i, candidate: j, gapSeconds: Math.abs(b - c) / 1000 })),
  );
  couples.sort((x, y) => x.gapSeconds - y.gapSeconds || x.baseline - y.baseline || x.candidate - y.candidate);
  const usedB = new Set<number>();
  const usedC = new Set<number>();
  const pairs: RunPair[] = [];
  for (const p of couples) {
    if (usedB.has(p.baseline) || usedC.has(p.candidate)) continue;
    usedB.add(p.baseline);
    usedC.add(p.candidate);
    pairs.push(p);
  }
  return pairs.sort((x, y) => Math.min(tb[x.baseline], tc[x.candidate]) - Math.min(tb[y.baseline], tc[y.candidate]));
}

function runRef(docs: readonly ResultDocument[], file: string): RunRef {
  const d = docs[0];
  return {
    file,
    runId: docs.map((x) => x.run.id).join(','),
    gitCommit: d.run.gitCommit,
    profile: d.run.profile,
    hostFingerprint: d.host.fingerprint,
    hostname: d.host.hostname,
  };
}

function indexCases(doc: ResultDocument, subject: string): Map<string, CaseResult> {
  const byKey = new Map<string, CaseResult>();
  for (const c of doc.cases) {
    const key = caseKey(c);
    if (byKey.has(key)) throw invalidArgument(`${subject}: case ${key} appears twice; cannot tell which to compare`);
    byKey.set(key, c);
  }
  return byKey;
}

/**
 * The paired verdicts of an interleaved session: `baseline` and `candidate` are single
 * runs of each side (in any order: the runs' own start and end times give the order),
 * paired by pairRuns. Per case present in every paired run: the per-pair change of the
 * run medians (log-ratio, or a difference when a median is ≤ 0), a paired Student t test
 * over the pairs (df = pairs − 1), the change's interval, the effect size in the pairs'
 * standard deviations and the minimum detectable change at 80 % power. A case is a
 * regression when the change is significant and worse than its threshold; derived cases
 * are reported, never gated. Needs at least 2 pairs. Warns when the sides come from two
 * hosts or profiles, carry an injected delay, or when runs of the two sides overlapped in
 * time. INVALID_ARGUMENT on fewer than 2 pairs, a run holding several runs, or a unit or
 * direction that differs. Pure apart from Date parsing; O(cases · pairs).
 */
export function compareInterleaved(
  baseline: readonly ResultDocument[],
  candidate: readonly ResultDocument[],
  opts: CompareOptions = {},
): InterleavedReport {
  const alpha = opts.alpha ?? 0.05;
  if (!(alpha > 0 && alpha < 1)) throw invalidArgument(`alpha ${alpha}: must be within (0, 1)`);
  for (const [side, docs] of [
    ['baseline', baseline],
    ['candidate', candidate],
  ] as const)
    docs.forEach((d, i) => {
      if ((d.run.repeat?.runs ?? 1) > 1)
        throw invalidArgument(
          `interleaved compare: ${side} run ${i + 1} (${d.run.id}) holds ${d.run.repeat?.runs} merged runs; pass the single runs, whose times give the order`,
        );
    });
  const pairs = pairRuns(baseline, candidate);
  if (pairs.length < 2)
    throw invalidArgument(
      `interleaved compare: ${pairs.length} pair(s) of runs (baseline ${baseline.length}, candidate ${candidate.length}); the paired test needs at least 2`,
    );
  const warnings: string[] = [];
  const all = [...baseline, ...candidate];
  const fingerprints = new Set(all.map((d) => d.host.fingerprint));
  if (fingerprints.size > 1)
    warnings.push(
      `the runs come from ${fingerprints.size} hosts (${[...fingerprints].join(', ')}): differences may come from the machines, not the code`,
    );
  const profiles = new Set(all.map((d) => d.run.profile));
  if (profiles.size > 1) warnings.push(`the runs use ${profiles.size} profiles (${[...profiles].join(', ')})`);
  for (const [side, docs] of [
    ['baseline', baseline],
    ['candidate', candidate],
  ] as const) {
    const specs = new Set(docs.map((d) => d.run.injectedDelay?.spec).filter((s) => s !== undefined));
    if (specs.size > 0)
      warnings.push(
        `the ${side} carries a test-only injected delay (${[...specs].join(', ')}): it is not berth's own speed`,
      );
  }
  const overlapping = pairs.filter((p) => {
    const b = baseline[p.baseline].run;
    const c = candidate[p.candidate].run;
    return Date.parse(b.startedAt) < Date.parse(c.finishedAt) && Date.parse(c.startedAt) < Date.parse(b.finishedAt);
  }).length;
  if (overlapping > 0)
    warnings.push(
      `${overlapping} pair(s) of runs overlapped in time: they competed for the host rather than took turns`,
    );
  const maxGap = Math.max(...pairs.map((p) => p.gapSeconds));
  const unpaired = {
    baseline: baseline.filter((_, i) => !pairs.some((p) => p.baseline === i)).map((d) => d.run.id),
    candidate: candidate.filter((_, j) => !pairs.some((p) => p.candidate === j)).map((d) => d.run.id),
  };
  if (unpaired.baseline.length + unpaired.candidate.length > 0)
    warnings.push(
      `${unpaired.baseline.length} baseline and ${unpaired.candidate.length} candidate run(s) have no partner and are left out`,
    );

  const bIdx = baseline.map((d, i) => indexCases(d, `baseline run ${i + 1} (${d.run.id})`));
  const cIdx = candidate.map((d, i) => indexCases(d, `candidate run ${i + 1} (${d.run.id})`));
  const keys = new Set<string>();
  for (const p of pairs) for (const k of bIdx[p.baseline].keys()) if (cIdx[p.candidate].has(k)) keys.add(k);
  const cases: CaseComparison[] = [];
  let partial = 0;
  for (const key of keys) {
    const pb = pairs.filter((p) => bIdx[p.baseline].has(key) && cIdx[p.candidate].has(key));
    if (pb.length < pairs.length) partial++;
    const bs = pb.map((p) => bIdx[p.baseline].get(key)!);
    const cs = pb.map((p) => cIdx[p.candidate].get(key)!);
    for (const c of [...bs, ...cs]) {
      if (c.unit !== bs[0].unit)
        throw invalidArgument(`case ${key}: unit differs between runs (${bs[0].unit}, ${c.unit})`);
      if (c.direction !== bs[0].direction)
        throw invalidArgument(`case ${key}: direction differs between runs (${bs[0].direction}, ${c.direction})`);
    }
    cases.push(pairedCase(key, bs, cs, { ...opts, alpha }));
  }
  if (partial > 0)
    warnings.push(`${partial} case(s) are missing from some runs: compared over the pairs that have them`);
  const keysB = new Set(baseline.flatMap((d) => d.cases.map(caseKey)));
  const keysC = new Set(candidate.flatMap((d) => d.cases.map(caseKey)));
  const label = (docs: readonly ResultDocument[], k: string) =>
    caseLabel(docs.flatMap((d) => d.cases).find((c) => caseKey(c) === k)!);
  const onlyInBaseline = [...keysB].filter((k) => !keys.has(k)).map((key) => ({ key, label: label(baseline, key) }));
  const onlyInCandidate = [...keysC].filter((k) => !keys.has(k)).map((key) => ({ key, label: label(candidate, key) }));
  return {
    baseline: runRef(baseline, opts.baselineFile ?? 'baseline'),
    candidate: runRef(candidate, opts.candidateFile ?? 'candidate'),
    alpha,
    cases,
    onlyInBaseline,
    onlyInCandidate,
    warnings: [
      `interleaved: ${pairs.length} pairs of runs, at most ${maxGap.toFixed(0)} s apart; verdicts from a paired t test over the pairs`,
      ...warnings,
    ],
    regressions: cases.filter((c) => c.verdict === 'regression').length,
    pairs: pairs.map((p) => ({
      ...p,
      baselineRun: baseline[p.baseline].run.id,
      candidateRun: candidate[p.candidate].run.id,
    })),
    unpaired,
  };
}

function pairedCase(
  key: string,
  bs: readonly CaseResult[],
  cs: readonly CaseResult[],
  opts: CompareOptions & { alpha: number },
): CaseComparison {
  const first = bs[0];
  const threshold = thresholdFor(first, opts.bounds, opts.threshold);
  const lowerBetter = first.direction === 'lower-is-better';
  const bm = bs.map((c) => c.stats.p50);
  const cm = cs.map((c) => c.stats.p50);
  const derived = [...bs, ...cs].some((c) => c.derived !== undefined);
  const common = {
    key,
    label: caseLabel(first),
    suite: first.suite,
    case: first.case,
    target: first.target,
    parameters: first.parameters,
    unit: first.unit,
    direction: first.direction,
    baseline: { n: bs.reduce((s, c) => s + c.stats.n, 0), p50: median(bm) },
    candidate: { n: cs.reduce((s, c) => s + c.stats.n, 0), p50: median(cm) },
    threshold,
    calibrated: null,
    derived,
  };
  const n = bm.length;
  if (n < 2)
    return {
      ...common,
      p: 1,
      ratio: null,
      worsening: null,
      verdict: 'not-comparable',
      reason: `in ${n} pair of runs only; the paired test needs at least 2`,
      paired: null,
    };
  const scale = [...bm, ...cm].every((x) => x > 0) ? 'log' : 'linear';
  const f = scale === 'log' ? Math.log : (x: number) => x;
  const d = bm.map((b, i) => f(cm[i]) - f(b));
  const est = mean(d);
  const sd = stddev(d);
  const df = n - 1;
  const se = sd / Math.sqrt(n);
  const crit = studentTQuantile(1 - opts.alpha / 2, df);
  const mdc = (crit + studentTQuantile(0.8, df)) * se;
  const p = se > 0 ? Math.min(1, 2 * studentTCdf(-Math.abs(est / se), df)) : est === 0 ? 1 : 0;
  const worseInPairs = d.filter((x) => (lowerBetter ? x > 0 : x < 0)).length;
  const paired: PairedComparison = {
    pairs: n,
    worseInPairs,
    scale,
    df,
    p,
    effect: sd > 0 ? est / sd : null,
    pairSpread: scale === 'log' ? Math.exp(sd) - 1 : null,
    minDetectable: scale === 'log' ? Math.exp(mdc) - 1 : null,
    difference: scale === 'linear' ? { value: est, low: est - crit * se, high: est + crit * se } : null,
  };
  const significant = p < opts.alpha;
  let result: CaseComparison;
  if (scale === 'linear') {
    const worse = lowerBetter ? est > 0 : est < 0;
    result = {
      ...common,
      p,
      ratio: null,
      worsening: null,
      verdict: significant ? (worse ? 'regression' : 'improvement') : 'no-significant-change',
      reason: 'a median is ≤ 0: compared as a difference, without a threshold',
      paired,
    };
  } else {
    const ratio = {
      value: Math.exp(est),
      low: Math.exp(est - crit * se),
      high: Math.exp(est + crit * se),
      level: 1 - opts.alpha,
    };
    const worsening = lowerBetter ? ratio.value - 1 : 1 - ratio.value;
    const verdict = !significant
      ? 'no-significant-change'
      : worsening > threshold
        ? 'regression'
        : worsening < -threshold
          ? 'improvement'
          : 'within-threshold';
    result = { ...common, p, ratio, worsening, verdict, reason: null, paired };
  }
  // a derived case is reported, never gated: its inputs carry the verdict
  return derived && result.verdict !== 'not-comparable' ? { ...result, verdict: 'derived' } : result;
}
