// Regression history: per suite, each case's median across recorded runs relative to the
// case's first recorded run, summarised over the suite's cases (their median and the
// band from the 10th to the 90th percentile), so slow drifts and sudden steps stand out.
import * as Plot from '@observablehq/plot';
import type { HistoryLine } from '../../bench/compare/history-line.js';
import { trendPanel, type TrendPoint } from './chart-kit.js';
import type { ChartSpec } from './chart-spec.js';
import type { PageSpec } from './page-spec.js';
import { sampleCounts, type Row } from './rows.js';
import { FIGURE_FONT, textWidth } from './text.js';
import { unitLabel } from './units.js';

interface Point {
  key: string;
  suite: string;
  date: Date;
  commit: string;
  unit: string;
  p50: number;
  low: number;
  high: number;
  relative: number;
}

/**
 * Every measured case's points across the history (derived cases left out), each relative to the case's first point
 * with a positive median.
 */
export function historyPoints(history: readonly HistoryLine[]): Point[] {
  const first = new Map<string, number>();
  const points: Point[] = [];
  const ordered = [...history].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  for (const line of ordered) {
    for (const c of line.cases) {
      // A derived case (a ratio or difference of other cases) is not a measurement of its
      // own: its inputs are already in the trend.
      if (!Number.isFinite(c.p50) || c.derived !== undefined) continue;
      if (!first.has(c.key) && c.p50 > 0) first.set(c.key, c.p50);
      const base = first.get(c.key);
      if (base === undefined) continue;
      points.push({
        key: c.key,
        suite: c.suite,
        date: new Date(line.startedAt),
        commit: line.gitCommit === null ? 'no commit' : line.gitCommit.slice(0, 10),
        unit: c.unit,
        p50: c.p50,
        low: c.low,
        high: c.high,
        relative: c.p50 / base,
      });
    }
  }
  return points;
}

function quantile(sorted: number[], q: number): number {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (i - lo);
}

/** Per suite and run: the median and 10th–90th percentile over cases of the relative medians. */
export function suiteTrends(history: readonly HistoryLine[]): Map<string, TrendPoint[]> {
  const bySuite = new Map<string, Map<number, Point[]>>();
  for (const p of historyPoints(history)) {
    const runs = bySuite.get(p.suite) ?? new Map<number, Point[]>();
    const list = runs.get(p.date.getTime()) ?? [];
    list.push(p);
    runs.set(p.date.getTime(), list);
    bySuite.set(p.suite, runs);
  }
  const out = new Map<string, TrendPoint[]>();
  const order = [...new Set(historyPoints(history).map((p) => p.date.getTime()))].sort((a, b) => a - b);
  for (const [suite, runs] of bySuite) {
    out.set(
      suite,
      [...runs.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([t, pts]) => {
          const rel = pts.map((p) => p.relative).sort((a, b) => a - b);
          return {
            run: order.indexOf(t) + 1,
            date: new Date(t),
            commit: pts[0].commit,
            median: quantile(rel, 0.5),
            low: quantile(rel, 0.1),
            high: quantile(rel, 0.9),
            cases: pts.length,
          };
        }),
    );
  }
  return out;
}

/** The history as chart rows (for sample counts); one row per case and run. */
function historyRows(history: readonly HistoryLine[]): Row[] {
  return history.flatMap((l) =>
    l.cases.map((c) => ({
      run: l.runId,
      suite: c.suite,
      case: c.case,
      target: c.target,
      parameters: c.parameters,
      params: '',
      operation: c.case,
      series: c.target,
      unit: c.unit,
      direction: c.direction,
      n: c.n,
      p50: c.p50,
      low: c.low,
      high: c.high,
      samples: [],
      phases: null,
    })),
  );
}

/** One case's absolute median across runs with its CI band; for the notebook's case picker. */
export function historyCaseChart(history: readonly HistoryLine[], key: string): ChartSpec {
  const points = historyPoints(history).filter((p) => p.key === key);
  const unit = points[0]?.unit ?? '';
  return {
    id: 'history-case',
    page: 'history',
    title: key,
    caption: [
      `Median of ${key} per recorded run in ${unitLabel(unit)}; band: 95 % bootstrap confidence interval of the median. ${sampleCounts(historyRows(history).filter((r) => points.some((p) => p.suite === r.suite)))}.`,
    ],
    rows: historyRows(history).filter((r) => points.some((p) => p.suite === r.suite)),
    source: 'history',
    layout: () => ({
      legend: [],
      key: [],
      panels: [
        {
          title: null,
          draw: (d) =>
            Plot.plot({
              document: d.document,
              width: d.width,
              height: 220,
              marginLeft: Math.ceil(textWidth('00000', d.fontSize) + 12),
              marginRight: 30,
              style: { fontSize: `${d.fontSize}px`, fontFamily: FIGURE_FONT, overflow: 'visible' },
              x: {
                label: 'run started →',
                labelAnchor: 'right',
                type: 'utc',
                ticks: Math.max(2, Math.floor(d.width / 110)),
              },
              y: { label: `↑ median (${unitLabel(unit)})`, grid: true },
              marks: [
                Plot.areaY(points, { x: 'date', y1: 'low', y2: 'high', fillOpacity: 0.2 }),
                Plot.line(points, { x: 'date', y: 'p50' }),
                Plot.dot(points, {
                  x: 'date',
                  y: 'p50',
                  tip: true,
                  title: (p: Point) => `${p.commit}\n${p.p50.toPrecision(4)} ${unitLabel(p.unit)}`,
                }),
              ],
            }) as never,
        },
      ],
    }),
  };
}

export const historyPage: PageSpec = {
  id: 'history',
  title: 'Regression history: medians across commits',
  suites: [],
  emptyText: 'no history lines in the loaded history file (add runs with `npm run history -- append <result.json>`)',
  charts({ history }) {
    const trends = suiteTrends(history);
    if (trends.size === 0) return [];
    const runs = new Set(history.map((l) => l.runId)).size;
    return [
      {
        id: 'history-trend',
        page: this.id,
        title: 'Regression history: median relative to the first run',
        caption: [
          `Per suite (a panel each), every case's median in each recorded run divided by its median in the case's first run; line: the median of these ratios over the suite's cases, band: their 10th to 90th percentile; dashed: no change (above 1 is larger: worse for times, better for throughputs). x: the ${runs} recorded run(s), oldest first. ${sampleCounts(historyRows(history))}.`,
        ],
        rows: historyRows(history),
        source: 'history',
        layout: () => ({
          legend: [],
          key: [],
          panels: [...trends.entries()].map(([suite, points]) => ({
            title: `${suite} (${Math.max(...points.map((p) => p.cases))} cases)`,
            draw: (d) => trendPanel(points, runs, d),
          })),
        }),
      },
    ];
  },
};
