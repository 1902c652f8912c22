// History: each case's median across recorded runs (results/history.jsonl), relative
// to the case's first recorded run, so slow drifts and sudden steps stand out.
import * as Plot from '@observablehq/plot';
import type { HistoryLine } from '../../bench/compare/history-line.js';
import type { ChartSpec, DrawOptions, PlotElement } from './chart-spec.js';
import type { PageSpec } from './page-spec.js';
import type { Row } from './rows.js';
import { unitLabel } from './units.js';

interface Point {
  key: string;
  suite: string;
  label: string;
  date: Date;
  commit: string;
  unit: string;
  p50: number;
  low: number;
  high: number;
  relative: number;
  relLow: number;
  relHigh: number;
}

/** Every case's points across the history, each relative to the case's first point. */
export function historyPoints(history: readonly HistoryLine[]): Point[] {
  const first = new Map<string, number>();
  const points: Point[] = [];
  const ordered = [...history].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  for (const line of ordered) {
    for (const c of line.cases) {
      if (!first.has(c.key) && c.p50 > 0) first.set(c.key, c.p50);
      const base = first.get(c.key);
      if (base === undefined) continue;
      points.push({
        key: c.key,
        suite: c.suite,
        label: `${c.key.slice(c.suite.length + 1)}${c.derived !== undefined ? ` (derived: ${c.derived})` : ''}`,
        date: new Date(line.startedAt),
        commit: line.gitCommit === null ? 'no commit' : line.gitCommit.slice(0, 10),
        unit: c.unit,
        p50: c.p50,
        low: c.low,
        high: c.high,
        relative: c.p50 / base,
        relLow: c.low / base,
        relHigh: c.high / base,
      });
    }
  }
  return points;
}

/** The history as chart rows (for sample counts); one row per case and run. */
function historyRows(history: readonly HistoryLine[]): Row[] {
  return history.flatMap((l) =>
    l.cases.map((c) => ({ run: l.runId, suite: c.suite, case: c.case, target: c.target, parameters: c.parameters, params: '', operation: c.case, series: c.target, unit: c.unit, direction: c.direction, n: c.n, p50: c.p50, low: c.low, high: c.high, samples: [], phases: null })),
  );
}

function plot(opts: DrawOptions, options: Plot.PlotOptions): PlotElement {
  return Plot.plot({ ...options, document: opts.document, width: opts.width ?? 720, style: { fontSize: '11px', overflow: 'visible' } }) as unknown as PlotElement;
}

/** One case's absolute median across runs with its CI band; for the notebook's case picker. */
export function historyCaseChart(history: readonly HistoryLine[], key: string): ChartSpec {
  const points = historyPoints(history).filter((p) => p.key === key);
  const unit = points[0]?.unit ?? '';
  return {
    id: 'history-case',
    title: key,
    description: `Median of ${key} per recorded run in ${unitLabel(unit)}; band: 95 % bootstrap confidence interval of the median.`,
    rows: historyRows(history).filter((r) => points.some((p) => p.suite === r.suite)),
    legend: false,
    source: 'history',
    draw: (opts) =>
      plot(opts, {
        height: 260,
        x: { label: 'run started →', type: 'utc' },
        y: { label: `↑ median (${unitLabel(unit)})`, grid: true },
        marks: [
          Plot.areaY(points, { x: 'date', y1: 'low', y2: 'high', fillOpacity: 0.2 }),
          Plot.line(points, { x: 'date', y: 'p50' }),
          Plot.dot(points, { x: 'date', y: 'p50', tip: true, title: (p: Point) => `${p.commit}\n${p.p50.toPrecision(4)} ${unitLabel(p.unit)}` }),
        ],
      }),
  };
}

export const historyPage: PageSpec = {
  id: 'history',
  title: 'History: medians across commits',
  suites: [],
  emptyText: 'no history lines in the loaded history file (add runs with `npm run history -- append <result.json>`)',
  charts({ history }) {
    const points = historyPoints(history);
    if (points.length === 0) return [];
    const suites = [...new Set(points.map((p) => p.suite))];
    return [
      {
        id: 'history-relative',
        title: 'Median relative to the first recorded run',
        description: 'Each line is one case: its median per recorded run divided by its first recorded median (above 1: larger, which is worse for times and better for throughputs); bands: 95 % confidence interval of the median on the same scale; a panel per suite.',
        rows: historyRows(history),
        legend: false,
        source: 'history',
        draw: (opts) =>
          plot(opts, {
            height: 60 + suites.length * 170,
            marginRight: 90,
            x: { label: 'run started →', type: 'utc' },
            y: { label: '↑ median / first median', grid: true },
            fy: { label: null, domain: suites },
            marks: [
              Plot.ruleY([1], { stroke: 'currentColor', strokeOpacity: 0.5 }),
              Plot.areaY(points, { x: 'date', y1: 'relLow', y2: 'relHigh', z: 'key', fy: 'suite', fill: 'key', fillOpacity: 0.1 }),
              Plot.line(points, { x: 'date', y: 'relative', z: 'key', stroke: 'key', fy: 'suite' }),
              Plot.dot(points, { x: 'date', y: 'relative', stroke: 'key', fy: 'suite', r: 2, tip: true, title: (p: Point) => `${p.label}\n${p.commit}\n${p.p50.toPrecision(4)} ${unitLabel(p.unit)} (×${p.relative.toFixed(3)})` }),
            ],
          }),
      },
    ];
  },
};
