// The A/A–A/B experiment's analysis on synthetic runs with a known truth (the bench
// itself is not run here: it measures the host, which is busy during tests).
import { describe, expect, it } from 'vitest';
import { formatExperiment, summarizeExperiment, summarizeInterleaved } from '../bench/compare/experiment.js';
import { interleavedSchedule, main } from './aa-ab.js';
import { syntheticExperimentRun as run } from './synthetic-results.js';

describe('aa-ab experiment analysis', () => {
  it('counts A/A false positives leave-one-out and A/B detections of the injected case only', () => {
    const a = [1, 2, 3, 4, 5].map((s) => run(s));
    const b = new Map([[0.5, [10, 11, 12].map((s) => run(s, 1.5))]]);
    const s = summarizeExperiment(a, b);
    expect(s.aa).toMatchObject({ runs: 5, comparisons: 5, cases: 200 });
    expect(s.aa.rate).toBeLessThanOrEqual(0.05);
    expect(s.ab[0]).toMatchObject({ slowdown: 0.5, runs: 3, injectedCases: 3, detected: 3, rate: 1, otherCases: 117 });
    expect(s.ab[0].falseAlarms / s.ab[0].otherCases).toBeLessThanOrEqual(0.05);
    expect(formatExperiment(s)).toMatch(/A\/B \+50\.0%: 3 runs: 3 of 3 injected cases detected/);
    expect(() => summarizeExperiment(a.slice(0, 2), b)).toThrow(/at least 3/);
  });

  it('interleaves A and B runs in balanced rounds, each B run beside an A run', () => {
    const name = (x: ReturnType<typeof interleavedSchedule>[number]) =>
      x.side === 'a' ? `A${x.index}` : `B${x.slowdown}.${x.index}`;
    expect(interleavedSchedule(4, 2, 2).map(name).join(' ')).toBe('A0 B0.0 A1 B1.0 B1.1 A2 B0.1 A3');
    expect(interleavedSchedule(3, 3, 1).map(name).join(' ')).toBe('A0 B0.0 B0.1 A1 A2 B0.2');
    const s = interleavedSchedule(12, 6, 2);
    expect(s.filter((x) => x.side === 'a')).toHaveLength(12);
    // every B run has an A run right before or after it
    s.forEach((x, i) => {
      if (x.side === 'b') expect(s[i - 1]?.side === 'a' || s[i + 1]?.side === 'a').toBe(true);
    });
  });

  it('counts the interleaved A/A over alternating halves and the A/B over pairs of neighbouring runs', () => {
    // A at minutes 1 3 5 7 9 11, B (+50 % on case n=0) at 2 6 10 and 4 8 12
    const a = [1, 3, 5, 7, 9, 11].map((s) => run(s));
    const b = new Map([
      [0.5, [2, 6, 10].map((s) => run(s, 1.5))],
      [0.02, [4, 8, 12].map((s) => run(s, 1.02))],
    ]);
    const s = summarizeInterleaved(a, b);
    // halves (1 5 9 | 3 7 11) and (3 7 | 5 9): 3 + 2 pairs
    expect(s.aa).toMatchObject({ runs: 6, comparisons: 2, pairs: 5, cases: 80 });
    expect(s.aa.rate).toBeLessThanOrEqual(0.05);
    expect(s.ab.map((x) => [x.slowdown, x.pairs, x.injectedCases, x.otherCases])).toEqual([
      [0.02, 3, 1, 39],
      [0.5, 3, 1, 39],
    ]);
    expect(s.ab[1].detected).toBe(1);
    expect(s.ab[1].medianMinDetectable!).toBeLessThan(0.5);
    const text = formatExperiment({ ...summarizeExperiment(a, b), interleaved: s });
    expect(text).toMatch(/interleaved \(paired t .*α 0\.05, all pairs in one comparison\)/);
    expect(text).toMatch(/A\/B \+50\.0%: 3 runs, 1 comparisons of 3 pairs in all: 1 of 1 injected cases detected/);
    const perTwo = summarizeInterleaved(a, new Map([[0.5, [2, 6, 10, 4].map((s) => run(s, 1.5))]]), {
      pairsPerComparison: 2,
    });
    expect(perTwo.ab[0]).toMatchObject({ comparisons: 2, pairs: 4, injectedCases: 2 });
    expect(() => summarizeInterleaved(a.slice(0, 3), b)).toThrow(/needs at least 4/);
  });

  it('refuses to write its results into the repository', async () => {
    const err: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => err.push(s) > 0) as typeof process.stderr.write;
    try {
      expect(await main(['--out', 'results/aa-ab'])).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(err.join('')).toMatch(/inside the repository/);
  });
});
