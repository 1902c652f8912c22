// The statistics behind every number berth reports: percentiles, bootstrap confidence
// intervals, a rank test and outlier counts, as pure functions seeded for repeatability.

import { invalidArgument } from '../engine/errdefs/errors.js';
import type { Stats } from './results/document.js';

/** A pseudo-random source: each call returns a float in [0, 1) with 32 bits of resolution. */
export type Rng = () => number;

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) throw invalidArgument(`rng seed ${seed}: must be a safe integer`);
}

/**
 * A seeded xoshiro128** generator whose state is expanded from `seed` with splitmix32.
 * The same seed always yields the same sequence, on every platform. Not for cryptography.
 * Fails with INVALID_ARGUMENT when `seed` is not a safe integer. O(1) per draw.
 */
export function createRng(seed: number): Rng {
  checkSeed(seed);
  // Fold the high bits of a 53-bit seed into the 32-bit splitmix state.
  let sm = (seed >>> 0) ^ Math.imul(Math.floor(seed / 0x1_0000_0000) >>> 0, 0x9e3779b1);
  const splitmix32 = (): number => {
    sm = (sm + 0x9e3779b9) | 0;
    let z = sm;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let s0 = splitmix32();
  let s1 = splitmix32();
  let s2 = splitmix32();
  let s3 = splitmix32();
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1; // the all-zero state is a fixed point
  const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));
  return () => {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result / 0x1_0000_0000;
  };
}

function checkSamples(samples: readonly number[], subject: string): void {
  if (samples.length === 0) throw invalidArgument(`${subject}: no samples`);
  for (let i = 0; i < samples.length; i++) {
    if (!Number.isFinite(samples[i]))
      throw invalidArgument(`${subject}: sample ${i} is ${samples[i]}, not a finite number`);
  }
}

/** An ascending copy; a typed array sorts numerically by default. */
function sortedCopy(samples: readonly number[]): Float64Array {
  return Float64Array.from(samples).sort();
}

/**
 * The p-quantile (p in [0, 1]) of an ascending array, by linear interpolation between
 * order statistics: Hyndman & Fan's type 7, the default of R, NumPy and Excel's
 * PERCENTILE.INC. For 1..10: p=0.5 → 5.5, p=0.9 → 9.1. The result always lies between
 * the two neighbouring samples. The caller sorts; nothing is checked about the order.
 * Fails with INVALID_ARGUMENT on an empty array or p outside [0, 1]. O(1).
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw invalidArgument('percentile: no samples');
  if (!(p >= 0 && p <= 1)) throw invalidArgument(`percentile ${p}: must be within [0, 1]`);
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const a = sorted[lo];
  const b = sorted[hi];
  const v = a + (h - lo) * (b - a);
  return Math.min(Math.max(v, a), b);
}

/** Arithmetic mean. Fails with INVALID_ARGUMENT on an empty array. O(n). */
export function mean(samples: readonly number[]): number {
  if (samples.length === 0) throw invalidArgument('mean: no samples');
  let sum = 0;
  for (const x of samples) sum += x;
  return sum / samples.length;
}

/**
 * Sample standard deviation (divisor n − 1); 0 for a single sample, where it is
 * undefined. Fails with INVALID_ARGUMENT on an empty array. O(n), two passes.
 */
export function stddev(samples: readonly number[]): number {
  const m = mean(samples);
  if (samples.length < 2) return 0;
  let ss = 0;
  for (const x of samples) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (samples.length - 1));
}

/**
 * Median of unsorted samples: type 7 at p = 0.5, so the mean of the middle two for
 * an even count. The input is not changed. Fails with INVALID_ARGUMENT on an empty
 * array. O(n log n).
 */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw invalidArgument('median: no samples');
  return medianSorted([...samples].sort((a, b) => a - b));
}

/** Median of an ascending array (type 7 at p = 0.5). */
function medianSorted(sorted: ArrayLike<number>): number {
  return percentile(sorted, 0.5);
}

export interface BootstrapOptions {
  /** Confidence level in (0, 1); default 0.95. */
  level?: number;
  /** Number of resamples; default 2000. */
  resamples?: number;
  /** Seed of the resampling generator; the same seed gives the same interval. */
  seed: number;
}

export interface ConfidenceInterval {
  low: number;
  high: number;
  level: number;
  resamples: number;
}

