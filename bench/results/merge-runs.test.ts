// Several runs merged into one document: samples tagged by run, per-run medians, the
// between-run spread and a hierarchical interval that widens when the runs disagree.
import { describe, expect, it } from 'vitest';
import { normalSamples, syntheticCase, syntheticDocument } from '../../scripts/synthetic-results.js';
import type { ResultDocument } from './document.js';
import { mergeRuns } from './merge-runs.js';
import { validateResult } from './validate.js';

function runDoc(id: string, mean: number, seed: number, extra = true): ResultDocument {
  const cases = [
    syntheticCase({
      suite: 'run',
      case: 'start',
      target: 'berth',
      unit: 'ms',
      samples: normalSamples(seed, 20, mean, 1),
    }),
  ];
  if (extra)
    cases.push(
      syntheticCase({
        suite: 'run',
        case: 'stop',
        target: 'berth',
        unit: 'ms',
        samples: normalSamples(seed + 100, 10, 5, 0.1),
      }),
    );
  return syntheticDocument(cases, { runId: id });
}

describe('mergeRuns', () => {
  it('pools the samples per case with their run, per-run medians and a spread; the result validates', () => {
    const merged = mergeRuns([runDoc('a', 100, 1), runDoc('b', 110, 2), runDoc('c', 90, 3, false)]);
    expect(() => validateResult(merged)).not.toThrow();
    expect(merged.run.repeat).toEqual({ runs: 3, runIds: ['a', 'b', 'c'] });
    const start = merged.cases.find((c) => c.case === 'start')!;
    expect(start.samples).toHaveLength(60);
    expect(start.runs!.sampleRun.slice(18, 22)).toEqual([0, 0, 1, 1]);
    expect(start.runs!.perRun.map((r) => Math.round(r.p50))).toEqual([100, 110, 90]);
    expect(start.runs!.relativeStddev!).toBeGreaterThan(0.08);
    // the runs disagree by far more than the samples within one: the hierarchical interval is much wider
    expect(start.runs!.ci95.high - start.runs!.ci95.low).toBeGreaterThan(
      5 * (start.stats.ci95.high - start.stats.ci95.low),
    );
    const stop = merged.cases.find((c) => c.case === 'stop')!;
    expect(stop.runs!.perRun.map((r) => r.run)).toEqual([0, 1]);
    expect(stop.notes).toContain('Measured in 2 of the 3 merged runs.');
  });

  it('merges a merged document with more runs, keeping run indices apart', () => {
    const ab = mergeRuns([runDoc('a', 100, 1), runDoc('b', 100, 2)]);
    const abc = mergeRuns([ab, runDoc('c', 100, 3)]);
    expect(abc.run.repeat!.runIds).toEqual(['a', 'b', 'c']);
    expect(abc.cases[0].runs!.perRun.map((r) => r.run)).toEqual([0, 1, 2]);
    expect(() => validateResult(abc)).not.toThrow();
  });

  it('refuses runs of other hosts or profiles, and a single run', () => {
    const other = runDoc('b', 100, 2);
    other.host.fingerprint = 'ffffffffffffffff';
    expect(() => mergeRuns([runDoc('a', 100, 1), other])).toThrow(/runs of different hosts/);
    const full = runDoc('b', 100, 2);
    full.run.profile = 'full';
    expect(() => mergeRuns([runDoc('a', 100, 1), full])).toThrow(/profile full/);
    expect(() => mergeRuns([runDoc('a', 100, 1)])).toThrow(/needs at least 2/);
  });
});
