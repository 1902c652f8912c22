// Checks the statistics against reference values (NumPy/SciPy outputs for the same
// inputs) and the bootstrap's determinism and coverage on seeded data.
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../engine/errdefs/errors.js';
import {
  bootstrapMedianCI,
  bootstrapRatioCI,
  createRng,
  mannWhitneyU,
  mean,
  median,
  normalCdf,
  outliers,
  percentile,
  stddev,
  summarize,
} from './stats.js';

const oneToTen = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

/** Normal deviates by Box–Muller from a seeded generator. */
function normalSample(n: number, mu: number, sigma: number, seed: number): number[] {
  const rng = createRng(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const u1 = 1 - rng();
    const u2 = rng();
    out.push(mu + sigma * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
  }
  return out;
}

function expectInvalid(fn: () => unknown, fragment: string): void {
  try {
    fn();
  } catch (err) {
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toContain(fragment);
    return;
  }
  throw new Error(`expected INVALID_ARGUMENT containing "${fragment}"`);
}

describe('percentile (Hyndman–Fan type 7, as numpy.percentile)', () => {
  it.each([
    [0, 1],
    [0.1, 1.9],
    [0.25, 3.25],
    [0.5, 5.5],
    [0.75, 7.75],
    [0.9, 9.1],
    [0.95, 9.55],
    [0.99, 9.91],
    [1, 10],
  ])('p=%s of 1..10 is %s', (p, want) => {
    expect(percentile(oneToTen, p)).toBeCloseTo(want, 12);
  });

  it('returns the single value of a one-sample array for any p', () => {
    expect(percentile([42], 0)).toBe(42);
    expect(percentile([42], 0.99)).toBe(42);
  });

  it('rejects p outside [0, 1] and empty input', () => {
    expectInvalid(() => percentile(oneToTen, 95), 'percentile 95');
    expectInvalid(() => percentile([], 0.5), 'no samples');
  });
});

describe('median', () => {
  it('sorts a copy and takes the middle, or the mean of the middle two', () => {
    const xs = [9, 1, 5, 3];
    expect(median(xs)).toBe(4);
    expect(xs).toEqual([9, 1, 5, 3]);
    expect(median([7, 2, 30])).toBe(7);
    expect(median([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])).toBe(5.5);
    expect(median([-1])).toBe(-1);
  });
  it('fails with INVALID_ARGUMENT on no samples', () => {
    expect(() => median([])).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'median: no samples' }),
    );
  });
});

describe('mean and stddev', () => {
  it('match NumPy for 1..10 (ddof=1)', () => {
    expect(mean(oneToTen)).toBe(5.5);
    expect(stddev(oneToTen)).toBeCloseTo(3.0276503540974917, 12);
  });
  it('give stddev 0 for one sample', () => {
    expect(stddev([3])).toBe(0);
  });
});

describe('createRng', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const a = createRng(7);
    const b = createRng(7);
    const c = createRng(8);
    const sa = Array.from({ length: 8 }, () => a());
    const sb = Array.from({ length: 8 }, () => b());
    const sc = Array.from({ length: 8 }, () => c());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
  });

  it('yields floats in [0, 1) spread evenly', () => {
    const rng = createRng(12345);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const x = rng();
      expect(x >= 0 && x < 1).toBe(true);
      buckets[Math.floor(x * 10)]++;
    }
    for (const count of buckets) expect(Math.abs(count - 10_000)).toBeLessThan(500);
  });

  it('uses the high bits of large seeds', () => {
    expect(createRng(2 ** 40)()).not.toBe(createRng(0)());
  });

  it('rejects a non-integer seed', () => {
    expectInvalid(() => createRng(1.5), 'rng seed 1.5');
  });
});

describe('normalCdf', () => {
  it.each([
    [-1, 0.15865525393145707],
    [-1.959963984540054, 0.025],
    [-3, 0.0013498980316300933],
    [-5, 2.866515718791933e-7],
    [-8, 6.22096057427174e-16],
    [0.5, 0.6914624612740131],
    [2, 0.9772498680518208],
  ])('Φ(%s) = %s (scipy.stats.norm.cdf)', (x, want) => {
    // Relative error: below 1e-9 in the body, 1e-8 in the far tail (x = -8).
    expect(Math.abs(normalCdf(x) - want) / want).toBeLessThan(x < -7 ? 1e-7 : 1e-9);
  });
});

