// How well `npm run compare` tells a change from noise, from the recorded A/A–A/B
// experiments (results/experiments/<host class>/): per suite, the share of unchanged cases
// it called regressions (A/A, and the other cases of the A/B runs) and the share of
// injected slowdowns it found, each with a 95 % Wilson interval over its case comparisons,
// against the goals (≤ 1 % and ≥ 90 %); then the minimum detectable change of the injected case.
import type { ExperimentRecord } from '../../bench/compare/experiment.js';
import type { ChartSpec } from './chart-spec.js';
import { dotFigure } from './dot-figure.js';
import type { PageSpec } from './page-spec.js';
import type { Row } from './rows.js';

/** The goals the experiments are held to: at most this share of unchanged cases called regressions… */
export const FALSE_POSITIVE_GOAL = 0.01;
/** …and at least this share of injected slowdowns found. */
export const DETECTION_GOAL = 0.9;

/**
 * The 95 % Wilson score interval of `hits` successes in `n` trials, as fractions; [0, 1]
 * when n is 0. Unlike the normal approximation it stays within [0, 1] and is not empty at 0 or n.
 */
export function wilsonInterval(hits: number, n: number, z = 1.959964): { low: number; high: number } {
  if (n === 0) return { low: 0, high: 1 };
  const p = hits / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  return { low: Math.max(0, Math.min(p, centre - half)), high: Math.min(1, Math.max(p, centre + half)) };
}

const pct = (x: number) => `${Number((x * 100).toFixed(1))} %`;

function rateRow(
  r: ExperimentRecord,
  label: string,
  kind: 'wrong' | 'found',
  hits: number,
  n: number,
  runs: number,
): Row {
  const { low, high } = wilsonInterval(hits, n);
  return {
    run: `${r.recorded.hostClass} ${r.suite}`,
    suite: r.suite,
    case: 'aa-ab',
    target: r.suite,
    parameters: { profile: r.profile, kind, runs },
    params: `kind=${kind} profile=${r.profile} runs=${runs}`,
    operation: label,
    series: `${r.suite} (${r.profile}, ${r.recorded.hostClass})`,
    unit: 'percent',
    direction: kind === 'wrong' ? 'lower-is-better' : 'higher-is-better',
    n,
    p50: (hits / (n === 0 ? 1 : n)) * 100,
    low: low * 100,
    high: high * 100,
    samples: [],
    phases: null,
    derived: null,
  };
}

function goalRow(kind: 'wrong' | 'found'): Row {
  const value = (kind === 'wrong' ? FALSE_POSITIVE_GOAL : DETECTION_GOAL) * 100;
  return {
    run: 'goal',
    suite: 'goal',
    case: 'aa-ab',
    target: 'goal',
    parameters: { kind },
    params: `kind=${kind}`,
    operation: 'goal',
    series: kind === 'wrong' ? `goal: at most ${pct(FALSE_POSITIVE_GOAL)}` : `goal: at least ${pct(DETECTION_GOAL)}`,
    unit: 'percent',
    direction: kind === 'wrong' ? 'lower-is-better' : 'higher-is-better',
    n: 1,
    p50: value,
    low: value,
    high: value,
    samples: [],
    phases: null,
    derived: null,
  };
}

/** Rate rows of every record: A/A false positives, and per slowdown the A/B detections and false alarms. */
export function calibrationRows(records: readonly ExperimentRecord[]): Row[] {
  const rows: Row[] = [];
  for (const r of records) {
    rows.push(rateRow(r, `A/A, ${r.aa.runs} runs`, 'wrong', r.aa.falsePositives, r.aa.cases, r.aa.runs));
    for (const b of r.ab) {
      rows.push(rateRow(r, `A/B +${pct(b.slowdown)}: other cases`, 'wrong', b.falseAlarms, b.otherCases, b.runs));
      rows.push(rateRow(r, `A/B +${pct(b.slowdown)}: injected case`, 'found', b.detected, b.injectedCases, b.runs));
    }
    const il = r.interleaved;
    if (il === undefined) continue;
    rows.push(
      rateRow(
        r,
        `interleaved A/A, ${il.aa.runs} runs, ${il.aa.pairs} pairs`,
        'wrong',
        il.aa.falsePositives,
        il.aa.cases,
        il.aa.runs,
      ),
    );
    for (const b of il.ab) {
      const at = `interleaved A/B +${pct(b.slowdown)}, ${b.pairs} pairs`;
      rows.push(rateRow(r, `${at}: other cases`, 'wrong', b.falseAlarms, b.otherCases, b.runs));
      rows.push(rateRow(r, `${at}: injected case`, 'found', b.detected, b.injectedCases, b.runs));
    }
  }
  return rows;
}