function bootstrapParams(opts: BootstrapOptions, subject: string): { level: number; resamples: number } {
  const level = opts.level ?? 0.95;
  const resamples = opts.resamples ?? 2000;
  if (!(level > 0 && level < 1)) throw invalidArgument(`${subject}: level ${level} must be within (0, 1)`);
  if (!Number.isInteger(resamples) || resamples < 1)
    throw invalidArgument(`${subject}: resamples ${resamples} must be a positive integer`);
  checkSeed(opts.seed);
  return { level, resamples };
}

/**
 * Median (type 7) of a resample of `sorted` drawn with replacement. Drawing indices
 * into an ascending array means the resample's order statistics are found by
 * counting draws per index: O(n) per resample instead of a sort. `counts` is scratch
 * of sorted.length entries.
 */
function resampledMedian(sorted: ArrayLike<number>, counts: Uint32Array, rng: Rng): number {
  const n = sorted.length;
  counts.fill(0);
  for (let i = 0; i < n; i++) counts[Math.floor(rng() * n)]++;
  const h = (n - 1) / 2;
  const lo = Math.floor(h);
  let below = 0; // draws with an index smaller than j
  let j = 0;
  while (below + counts[j] <= lo) below += counts[j++];
  const a = sorted[j];
  if (h === lo) return a;
  while (below + counts[j] <= lo + 1) below += counts[j++];
  const b = sorted[j];
  return Math.min(Math.max(a + (h - lo) * (b - a), a), b);
}

/**
 * Percentile-bootstrap confidence interval of the median: `resamples` resamples with
 * replacement, the interval is the (1−level)/2 and (1+level)/2 quantiles (type 7) of
 * their medians. The interval is widened to include the sample median should
 * resampling noise ever leave it outside, so low ≤ median ≤ high always holds.
 * Deterministic for a given seed. Fails with INVALID_ARGUMENT on empty or non-finite
 * samples or bad options. Cost O(n log n + resamples · n): under 0.1 s for 10k samples.
 */
export function bootstrapMedianCI(samples: readonly number[], opts: BootstrapOptions): ConfidenceInterval {
  checkSamples(samples, 'bootstrap median CI');
  const { level, resamples } = bootstrapParams(opts, 'bootstrap median CI');
  const sorted = sortedCopy(samples);
  const median = medianSorted(sorted);
  const rng = createRng(opts.seed);
  const counts = new Uint32Array(sorted.length);
  const medians = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) medians[r] = resampledMedian(sorted, counts, rng);
  medians.sort();
  const alpha = (1 - level) / 2;
  return {
    low: Math.min(percentile(medians, alpha), median),
    high: Math.max(percentile(medians, 1 - alpha), median),
    level,
    resamples,
  };
}

export interface RatioInterval extends ConfidenceInterval {
  /** median(b) / median(a) of the samples themselves. */
  ratio: number;
}

/**
 * Percentile-bootstrap interval of median(b) / median(a), resampling a and b
 * independently: a ratio of 1.10 with low > 1 says b is slower than a (for a
 * lower-is-better quantity) beyond resampling noise. Every sample of `a` must be
 * positive, since the ratio means nothing otherwise. Deterministic for a given seed.
 * Fails with INVALID_ARGUMENT on empty, non-finite or (for a) non-positive samples.
 * Cost O(resamples · (n_a + n_b)) after one sort of each side.
 */
export function bootstrapRatioCI(a: readonly number[], b: readonly number[], opts: BootstrapOptions): RatioInterval {
  checkSamples(a, 'bootstrap ratio CI (baseline)');
  checkSamples(b, 'bootstrap ratio CI (candidate)');
  a.forEach((x, i) => {
    if (x <= 0)
      throw invalidArgument(`bootstrap ratio CI (baseline): sample ${i} is ${x}, a ratio needs positive values`);
  });
  const { level, resamples } = bootstrapParams(opts, 'bootstrap ratio CI');
  const sa = sortedCopy(a);
  const sb = sortedCopy(b);
  const ratio = medianSorted(sb) / medianSorted(sa);
  const rng = createRng(opts.seed);
  const countsA = new Uint32Array(sa.length);
  const countsB = new Uint32Array(sb.length);
  const ratios = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    const ma = resampledMedian(sa, countsA, rng);
    ratios[r] = resampledMedian(sb, countsB, rng) / ma;
  }
  ratios.sort();
  const alpha = (1 - level) / 2;
  return {
    ratio,
    low: Math.min(percentile(ratios, alpha), ratio),
    high: Math.max(percentile(ratios, 1 - alpha), ratio),
    level,
    resamples,
  };
}