describe('mannWhitneyU (scipy.stats.mannwhitneyu, method="asymptotic")', () => {
  it('matches SciPy documentation example (males vs females)', () => {
    const r = mannWhitneyU([19, 22, 16, 29, 24], [20, 11, 17, 12]);
    expect(r.u).toBe(17);
    expect(r.p).toBeCloseTo(0.11134688653314041, 10);
    expect(r.z).toBeGreaterThan(0);
  });

  it('matches SciPy with ties, with and without continuity correction', () => {
    const a = [1, 2, 2, 3, 3, 3, 4, 5];
    const b = [3, 3, 4, 4, 5, 6, 6, 7, 8];
    const r = mannWhitneyU(a, b);
    expect(r.u).toBe(10.5);
    expect(r.p).toBeCloseTo(0.01442744938140461, 10);
    expect(r.z).toBeLessThan(0);
    expect(mannWhitneyU(a, b, { continuity: false }).p).toBeCloseTo(0.012582599228583628, 10);
  });

  it('is symmetric: swapping sides flips z and keeps p', () => {
    const a = normalSample(30, 10, 1, 1);
    const b = normalSample(40, 10.5, 1, 2);
    const ab = mannWhitneyU(a, b);
    const ba = mannWhitneyU(b, a);
    expect(ab.u + ba.u).toBe(30 * 40);
    expect(ba.z).toBeCloseTo(-ab.z, 12);
    expect(ba.p).toBeCloseTo(ab.p, 12);
  });

  it('gives p = 1 when every value is tied', () => {
    expect(mannWhitneyU([5, 5, 5], [5, 5])).toEqual({ u: 3, z: 0, p: 1 });
  });

  it('rejects empty or non-finite samples', () => {
    expectInvalid(() => mannWhitneyU([], [1]), 'Mann-Whitney U (a): no samples');
    expectInvalid(() => mannWhitneyU([1], [NaN]), 'sample 0 is NaN');
  });
});

describe('bootstrapMedianCI', () => {
  it('contains the true median of seeded normal samples', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const ci = bootstrapMedianCI(normalSample(200, 10, 2, seed), { seed });
      expect(ci.low).toBeLessThan(10);
      expect(ci.high).toBeGreaterThan(10);
      expect(ci.high - ci.low).toBeLessThan(1.5);
      expect(ci).toMatchObject({ level: 0.95, resamples: 2000 });
    }
  });

  // The interval straight from the definition: sort every resample, take its median.
  function referenceCI(samples: number[], seed: number, resamples: number): [number, number] {
    const sorted = [...samples].sort((x, y) => x - y);
    const rng = createRng(seed);
    const medians: number[] = [];
    for (let r = 0; r < resamples; r++) {
      const resample = sorted.map(() => sorted[Math.floor(rng() * sorted.length)]).sort((x, y) => x - y);
      medians.push(percentile(resample, 0.5));
    }
    medians.sort((x, y) => x - y);
    const median = percentile(sorted, 0.5);
    const alpha = (1 - 0.95) / 2;
    return [Math.min(percentile(medians, alpha), median), Math.max(percentile(medians, 1 - alpha), median)];
  }

  it.each([
    ['odd n', normalSample(41, 5, 1, 13)],
    ['even n', normalSample(40, 5, 1, 14)],
    ['heavy ties', [1, 1, 1, 2, 2, 3, 3, 3, 3, 9, 9, 20]],
    ['two samples', [3, 8]],
  ])('equals sorting every resample (%s)', (_, xs) => {
    const ci = bootstrapMedianCI(xs, { seed: 17, resamples: 300 });
    expect([ci.low, ci.high]).toEqual(referenceCI(xs, 17, 300));
  });

  it('is deterministic for a seed', () => {
    const xs = normalSample(50, 0, 1, 9);
    expect(bootstrapMedianCI(xs, { seed: 3 })).toEqual(bootstrapMedianCI(xs, { seed: 3 }));
    expect(bootstrapMedianCI(xs, { seed: 3 })).not.toEqual(bootstrapMedianCI(xs, { seed: 4 }));
  });

  it('narrows when the level drops', () => {
    const xs = normalSample(100, 0, 1, 11);
    const wide = bootstrapMedianCI(xs, { seed: 1, level: 0.99 });
    const narrow = bootstrapMedianCI(xs, { seed: 1, level: 0.5 });
    expect(narrow.high - narrow.low).toBeLessThan(wide.high - wide.low);
  });

  it('rejects bad options', () => {
    expectInvalid(() => bootstrapMedianCI([1, 2], { seed: 1, level: 95 }), 'level 95');
    expectInvalid(() => bootstrapMedianCI([1, 2], { seed: 1, resamples: 0 }), 'resamples 0');
  });
});

