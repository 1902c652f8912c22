// The run-level regression check on synthetic run sets with a known truth: runs of one
// commit differ by a run effect on top of the within-run noise, as real runs do. A/A
// (no change) must rarely be called a regression; an injected slowdown must be found.
import { describe, expect, it } from 'vitest';
import { normal, syntheticCase, syntheticDocument } from '../../scripts/synthetic-results.js';
import type { ResultDocument } from '../results/document.js';
import { mergeRuns } from '../results/merge-runs.js';
import { compareRunMedians, createRng, studentTCdf, studentTQuantile } from '../stats.js';
import { compareResults } from './compare-results.js';

const CASES = 120;
const SAMPLES = 15;
/** Between-run relative spread (a run's own shift) and within-run relative noise. */
const BETWEEN = 0.04;
const WITHIN = 0.03;

/** One run of CASES cases; every case's true median is 100 × slowdown (for the slowed cases). */
function run(seed: number, id: string, slowdown = 1, slowed = (_i: number) => true): ResultDocument {
  const rng = createRng(seed);
  const cases = Array.from({ length: CASES }, (_, i) => {
    const runShift = normal(rng, 0, BETWEEN);
    const mean = 100 * (1 + runShift) * (slowed(i) ? slowdown : 1);
    const samples = Array.from({ length: SAMPLES }, () => Math.max(1, normal(rng, mean, mean * WITHIN)));
    return syntheticCase({ suite: 'synthetic', case: `c${i}`, target: 'berth', unit: 'ms', samples });
  });
  return syntheticDocument(cases, { runId: id });
}

function baseline(seed: number, runs = 5): ResultDocument {
  return mergeRuns(Array.from({ length: runs }, (_, r) => run(seed * 100 + r, `b${seed}-${r}`)));
}

describe('Student t', () => {
  it('matches published quantiles and is the inverse of its CDF', () => {
    expect(studentTQuantile(0.975, 4)).toBeCloseTo(2.7764, 3);
    expect(studentTQuantile(0.975, 1)).toBeCloseTo(12.706, 2);
    expect(studentTQuantile(0.8, 4)).toBeCloseTo(0.941, 3);
    expect(studentTQuantile(0.975, 1000)).toBeCloseTo(1.962, 2);
    expect(studentTCdf(studentTQuantile(0.1, 7), 7)).toBeCloseTo(0.1, 8);
    expect(studentTCdf(0, 3)).toBe(0.5);
  });
});

describe('compareRunMedians', () => {
  it('uses the runs as replicates: a shift hidden in the between-run spread is not significant, the same shift with tight runs is', () => {
    const loose = compareRunMedians([90, 110, 95, 105, 100], [108]);
    expect(loose.p).toBeGreaterThan(0.2);
    const tight = compareRunMedians([99.5, 100.5, 100, 99.8, 100.2], [108]);
    expect(tight.p).toBeLessThan(0.001);
    expect(Math.exp(tight.estimate)).toBeCloseTo(1.08, 2);
    expect(tight.mdc).toBeLessThan(loose.mdc);
    // a difference scale when a median is ≤ 0 (an overhead)
    expect(compareRunMedians([-1, 1, 0], [5]).scale).toBe('linear');
    expect(() => compareRunMedians([100], [100])).toThrow(/at least 2/);
  });
});

describe('calibrated compare on synthetic run sets', () => {
  it('A/A: with 5 baseline runs, at most 5 % of unchanged cases are called regressions; within-run statistics alone call far more', () => {
    let calibratedFalse = 0;
    let naiveFalse = 0;
    let total = 0;
    for (let rep = 0; rep < 4; rep++) {
      const base = baseline(rep + 1);
      const cand = run(9000 + rep, `a${rep}`);
      const calibrated = compareResults(base, cand, { threshold: 0, resamples: 200 });
      // the same candidate against a single baseline run: only within-run noise is seen
      const single = compareResults(run(rep * 100 + 1 + 100, `s${rep}`), cand, { threshold: 0, resamples: 200 });
      calibratedFalse += calibrated.regressions;
      naiveFalse += single.regressions;
      total += CASES;
      expect(
        calibrated.cases.every((c) => c.calibrated?.runs.baseline === 5 && c.calibrated.minDetectable !== null),
      ).toBe(true);
    }
    const rate = calibratedFalse / total;
    expect(rate).toBeLessThanOrEqual(0.05);
    expect(naiveFalse / total).toBeGreaterThan(0.2);
  });

  it('A/B: an injected 25 % slowdown (above the minimum detectable change) is found in nearly every slowed case, 10 % (below it) only sometimes, as the MDC says; unchanged cases stay quiet', () => {
    for (const [slowdown, minRate, maxRate] of [
      [1.25, 0.95, 1],
      [1.1, 0.15, 0.7],
    ] as const) {
      let found = 0;
      let slowedCount = 0;
      let falseAlarms = 0;
      for (let rep = 0; rep < 3; rep++) {
        const base = baseline(rep + 20);
        const cand = run(7000 + rep, `ab${rep}`, slowdown, (i) => i % 2 === 0);
        const report = compareResults(base, cand, { threshold: 0, resamples: 200 });
        // with 4 % between-run spread and 5 runs, the minimum detectable change lies between the two slowdowns
        const mdcs = report.cases.map((c) => c.calibrated!.minDetectable!).sort((x, y) => x - y);
        expect(mdcs[mdcs.length >> 1]).toBeGreaterThan(0.1);
        expect(mdcs[mdcs.length >> 1]).toBeLessThan(0.25);
        report.cases.forEach((c, i) => {
          if (i % 2 === 0) {
            slowedCount++;
            if (c.verdict === 'regression') found++;
          } else if (c.verdict === 'regression') falseAlarms++;
        });
      }
      expect(found / slowedCount).toBeGreaterThanOrEqual(minRate);
      expect(found / slowedCount).toBeLessThanOrEqual(maxRate);
      expect(falseAlarms / slowedCount).toBeLessThanOrEqual(0.05);
    }
  });

  it('never gates on a derived case: it is shown with its change, its inputs carry the verdict', () => {
    const base = baseline(40);
    const cand = run(41, 'd', 1.5);
    for (const d of [base, cand])
      d.cases[0].derived = { from: ['synthetic/c1 berth'], how: 'ratio', pairing: 'interleaved' };
    const report = compareResults(base, cand, { threshold: 0.1, resamples: 200 });
    expect(report.cases[0].verdict).toBe('derived');
    expect(report.cases[0].worsening!).toBeGreaterThan(0.3);
    expect(report.cases[1].verdict).toBe('regression');
    expect(report.regressions).toBeGreaterThanOrEqual(CASES - 5);
    expect(report.cases.filter((c) => c.verdict === 'derived')).toHaveLength(1);
  });
});