export interface SummarizeOptions {
  /** Seed of the bootstrap behind ci95. */
  seed: number;
  /** Bootstrap resamples; default 2000. */
  resamples?: number;
  /** Confidence level of ci95; default 0.95. */
  level?: number;
}

/**
 * The Stats block of a result case: n, min, p50/p95/p99 (type 7), max, mean, sample
 * stddev and a bootstrap-percentile CI of the median. Samples are taken in the order
 * measured and are not modified. Deterministic for a given seed. Fails with
 * INVALID_ARGUMENT on empty or non-finite samples. Cost dominated by the bootstrap.
 */
export function summarize(samples: readonly number[], opts: SummarizeOptions): Stats {
  checkSamples(samples, 'summarize');
  const sorted = sortedCopy(samples);
  const ci = bootstrapMedianCI(samples, { seed: opts.seed, resamples: opts.resamples, level: opts.level });
  return {
    n: sorted.length,
    min: sorted[0],
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1],
    mean: mean(samples),
    stddev: stddev(samples),
    ci95: { low: ci.low, high: ci.high, level: ci.level, resamples: ci.resamples, method: 'bootstrap-percentile' },
  };
}

/**
 * Standard normal CDF Φ(x), by Hart's 1968 rational approximation in the form W. J.
 * West published ("Better approximations to cumulative normal functions", 2005):
 * accurate to about 1e-14 in absolute terms; computed on the tail side, so small
 * probabilities keep a relative error below 1e-9 (1e-8 beyond |x| = 7). O(1).
 */
export function normalCdf(x: number): number {
  const ax = Math.abs(x);
  let tail: number;
  if (ax > 37) {
    tail = 0;
  } else {
    const e = Math.exp((-ax * ax) / 2);
    if (ax < 7.07106781186547) {
      let num = 3.52624965998911e-2 * ax + 0.700383064443688;
      num = num * ax + 6.37396220353165;
      num = num * ax + 33.912866078383;
      num = num * ax + 112.079291497871;
      num = num * ax + 221.213596169931;
      num = num * ax + 220.206867912376;
      let den = 8.83883476483184e-2 * ax + 1.75566716318264;
      den = den * ax + 16.064177579207;
      den = den * ax + 86.7807322029461;
      den = den * ax + 296.564248779674;
      den = den * ax + 637.333633378831;
      den = den * ax + 793.826512519948;
      den = den * ax + 440.413735824752;
      tail = (e * num) / den;
    } else {
      let cf = ax + 0.65;
      cf = ax + 4 / cf;
      cf = ax + 3 / cf;
      cf = ax + 2 / cf;
      cf = ax + 1 / cf;
      tail = e / cf / 2.506628274631;
    }
  }
  return x > 0 ? 1 - tail : tail;
}

export interface MannWhitneyResult {
  /** U of `a`: pairs (x from a, y from b) with x > y, ties counting one half (SciPy's U1). */
  u: number;
  /** Normal-approximation z of U, positive when `a` tends to be larger than `b`. */
  z: number;
  /** Two-sided p-value, within [0, 1]. */
  p: number;
}

/**
 * Two-sided Mann–Whitney U test by the normal approximation, with the tie correction
 * of the variance and (unless `continuity: false`) a continuity correction of 0.5:
 * the same statistic and p as SciPy's `mannwhitneyu(a, b, method="asymptotic")`.
 * There is no exact small-sample distribution: with fewer than about 8 samples a side
 * the p-value is only approximate. All values tied gives z = 0, p = 1.
 * Fails with INVALID_ARGUMENT on empty or non-finite samples. O((n_a + n_b) log(n_a + n_b)).
 */
export function mannWhitneyU(
  a: readonly number[],
  b: readonly number[],
  opts: { continuity?: boolean } = {},
): MannWhitneyResult {
  checkSamples(a, 'Mann-Whitney U (a)');
  checkSamples(b, 'Mann-Whitney U (b)');
  const n1 = a.length;
  const n2 = b.length;
  const n = n1 + n2;
  const all = [...a.map((v) => ({ v, fromA: true })), ...b.map((v) => ({ v, fromA: false }))].sort((x, y) => x.v - y.v);
  let rankSumA = 0;
  let tieTerm = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && all[j + 1].v === all[i].v) j++;
    const rank = (i + j + 2) / 2; // ranks are 1-based; a tie group shares its mean rank
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    for (let k = i; k <= j; k++) if (all[k].fromA) rankSumA += rank;
    i = j + 1;
  }
  const u = rankSumA - (n1 * (n1 + 1)) / 2;
  const mu = (n1 * n2) / 2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  const d = u - mu;
  const corrected = Math.max(Math.abs(d) - (opts.continuity === false ? 0 : 0.5), 0);
  if (!(sigma > 0)) return { u, z: 0, p: 1 };
  const z = (Math.sign(d) * corrected) / sigma;
  const p = Math.min(1, 2 * normalCdf(-Math.abs(z)));
  return { u, z, p };
}

