// The interleaved (paired) regression check on synthetic sessions with a known truth: the host
// drifts over the session by far more than the within-run noise, moving baseline and candidate
// runs alike; only a real shift of the candidate may be called a regression.
import { describe, expect, it } from 'vitest';
import { normal, syntheticCase, syntheticDocument } from '../../scripts/synthetic-results.js';
import type { ResultDocument } from '../results/document.js';
import { mergeRuns } from '../results/merge-runs.js';
import { createRng } from '../stats.js';
import { compareResults } from './compare-results.js';
import { formatReport } from './format-report.js';
import { compareInterleaved, pairRuns } from './interleaved.js';

const CASES = 100;
const SAMPLES = 15;
const WITHIN = 0.02;
const T0 = Date.parse('2026-01-01T00:00:00Z');

/**
 * One run at session slot `slot` (a minute each): every case's level is 100 × the host's
 * state at that time (a slow rise by `trend` over the session, a jolt of relative size
 * `jolt` that lasts two slots and hits every case of the runs in them, and a 1 % jitter
 * of each run), × `shift` for the cases `shifted` picks.
 */
function run(
  slot: number,
  seed: number,
  opts: { trend?: number; jolt?: number; shift?: number; shifted?: (i: number) => boolean } = {},
): ResultDocument {
  const rng = createRng(seed);
  const host =
    (1 + (opts.trend ?? 0) * (slot / 12)) *
    (1 + normal(createRng(1000 + (slot >> 1)), 0, opts.jolt ?? 0)) *
    (1 + normal(createRng(2000 + slot), 0, 0.01));
  const cases = Array.from({ length: CASES }, (_, i) => {
    const level = 100 * host * (opts.shifted?.(i) === true ? (opts.shift ?? 1) : 1);
    const samples = Array.from({ length: SAMPLES }, () => Math.max(1, normal(rng, level, level * WITHIN)));
    return syntheticCase({ suite: 'synthetic', case: `c${i}`, target: 'berth', unit: 'ms', samples });
  });
  return syntheticDocument(cases, {
    runId: `run-${slot}`,
    startedAt: new Date(T0 + slot * 61_000).toISOString(),
  });
}

/** A session in the order A B B A A B B A …: slots of A runs and of B runs. */
function abba(pairs: number): { a: number[]; b: number[] } {
  const a: number[] = [];
  const b: number[] = [];
  for (let p = 0; p < pairs; p++) {
    const [first, second] = p % 2 === 0 ? [a, b] : [b, a];
    first.push(2 * p);
    second.push(2 * p + 1);
  }
  return { a, b };
}

describe('pairRuns', () => {
  it('pairs each candidate run with the baseline run beside it in time, whatever the order of the files', () => {
    const { a, b } = abba(4);
    const as = a.map((s) => run(s, s)).reverse();
    const bs = b.map((s) => run(s, s));
    const pairs = pairRuns(as, bs);
    expect(pairs.map((p) => [as[p.baseline].run.id, bs[p.candidate].run.id])).toEqual([
      ['run-0', 'run-1'],
      ['run-3', 'run-2'],
      ['run-4', 'run-5'],
      ['run-7', 'run-6'],
    ]);
    expect(pairs.every((p) => p.gapSeconds === 61)).toBe(true);
  });
});

describe('compareInterleaved on a drifting host', () => {
  const drift = { trend: 0.3, jolt: 0.1 };
  const { a, b } = abba(6);

  it('a drift that moves both sides together gives no verdict', () => {
    const as = a.map((s) => run(s, 10 + s, drift));
    const bs = b.map((s) => run(s, 10 + s, drift));
    const report = compareInterleaved(as, bs);
    expect(report.cases).toHaveLength(CASES);
    expect(report.pairs).toHaveLength(6);
    expect(report.cases.filter((c) => c.verdict !== 'no-significant-change')).toEqual([]);
  });

  it('a real 10 % shift of some cases is found on the same drifting host, and the others are left alone', () => {
    const shifted = (i: number) => i % 10 === 0;
    const as = a.map((s) => run(s, 20 + s, drift));
    const bs = b.map((s) => run(s, 20 + s, { ...drift, shift: 1.1, shifted }));
    const report = compareInterleaved(as, bs, { threshold: 0 });
    const hits = report.cases.filter((c) => c.verdict === 'regression');
    expect(hits.map((c) => c.case).sort()).toEqual(Array.from({ length: CASES / 10 }, (_, k) => `c${k * 10}`).sort());
    const c0 = report.cases.find((c) => c.case === 'c0')!;
    expect(c0.ratio!.value).toBeCloseTo(1.1, 1);
    expect(c0.paired).toMatchObject({ pairs: 6, worseInPairs: 6, df: 5, scale: 'log' });
    expect(c0.paired!.minDetectable!).toBeLessThan(0.1);
    expect(c0.paired!.effect!).toBeGreaterThan(2);
    // the same runs, the candidate against the merged baseline runs: the drift hides the shift
    const pooled = compareResults(mergeRuns(as), bs[bs.length - 1], { threshold: 0 }).cases.find(
      (c) => c.case === 'c0',
    )!;
    expect(pooled.calibrated!.minDetectable!).toBeGreaterThan(0.2);
    const text = formatReport(report);
    expect(text).toMatch(/6p 6↑/);
    expect(text).toMatch(/interleaved: 6 pairs of runs, at most 61 s apart/);
  });

  it('runs made in two blocks (all A, then all B) turn the drift into a change: the interleaving is what removes it', () => {
    // pairs across two blocks join runs minutes apart: the host's rise between them is all the test sees
    const as = [0, 1, 2, 3, 4, 5].map((s) => run(s, 30 + s, { trend: 0.3 }));
    const bs = [6, 7, 8, 9, 10, 11].map((s) => run(s, 30 + s, { trend: 0.3 }));
    const report = compareInterleaved(as, bs);
    expect(report.regressions).toBeGreaterThan(CASES / 2);
    expect(report.warnings.join('\n')).toMatch(/at most 671 s apart/);
  });

  it('derived cases are shown, never gated; too few pairs and merged runs are refused with the reason', () => {
    const withDerived = (d: ResultDocument, factor: number) => {
      const derived = syntheticCase({
        suite: 'synthetic',
        case: 'ratio',
        target: 'berth',
        unit: 'ratio',
        samples: Array.from({ length: 5 }, () => factor),
        derived: { from: ['synthetic/c0'], how: 'ratio', pairing: 'same-sample' },
      });
      return { ...d, cases: [...d.cases, derived] };
    };
    const as = a.map((s) => withDerived(run(s, 40 + s), 1));
    const bs = b.map((s) => withDerived(run(s, 40 + s), 2));
    const ratio = compareInterleaved(as, bs).cases.find((c) => c.case === 'ratio')!;
    expect(ratio).toMatchObject({ verdict: 'derived', derived: true });
    expect(() => compareInterleaved(as.slice(0, 1), bs)).toThrow(/1 pair\(s\) of runs .*needs at least 2/);
    expect(() => compareInterleaved([mergeRuns(as.slice(0, 2)), ...as.slice(2)], bs)).toThrow(
      /baseline run 1 .* holds 2 merged runs/,
    );
  });
});