describe('bootstrapRatioCI', () => {
  it('brackets the ratio of medians and excludes 1 for a clear slowdown', () => {
    const a = normalSample(100, 10, 0.5, 21);
    const b = normalSample(100, 12, 0.5, 22);
    const r = bootstrapRatioCI(a, b, { seed: 5 });
    expect(r.low).toBeLessThanOrEqual(r.ratio);
    expect(r.high).toBeGreaterThanOrEqual(r.ratio);
    expect(r.low).toBeGreaterThan(1.1);
    expect(r.high).toBeLessThan(1.3);
  });

  it('includes 1 when both sides come from one distribution', () => {
    const r = bootstrapRatioCI(normalSample(100, 10, 1, 31), normalSample(100, 10, 1, 32), { seed: 5 });
    expect(r.low).toBeLessThan(1);
    expect(r.high).toBeGreaterThan(1);
  });

  it('rejects a non-positive baseline', () => {
    expectInvalid(() => bootstrapRatioCI([1, 0], [1, 2], { seed: 1 }), 'sample 1 is 0');
  });
});

describe('outliers (Tukey fences)', () => {
  it('counts values beyond 1.5 IQR on each side', () => {
    // With -40 and 150 added: Q1 = 2.75, Q3 = 8.25, IQR = 5.5, fences -5.5 and 16.5.
    const r = outliers([-40, ...oneToTen, 150]);
    expect(r.low).toBe(1);
    expect(r.high).toBe(1);
    expect(r.count).toBe(2);
  });
  it('finds none in 1..10 and takes another k', () => {
    expect(outliers(oneToTen)).toMatchObject({ count: 0, lowerFence: -3.5, upperFence: 14.5 });
    // 1..10 and 20: Q1 = 3.5, Q3 = 8.5; the k=1.5 fence is 16, the k=3 fence 23.5.
    expect(outliers([...oneToTen, 20]).high).toBe(1);
    expect(outliers([...oneToTen, 20], 3).count).toBe(0);
  });
});

describe('summarize', () => {
  it('fills every Stats field consistently', () => {
    const xs = [3.2, 1.5, 7.7, 2.2, 9.1, 4.4, 5.0];
    const s = summarize(xs, { seed: 1 });
    expect(s).toMatchObject({ n: 7, min: 1.5, max: 9.1, p50: 4.4 });
    expect(s.p95).toBeCloseTo(8.68, 12);
    expect(s.p99).toBeCloseTo(9.016, 12);
    expect(s.mean).toBeCloseTo(4.728571428571429, 12);
    expect(s.stddev).toBeCloseTo(2.8069641285644567, 12);
    expect(s.ci95.low).toBeLessThanOrEqual(s.p50);
    expect(s.ci95.high).toBeGreaterThanOrEqual(s.p50);
    expect(s.ci95.method).toBe('bootstrap-percentile');
    expect(xs).toEqual([3.2, 1.5, 7.7, 2.2, 9.1, 4.4, 5.0]);
  });

  it('handles a single sample', () => {
    const s = summarize([2], { seed: 1, resamples: 10 });
    expect(s).toMatchObject({ n: 1, min: 2, p50: 2, max: 2, stddev: 0, ci95: { low: 2, high: 2, resamples: 10 } });
  });

  it('rejects empty and non-finite samples', () => {
    expectInvalid(() => summarize([], { seed: 1 }), 'summarize: no samples');
    expectInvalid(() => summarize([1, Infinity], { seed: 1 }), 'sample 1 is Infinity');
  });
});