export interface OutlierCount {
  /** Samples below the lower fence. */
  low: number;
  /** Samples above the upper fence. */
  high: number;
  count: number;
  lowerFence: number;
  upperFence: number;
}

/**
 * Counts outliers by Tukey's fences: below Q1 − k·IQR or above Q3 + k·IQR, quartiles
 * by type 7, k = 1.5 unless given (3 marks "far out" values). Fails with
 * INVALID_ARGUMENT on empty or non-finite samples. O(n log n).
 */
export function outliers(samples: readonly number[], k = 1.5): OutlierCount {
  checkSamples(samples, 'outliers');
  const sorted = sortedCopy(samples);
  const q1 = percentile(sorted, 0.25);
  const q3 = percentile(sorted, 0.75);
  const lowerFence = q1 - k * (q3 - q1);
  const upperFence = q3 + k * (q3 - q1);
  let low = 0;
  let high = 0;
  for (const x of sorted) {
    if (x < lowerFence) low++;
    else if (x > upperFence) high++;
  }
  return { low, high, count: low + high, lowerFence, upperFence };
}

/** ln Γ(x) for x > 0, by the Lanczos approximation (g = 7, 9 terms): about 15 digits. */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b), x in [0, 1]. */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2)
    ? (front * betaContinuedFraction(a, b, x)) / a
    : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/**
 * CDF of Student's t distribution with `df` degrees of freedom (df > 0, not
 * necessarily an integer), through the regularized incomplete beta function: about
 * 12 significant digits. Fails with INVALID_ARGUMENT for df ≤ 0. O(1).
 */
export function studentTCdf(t: number, df: number): number {
  if (!(df > 0)) throw invalidArgument(`Student t: degrees of freedom ${df} must be positive`);
  if (!Number.isFinite(t)) return t > 0 ? 1 : 0;
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t > 0 ? 1 - tail : tail;
}

/**
 * The p-quantile of Student's t with `df` degrees of freedom (p in (0, 1)), by
 * bisection on studentTCdf to 1e-10: t(0.975, 4) = 2.776. Fails with
 * INVALID_ARGUMENT for p outside (0, 1) or df ≤ 0. O(100) CDF evaluations.
 */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw invalidArgument(`Student t quantile: p ${p} must be within (0, 1)`);
  if (!(df > 0)) throw invalidArgument(`Student t quantile: degrees of freedom ${df} must be positive`);
  if (p === 0.5) return 0;
  let lo = -1;
  let hi = 1;
  while (studentTCdf(lo, df) > p) lo *= 2;
  while (studentTCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-10 * Math.max(1, Math.abs(lo)); i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * Hierarchical percentile-bootstrap interval of the median of samples taken in
 * several runs: each resample draws as many runs as there are, with replacement, then
 * within each drawn run as many samples as it has, with replacement, and takes the
 * median of everything drawn. When the runs disagree (between-run variance), the
 * interval is wider than a bootstrap that treats all samples as one run. Widened to
 * contain the pooled median. Deterministic for a seed. Fails with INVALID_ARGUMENT on
 * no runs, an empty run or non-finite samples. Cost O(resamples · N log N), N samples in all.
 */
export function hierarchicalBootstrapMedianCI(
  runs: readonly (readonly number[])[],
  opts: BootstrapOptions,
): ConfidenceInterval {
  if (runs.length === 0) throw invalidArgument('hierarchical bootstrap: no runs');
  runs.forEach((r, i) => checkSamples(r, `hierarchical bootstrap (run ${i})`));
  const { level, resamples } = bootstrapParams(opts, 'hierarchical bootstrap');
  const pooled = median(runs.flat());
  const rng = createRng(opts.seed);
  const total = runs.reduce((n, r) => n + r.length, 0);
  const draw = new Float64Array(total);
  const medians = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let k = 0;
    for (let j = 0; j < runs.length; j++) {
      const run = runs[Math.floor(rng() * runs.length)];
      for (let i = 0; i < run.length && k < total; i++) draw[k++] = run[Math.floor(rng() * run.length)];
    }
    // the drawn runs may hold fewer samples than the real ones: use what was drawn
    medians[b] = percentile(draw.subarray(0, k).sort(), 0.5);
  }
  medians.sort();
  const alpha = (1 - level) / 2;
  return {
    low: Math.min(percentile(medians, alpha), pooled),
    high: Math.max(percentile(medians, 1 - alpha), pooled),
    level,
    resamples,
  };
}

