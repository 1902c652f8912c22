// The regression checker on synthetic runs with known shifts: it must catch a 20 %
// slowdown, stay quiet on identical distributions, and never drop or mix cases.
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../../engine/errdefs/errors.js';
import { normalSamples, syntheticCase, syntheticDocument } from '../../scripts/synthetic-results.js';
import { caseKey } from './case-key.js';
import { compareResults } from './compare-results.js';
import { formatReport } from './format-report.js';
import { parseBounds, parseThreshold, thresholdFor } from './threshold.js';

const startup = (samples: number[], extra: Partial<Parameters<typeof syntheticCase>[0]> = {}) =>
  syntheticCase({
    suite: 'run',
    case: 'start',
    target: 'berth',
    parameters: { image: 'busybox' },
    unit: 'ms',
    samples,
    ...extra,
  });

describe('compareResults', () => {
  it('flags a 20 % regression with n = 30 (seeded)', () => {
    const base = syntheticDocument([startup(normalSamples(11, 30, 100, 8))]);
    const cand = syntheticDocument([startup(normalSamples(12, 30, 120, 9.6))]);
    const report = compareResults(base, cand, { threshold: 0.1 });
    expect(report.cases).toHaveLength(1);
    const c = report.cases[0];
    expect(c.verdict).toBe('regression');
    expect(c.ratio!.value).toBeGreaterThan(1.1);
    expect(c.ratio!.low).toBeGreaterThan(1);
    expect(c.p).toBeLessThan(0.05);
    expect(report.regressions).toBe(1);
    expect(formatReport(report)).toContain('REGRESSION');
  });

  it('does not flag two samples of one distribution (seeded)', () => {
    for (const seed of [21, 22, 23, 24, 25]) {
      const base = syntheticDocument([startup(normalSamples(seed, 30, 100, 8))]);
      const cand = syntheticDocument([startup(normalSamples(seed + 100, 30, 100, 8))]);
      const report = compareResults(base, cand, { threshold: 0.1 });
      expect(report.cases[0].verdict).not.toBe('regression');
      expect(report.regressions).toBe(0);
    }
  });

  it('reads the direction from the case: a throughput drop is a regression, a rise is not', () => {
    const tput = (samples: number[]) =>
      syntheticCase({ suite: 'pull', case: 'pull', target: 'berth', unit: 'MiB/s', samples });
    const base = syntheticDocument([tput(normalSamples(31, 30, 200, 10))]);
    const worse = syntheticDocument([tput(normalSamples(32, 30, 150, 8))]);
    const better = syntheticDocument([tput(normalSamples(33, 30, 260, 12))]);
    expect(compareResults(base, worse).cases[0].verdict).toBe('regression');
    expect(compareResults(base, better).cases[0].verdict).toBe('improvement');
  });

  it('lets a per-case bound allow a shift the default would flag', () => {
    const base = syntheticDocument([startup(normalSamples(41, 30, 100, 5))]);
    const cand = syntheticDocument([startup(normalSamples(42, 30, 120, 6))]);
    const bounds = parseBounds({
      threshold: '10%',
      cases: [{ suite: 'run', case: 'start', parameters: { image: 'busybox' }, threshold: '30%' }],
    });
    const c = compareResults(base, cand, { bounds }).cases[0];
    expect(c.threshold).toBeCloseTo(0.3);
    expect(c.verdict).toBe('within-threshold');
  });

  it('lists cases present in one file only instead of dropping them', () => {
    const shared = startup(normalSamples(51, 10, 100, 5));
    const onlyBase = syntheticCase({
      suite: 'run',
      case: 'start',
      target: 'runc',
      unit: 'ms',
      samples: normalSamples(52, 10, 30, 2),
    });
    const onlyCand = syntheticCase({
      suite: 'run',
      case: 'start',
      target: 'crun',
      unit: 'ms',
      samples: normalSamples(53, 10, 20, 2),
    });
    const report = compareResults(syntheticDocument([shared, onlyBase]), syntheticDocument([shared, onlyCand]));
    expect(report.cases.map((c) => c.target)).toEqual(['berth']);
    expect(report.onlyInBaseline.map((c) => c.key)).toEqual([caseKey(onlyBase)]);
    expect(report.onlyInCandidate.map((c) => c.key)).toEqual([caseKey(onlyCand)]);
    const text = formatReport(report);
    expect(text).toContain('only in the baseline');
    expect(text).toContain('run/start runc');
    expect(text).toContain('only in the candidate');
    expect(text).toContain('run/start crun');
  });

  it('refuses a case whose unit differs between the files, naming the case', () => {
    const base = syntheticDocument([startup(normalSamples(61, 10, 100, 5))]);
    const cand = syntheticDocument([startup(normalSamples(62, 10, 100_000, 5_000), { unit: 'us' })]);
    let caught: unknown;
    try {
      compareResults(base, cand);
    } catch (err) {
      caught = err;
    }
    expect(isBerthError(caught, 'INVALID_ARGUMENT')).toBe(true);
    expect((caught as Error).message).toMatch(
      /^case run\/start berth \[image="busybox"\]: unit differs \(baseline ms, candidate us\)/,
    );
  });

  it('warns when the host fingerprints differ', () => {
    const c = startup(normalSamples(71, 10, 100, 5));
    const report = compareResults(
      syntheticDocument([c]),
      syntheticDocument([c], { fingerprint: '0123456789abcdef', hostname: 'other' }),
    );
    expect(report.warnings.some((w) => w.startsWith('host fingerprints differ'))).toBe(true);
  });

  it('refuses a file that holds one case twice', () => {
    const c = startup(normalSamples(81, 10, 100, 5));
    expect(() => compareResults(syntheticDocument([c, c]), syntheticDocument([c]), { baselineFile: 'b.json' })).toThrow(
      /^result file b\.json: case run\/start berth .* appears twice/,
    );
  });

  it('marks cases with non-positive baseline samples as not comparable, not as passing silently', () => {
    const overhead = (samples: number[]) =>
      syntheticCase({ suite: 'trace', case: 'overhead', target: 'berth', unit: 'ns', samples });
    const report = compareResults(
      syntheticDocument([overhead([-1, 2, 3, 0, 4])]),
      syntheticDocument([overhead([1, 2, 3, 4, 5])]),
    );
    expect(report.cases[0].verdict).toBe('not-comparable');
    expect(report.cases[0].reason).toMatch(/≤ 0/);
  });
});

