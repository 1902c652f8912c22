// The calibration page: Wilson intervals, one row per rate, goals as reference lines, and
// nothing drawn without a recorded experiment.
import { describe, expect, it } from 'vitest';
import { syntheticExperiment } from '../../scripts/synthetic-results.js';
import { calibrationPage, calibrationRows, provenanceLines, wilsonInterval } from './calibration-page.js';

describe('calibration page', () => {
  it('Wilson intervals stay within [0, 1] and hold the observed share', () => {
    const none = wilsonInterval(0, 40);
    expect(none.low).toBe(0);
    expect(none.high).toBeCloseTo(0.0876, 3);
    const all = wilsonInterval(3, 3);
    expect(all.high).toBe(1);
    expect(all.low).toBeCloseTo(0.4385, 3);
    const half = wilsonInterval(10, 20);
    expect(half.low).toBeCloseTo(0.2993, 3);
    expect(half.high).toBeCloseTo(0.7007, 3);
    expect(wilsonInterval(0, 0)).toEqual({ low: 0, high: 1 });
  });

  it('has a row for A/A and, per slowdown, the false alarms and the detections', () => {
    const r = syntheticExperiment();
    const rows = calibrationRows([r]);
    expect(rows.map((x) => x.operation)).toEqual(['A/A, 5 runs', 'A/B +50 %: other cases', 'A/B +50 %: injected case']);
    expect(rows[2]).toMatchObject({ unit: 'percent', n: 3, p50: 100, high: 100 });
    expect(rows[0].n).toBe(r.aa.cases);
    expect(provenanceLines([r])[0]).toMatch(/injected case trace\/call n=0/);
  });

  it('adds the interleaved rates and MDC beside the pooled ones when the record has them', () => {
    const r = syntheticExperiment(true);
    expect(r.interleaved).toBeDefined();
    const rows = calibrationRows([r]);
    expect(rows.map((x) => x.operation)).toEqual([
      'A/A, 5 runs',
      'A/B +50 %: other cases',
      'A/B +50 %: injected case',
      `interleaved A/A, 5 runs, ${r.interleaved!.aa.pairs} pairs`,
      'interleaved A/B +50 %, 3 pairs: other cases',
      'interleaved A/B +50 %, 3 pairs: injected case',
    ]);
    expect(rows[5]).toMatchObject({ n: 1, p50: 100 });
    const mdc = calibrationPage.charts({ results: [], history: [], experiments: [r] })[1];
    expect(JSON.stringify(mdc)).toMatch(/in the \+50 % runs, interleaved/);
  });

  it('draws the rates against the goals and the MDC, or nothing without a record', () => {
    const charts = calibrationPage.charts({ results: [], history: [], experiments: [syntheticExperiment()] });
    expect(charts.map((c) => c.id)).toEqual(['calibration-rates', 'calibration-mdc']);
    expect(charts[0].caption.join(' ')).toMatch(
      /Wilson score interval.*goals \(at most 1 % wrong, at least 90 % found\)/,
    );
    expect(charts[0].source).toBe('experiments');
    expect(calibrationPage.charts({ results: [], history: [] })).toEqual([]);
  });
});
