// The few chart shapes every page is made of (bars with confidence intervals, lines
// against a parameter, box plots, CDFs, stacked phases), built with Observable Plot.
import * as Plot from '@observablehq/plot';
import type { ChartSpec, DrawOptions, PlotElement } from './chart-spec.js';
import type { Row } from './rows.js';
import { unitLabel } from './units.js';

const DEFAULT_WIDTH = 720;

/** A log scale when values span more than 30×, else linear; non-positive values force linear. */
function scaleType(values: number[]): 'log' | 'linear' {
  const positive = values.filter((v) => v > 0);
  if (positive.length < values.length || positive.length === 0) return 'linear';
  return Math.max(...positive) / Math.min(...positive) > 30 ? 'log' : 'linear';
}

function distinct<T>(values: T[]): T[] {
  return [...new Set(values)];
}

function draw(opts: DrawOptions, options: Plot.PlotOptions): PlotElement {
  return Plot.plot({ ...options, document: opts.document, width: opts.width ?? DEFAULT_WIDTH, style: { fontSize: '11px', overflow: 'visible' } }) as unknown as PlotElement;
}

export interface BarsOptions {
  id: string;
  title: string;
  description: string;
  /** Row field or function naming each bar. */
  y: (r: Row) => string;
  /** Facet rows (one band per value); none when absent. */
  fy?: (r: Row) => string;
  /** What the x axis measures, without the unit ("start-up latency"). */
  quantity: string;
  /** Reference lines (e.g. loopback throughput) drawn dashed across every facet. */
  references?: { value: number; label: string }[];
}

/**
 * Horizontal bars of each row's median with its 95 % CI as a black rule. When the
 * values span more than 30× the axis is logarithmic and dots replace the bars (a bar
 * has no start on a log axis). Rows share one unit.
 */
export function barsWithCI(rows: Row[], o: BarsOptions): ChartSpec {
  const unit = rows[0]?.unit ?? '';
  const bars = rows.map((r) => ({ ...r, bar: o.y(r), facet: o.fy ? o.fy(r) : undefined }));
  const facets = distinct(bars.map((b) => b.facet));
  const perFacet = Math.max(...facets.map((f) => bars.filter((b) => b.facet === f).length), 1);
  const refs = o.references ?? [];
  const log = scaleType([...bars.map((b) => b.low), ...bars.map((b) => b.high), ...refs.map((r) => r.value)]) === 'log';
  const title = (b: Row) => `${b.series}\n${b.operation}\nmedian ${b.p50.toPrecision(4)} ${unitLabel(unit)} (n=${b.n})`;
  return {
    id: o.id,
    title: o.title,
    description: `${o.description} ${log ? 'Dots (log axis)' : 'Bars'}: median in ${unitLabel(unit)}; black rules: 95 % bootstrap confidence interval of the median.`,
    rows,
    legend: distinct(rows.map((r) => r.series)).length > 1,
    draw: (opts) =>
      draw(opts, {
        height: 40 + facets.length * (perFacet * 18 + 14),
        marginLeft: 160,
        marginRight: o.fy ? 140 : 20,
        x: { label: `${o.quantity} (${unitLabel(unit)}) →`, grid: true, type: log ? 'log' : 'linear' },
        y: { label: null },
        fy: o.fy ? { label: null } : undefined,
        color: { type: 'categorical' },
        marks: [
          log
            ? Plot.dot(bars, { x: 'p50', y: 'bar', fy: 'facet', fill: 'series', r: 4, tip: true, title })
            : Plot.barX(bars, { x: 'p50', y: 'bar', fy: 'facet', fill: 'series', tip: true, title }),
          Plot.ruleY(bars, { y: 'bar', fy: 'facet', x1: 'low', x2: 'high', stroke: 'black', strokeWidth: 2 }),
          ...refs.map((ref) => Plot.ruleX([ref.value], { stroke: 'currentColor', strokeDasharray: '4,3' })),
          ...refs.map((ref) => Plot.text([ref], { x: 'value', text: 'label', frameAnchor: 'top', dy: -6, textAnchor: 'start', dx: 3 })),
        ],
      }),
  };
}

export interface LinesOptions {
  id: string;
  title: string;
  description: string;
  /** The numeric parameter on the x axis. */
  x: string;
  /** Line identity (a driver, a namespace kind). */
  stroke: (r: Row) => string;
  /** Side-by-side panels (one per operation); none when absent. */
  fx?: (r: Row) => string;
  quantity: string;
}

/** Medians against a numeric parameter, one line per stroke value, CIs as vertical rules. Rows share one unit. */
export function linesWithCI(rows: Row[], o: LinesOptions): ChartSpec {
  const unit = rows[0]?.unit ?? '';
  const points = rows
    .map((r) => ({ ...r, xv: Number(r.parameters[o.x]), line: o.stroke(r), panel: o.fx ? o.fx(r) : undefined }))
    .sort((a, b) => a.xv - b.xv);
  const xs = points.map((p) => p.xv);
  return {
    id: o.id,
    title: o.title,
    description: `${o.description} Points: median in ${unitLabel(unit)} against ${o.x}; vertical rules: 95 % bootstrap confidence interval of the median.`,
    rows,
    legend: true,
    draw: (opts) =>
      draw(opts, {
        height: 320,
        marginLeft: 60,
        x: { label: `${o.x} →`, type: scaleType(xs) === 'log' ? 'log' : 'linear', grid: true, ...(distinct(xs).length <= 12 ? { ticks: distinct(xs) } : {}) },
        y: { label: `↑ ${o.quantity} (${unitLabel(unit)})`, grid: true, type: scaleType(points.map((p) => p.low)) === 'log' ? 'log' : 'linear' },
        fx: o.fx ? { label: null } : undefined,
        color: { type: 'categorical' },
        marks: [
          Plot.line(points, { x: 'xv', y: 'p50', z: 'line', stroke: 'line', fx: 'panel' }),
          Plot.ruleX(points, { x: 'xv', y1: 'low', y2: 'high', stroke: 'line', fx: 'panel' }),
          Plot.dot(points, { x: 'xv', y: 'p50', fill: 'line', fx: 'panel', r: 3, tip: true, title: (p: Row & { line: string; xv: number }) => `${p.line}\n${o.x}=${p.xv}\nmedian ${p.p50.toPrecision(4)} ${unitLabel(unit)} (n=${p.n})` }),
        ],
      }),
  };
}