describe('thresholds and bounds', () => {
  it('parses percentages', () => {
    expect(parseThreshold('10%')).toBeCloseTo(0.1);
    expect(parseThreshold('2.5')).toBeCloseTo(0.025);
    expect(parseThreshold(25)).toBeCloseTo(0.25);
    expect(() => parseThreshold('-5%')).toThrow(/threshold "-5%": expected a percentage/);
    expect(() => parseThreshold('ten')).toThrow(/threshold "ten"/);
  });

  it('takes the first matching bound, then the command line, then the file default', () => {
    const bounds = parseBounds({
      threshold: 15,
      cases: [
        { suite: 'run', target: 'docker', threshold: '50%' },
        { suite: 'run', threshold: '20%' },
      ],
    });
    const id = (target: string, suite = 'run') => ({ suite, case: 'start', target, parameters: {} });
    expect(thresholdFor(id('docker'), bounds, 0.05)).toBeCloseTo(0.5);
    expect(thresholdFor(id('berth'), bounds, 0.05)).toBeCloseTo(0.2);
    expect(thresholdFor(id('berth', 'pull'), bounds, 0.05)).toBeCloseTo(0.05);
    expect(thresholdFor(id('berth', 'pull'), bounds, undefined)).toBeCloseTo(0.15);
    expect(thresholdFor(id('berth', 'pull'), undefined, undefined)).toBeCloseTo(0.1);
  });

  it('rejects malformed bounds with the entry named', () => {
    expect(() => parseBounds({ cases: [{ case: 'x', threshold: '5%' }] }, 'bounds file b.json')).toThrow(
      /^bounds file b\.json: cases\[0\]: suite must be a non-empty string/,
    );
    expect(() => parseBounds({ cases: [{ suite: 'run' }] })).toThrow(/cases\[0\]: missing threshold/);
    expect(() => parseBounds({ limit: 3 })).toThrow(/unknown property 'limit'/);
  });
});
