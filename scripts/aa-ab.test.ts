// The A/A–A/B experiment's analysis on synthetic runs with a known truth (the bench
// itself is not run here: it measures the host, which is busy during tests).
import { describe, expect, it } from 'vitest';
import { formatExperiment, summarizeExperiment } from '../bench/compare/experiment.js';
import { main } from './aa-ab.js';
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