/** Box plots of every sample per series, faceted by operation, with each median's CI in red. Rows share one unit. */
export function boxesWithCI(rows: Row[], o: { id: string; title: string; description: string; quantity: string }): ChartSpec {
  const unit = rows[0]?.unit ?? '';
  const samples = rows.flatMap((r) => r.samples.map((value) => ({ value, series: r.series, operation: r.operation })));
  const ops = distinct(rows.map((r) => r.operation));
  const perOp = Math.max(...ops.map((op) => rows.filter((r) => r.operation === op).length), 1);
  return {
    id: o.id,
    title: o.title,
    description: `${o.description} Boxes: quartiles of every sample in ${unitLabel(unit)}, whiskers to 1.5 IQR, dots beyond; red: 95 % bootstrap confidence interval of the median.`,
    rows,
    legend: false,
    draw: (opts) =>
      draw(opts, {
        height: 40 + ops.length * (perOp * 26 + 14),
        marginLeft: 130,
        marginRight: 140,
        x: { label: `${o.quantity} (${unitLabel(unit)}) →`, grid: true, type: scaleType(samples.map((s) => s.value)) === 'log' ? 'log' : 'linear' },
        y: { label: null },
        fy: { label: null },
        marks: [
          Plot.boxX(samples, { x: 'value', y: 'series', fy: 'operation' }),
          Plot.ruleY(rows, { y: 'series', fy: 'operation', x1: 'low', x2: 'high', stroke: 'red', strokeWidth: 3 }),
        ],
      }),
  };
}

/** Empirical CDFs of every sample, one step line per series, a panel per operation. Rows share one unit. */
export function cdfs(rows: Row[], o: { id: string; title: string; description: string; quantity: string }): ChartSpec {
  const unit = rows[0]?.unit ?? '';
  const points = rows.flatMap((r) => {
    const sorted = [...r.samples].sort((a, b) => a - b);
    return sorted.map((value, i) => ({ value, fraction: (i + 1) / sorted.length, series: r.series, operation: r.operation }));
  });
  return {
    id: o.id,
    title: o.title,
    description: `${o.description} Each line: fraction of samples at or below a ${o.quantity} in ${unitLabel(unit)}.`,
    rows,
    legend: true,
    draw: (opts) =>
      draw(opts, {
        height: 300,
        marginLeft: 50,
        marginRight: 140,
        x: { label: `${o.quantity} (${unitLabel(unit)}) →`, grid: true, type: scaleType(points.map((p) => p.value)) === 'log' ? 'log' : 'linear' },
        y: { label: '↑ fraction of samples', domain: [0, 1], grid: true },
        fy: { label: null },
        color: { type: 'categorical' },
        marks: [Plot.line(points, { x: 'value', y: 'fraction', z: 'series', stroke: 'series', fy: 'operation', curve: 'step-after' }), Plot.ruleY([0])],
      }),
  };
}

/**
 * Stacked bars of each traced case's spans (self time, median per operation, in ms),
 * one bar per operation; a tick marks the measured median of the whole operation when
 * the case's unit is a time, so untraced time shows as the gap.
 */
export function phaseBars(rows: Row[], o: { id: string; title: string; description: string }): ChartSpec {
  const traced = rows.filter((r) => r.phases !== null && r.phases.length > 0);
  const bar = (r: Row) => `${r.suite}/${r.operation} · ${r.series}`;
  const parts = traced.flatMap((r) => (r.phases ?? []).map((p) => ({ bar: bar(r), phase: p.name, module: p.module, ms: p.selfNs.p50 / 1e6, calls: p.callsPerOp })));
  const totals = traced
    .filter((r) => ['ns', 'us', 'ms', 's'].includes(r.unit))
    .map((r) => ({ bar: bar(r), ms: r.p50 * ({ ns: 1e-6, us: 1e-3, ms: 1, s: 1e3 } as Record<string, number>)[r.unit] }));
  return {
    id: o.id,
    title: o.title,
    description: `${o.description} Segments: median self time per operation of each span in ms; black ticks: the measured median of the whole operation.`,
    rows: traced,
    legend: true,
    draw: (opts) =>
      draw(opts, {
        height: 60 + distinct(parts.map((p) => p.bar)).length * 28,
        marginLeft: 240,
        x: { label: 'self time per operation (ms) →', grid: true },
        y: { label: null },
        color: { type: 'categorical' },
        marks: [
          Plot.barX(parts, { x: 'ms', y: 'bar', fill: 'phase', tip: true, title: (p: { phase: string; module: string; ms: number; calls: number }) => `${p.phase} (${p.module})\n${p.ms.toPrecision(3)} ms, ${p.calls} call(s)/op` }),
          Plot.tickX(totals, { x: 'ms', y: 'bar', stroke: 'black', strokeWidth: 2 }),
        ],
      }),
  };
}