/** One line per record for the caption: where and when it ran, and how loaded the host was. */
export function provenanceLines(records: readonly ExperimentRecord[]): string[] {
  return records.map(
    (r) =>
      `${r.suite} (${r.profile}): ${r.recorded.hostname} (${r.recorded.hostClass}, fingerprint ${r.recorded.fingerprint}), commit ${r.recorded.gitCommit === null ? 'unknown' : r.recorded.gitCommit.slice(0, 10)}${r.recorded.gitDirty === true ? ' (dirty)' : ''}, ${r.recorded.startedAt.slice(0, 16).replace('T', ' ')} UTC, 1-minute load ${r.recorded.loadAverage1m.min}–${r.recorded.loadAverage1m.max} at the runs' starts, injected case ${r.recorded.inject}, bound ${pct(r.threshold)}.`,
  );
}

function rateChart(records: readonly ExperimentRecord[], warn: (m: string) => void): ChartSpec | null {
  const rows = calibrationRows(records);
  if (rows.length === 0) return null;
  const spec = dotFigure(
    [...rows, goalRow('wrong'), goalRow('found')],
    {
      id: 'calibration-rates',
      page: 'calibration',
      title: 'How often compare is wrong, and how often it finds a known slowdown',
      description:
        'Per suite (colour): the share of unchanged cases called regressions (A/A: each run against the others merged; A/B: the cases the delay did not touch) and the share of injected slowdowns found; "interleaved" rows: the same runs, made alternately in one session, judged by the paired compare (each B run against the A run beside it; A/A: the A runs in alternating halves).',
      quantity: () => 'share of case comparisons',
      panelOf: (r) =>
        r.parameters.kind === 'wrong' ? 'unchanged cases called regressions' : 'injected slowdowns found',
      rowOf: (r) => r.operation,
      seriesOf: (r) => r.series,
      isReference: (r) => r.suite === 'goal',
      order: 'given',
    },
    warn,
  );
  if (spec === null) return null;
  const n = rows.reduce((s, r) => s + r.n, 0);
  return {
    ...spec,
    source: 'experiments',
    caption: [
      spec.caption[0],
      `Dots: the observed share; bars: its 95 % Wilson score interval over the case comparisons (n per row: ${rows.map((r) => r.n).join(', ')}; ${n} in all); dashed lines: the goals (at most ${pct(FALSE_POSITIVE_GOAL)} wrong, at least ${pct(DETECTION_GOAL)} found). Unit: percent.`,
      ...provenanceLines(records),
    ],
  };
}

function mdcChart(records: readonly ExperimentRecord[], warn: (m: string) => void): ChartSpec | null {
  const rows: Row[] = [];
  for (const r of records)
    for (const [mode, ab] of [
      ['', r.ab],
      [', interleaved', r.interleaved?.ab ?? []],
    ] as const)
      for (const b of ab) {
        if (b.medianMinDetectable === null) continue;
        const v = b.medianMinDetectable * 100;
        rows.push({
          ...rateRow(r, `injected into ${r.recorded.inject} (+${pct(b.slowdown)} runs)`, 'found', 0, 1, b.runs),
          case: 'aa-ab-mdc',
          operation: `${r.recorded.inject}, in the +${pct(b.slowdown)} runs${mode}`,
          direction: 'lower-is-better',
          n: b.injectedCases,
          p50: v,
          low: v,
          high: v,
        });
      }
  if (rows.length === 0) return null;
  const spec = dotFigure(
    rows,
    {
      id: 'calibration-mdc',
      page: 'calibration',
      title: 'The smallest change compare can call on the injected case',
      description:
        "Per suite (colour): the median over the injected case's comparisons of compare's minimum detectable change (from the baseline runs' between-run spread; interleaved: from the spread of the pairs of neighbouring runs); a slowdown below it cannot be called a regression.",
      quantity: () => 'minimum detectable change',
      panelOf: () => '',
      rowOf: (r) => r.operation,
      seriesOf: (r) => r.series,
      order: 'given',
    },
    warn,
  );
  if (spec === null) return null;
  return {
    ...spec,
    source: 'experiments',
    caption: [
      spec.caption[0],
      `Dots: the median minimum detectable change over the injected case comparisons (${rows.map((r) => r.n).join(', ')} per row; no interval: a median of few values). Unit: percent.`,
    ],
  };
}

export const calibrationPage: PageSpec = {
  id: 'calibration',
  title: 'Calibration of compare (A/A and A/B)',
  suites: [],
  emptyText:
    'no recorded A/A–A/B experiment (results/experiments/<host class>/aa-ab-*.json, written by scripts/aa-ab.ts --record)',
  charts(input, warn = () => undefined) {
    const records = input.experiments ?? [];
    return [rateChart(records, warn), mdcChart(records, warn)].filter((c): c is ChartSpec => c !== null);
  },
};