export interface RunLevelOptions {
  /** Two-sided significance level; default 0.05. */
  alpha?: number;
  /** Power at which the minimum detectable change is given; default 0.8. */
  power?: number;
}

export interface RunLevelComparison {
  /** log: medians compared as log ratios (all positive); linear: as differences. */
  scale: 'log' | 'linear';
  /** Candidate minus baseline, on the scale (a log ratio or a difference of medians). */
  estimate: number;
  /** Its standard error from the between-run spread of the per-run medians. */
  se: number;
  df: number;
  t: number;
  /** Two-sided p-value of Student's t. */
  p: number;
  /** Confidence interval of the estimate at 1 − alpha, on the scale. */
  low: number;
  high: number;
  /** Smallest true change (on the scale, positive) the test detects with the given power at alpha. */
  mdc: number;
  /** Estimate in units of the between-run standard deviation (a standardized effect size); null when that is 0. */
  standardized: number | null;
}

/**
 * Compares per-run medians: the unit of replication is a run, since runs of one
 * commit differ by more than their within-run intervals say. On the log scale when
 * every median is positive (a ratio), else as differences. The between-run variance
 * is the sample variance of the baseline's run medians, pooled with the candidate's
 * when it has two runs or more; the standard error is s·√(1/n_b + 1/n_c), the test
 * Student's t (df = n_b + n_c − 2 when pooled, else n_b − 1), the minimum detectable
 * change (t_{1−α/2} + t_{power})·se. Needs at least 2 baseline runs; fails with
 * INVALID_ARGUMENT otherwise or on non-finite medians. Pure, O(runs).
 */
export function compareRunMedians(
  baseline: readonly number[],
  candidate: readonly number[],
  opts: RunLevelOptions = {},
): RunLevelComparison {
  const alpha = opts.alpha ?? 0.05;
  const power = opts.power ?? 0.8;
  if (!(alpha > 0 && alpha < 1)) throw invalidArgument(`run-level test: alpha ${alpha} must be within (0, 1)`);
  if (!(power > 0 && power < 1)) throw invalidArgument(`run-level test: power ${power} must be within (0, 1)`);
  if (baseline.length < 2)
    throw invalidArgument(
      `run-level test: ${baseline.length} baseline run(s); the between-run variance needs at least 2`,
    );
  checkSamples(baseline, 'run-level test (baseline medians)');
  checkSamples(candidate, 'run-level test (candidate medians)');
  const scale = [...baseline, ...candidate].every((x) => x > 0) ? 'log' : 'linear';
  const f = scale === 'log' ? Math.log : (x: number) => x;
  const b = baseline.map(f);
  const c = candidate.map(f);
  const nb = b.length;
  const nc = c.length;
  const vb = stddev(b) ** 2;
  let variance = vb;
  let df = nb - 1;
  if (nc >= 2) {
    variance = ((nb - 1) * vb + (nc - 1) * stddev(c) ** 2) / (nb + nc - 2);
    df = nb + nc - 2;
  }
  const s = Math.sqrt(variance);
  const se = s * Math.sqrt(1 / nb + 1 / nc);
  const estimate = mean(c) - mean(b);
  const crit = studentTQuantile(1 - alpha / 2, df);
  const mdc = (crit + studentTQuantile(power, df)) * se;
  if (!(se > 0)) {
    const p = estimate === 0 ? 1 : 0;
    return {
      scale,
      estimate,
      se,
      df,
      t: estimate === 0 ? 0 : Math.sign(estimate) * Infinity,
      p,
      low: estimate,
      high: estimate,
      mdc,
      standardized: null,
    };
  }
  const t = estimate / se;
  const p = Math.min(1, 2 * studentTCdf(-Math.abs(t), df));
  return {
    scale,
    estimate,
    se,
    df,
    t,
    p,
    low: estimate - crit * se,
    high: estimate + crit * se,
    mdc,
    standardized: s > 0 ? estimate / s : null,
  };
}
