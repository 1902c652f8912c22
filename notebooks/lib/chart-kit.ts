// The panel shapes every chart is made of, built with Observable Plot: rows of medians
// with confidence intervals (one row per thing compared, only rows with data), stacked
// self times per span, and lines across runs. Margins come from measured label widths
// (text.ts), so no label is cut at any width; labels that would take more than a share
// of the width are replaced by a short code explained in the caption's key.
import * as Plot from '@observablehq/plot';
import type { DrawOptions, PlotElement } from './chart-spec.js';
import { FIGURE_FONT, textWidth } from './text.js';
import { unitLabel } from './units.js';

/**
 * Series colours in order of appearance (Tableau 10 without its grey, then three more, so 12 series never share one).
 */
const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#17becf',
  '#6b6ecf',
  '#8c6d31',
];
/** Fixed colours for the targets most charts share, so berth is the same blue everywhere. */
const TARGET_COLORS: Record<string, string> = {
  berth: '#4e79a7',
  docker: '#e15759',
  runc: '#f28e2b',
  crun: '#59a14f',
  podman: '#b07aa1',
  skopeo: '#76b7b2',
};
/** Reference series (physical limits, loopback) are drawn in greys. */
const REFERENCE_COLORS = ['#8c8c8c', '#4d4d4d', '#bababa'];
export const REFERENCE_SERIES = ['reference', 'parallel-reference', 'loopback'];

/** A colour per series: known targets keep theirs, references are grey, the rest take the palette in order. */
export function seriesColors(series: readonly string[]): Map<string, string> {
  const colors = new Map<string, string>();
  const used = new Set<string>();
  let refs = 0;
  for (const s of series) {
    const base = s.split(/ · | on /)[0];
    if (REFERENCE_SERIES.includes(base)) colors.set(s, REFERENCE_COLORS[refs++ % REFERENCE_COLORS.length]);
    else if (TARGET_COLORS[base] !== undefined && !used.has(TARGET_COLORS[base])) colors.set(s, TARGET_COLORS[base]);
    if (colors.has(s)) used.add(colors.get(s)!);
  }
  const free = PALETTE.filter((c) => !used.has(c));
  let i = 0;
  for (const s of series) if (!colors.has(s)) colors.set(s, free[i++ % free.length] ?? PALETTE[i % PALETTE.length]);
  return colors;
}

/**
 * Colours for spans grouped by module: one hue per module, the module's spans in shades
 * of it (darkest first); "other" in light grey.
 */
export function moduleShades(spans: readonly { name: string; module: string }[]): Map<string, string> {
  const hues = [212, 28, 122, 355, 275, 45, 180, 320, 90, 0];
  const modules = [...new Set(spans.map((s) => s.module))];
  const colors = new Map<string, string>();
  modules.forEach((m, mi) => {
    const own = spans.filter((s) => s.module === m);
    own.forEach((s, si) => {
      const light = own.length === 1 ? 50 : 32 + (si * 44) / (own.length - 1);
      const sat = mi === hues.length - 1 ? 0 : 62;
      colors.set(s.name, `hsl(${hues[mi % hues.length]}, ${sat}%, ${light.toFixed(0)}%)`);
    });
  });
  return colors;
}

/** A log axis when every value is positive and they span more than 30×. */
export function logScale(values: readonly number[]): boolean {
  if (values.length === 0 || values.some((v) => !(v > 0))) return false;
  return Math.max(...values) / Math.min(...values) > 30;
}

/**
 * Shown labels for `labels` within `maxWidth` px: those that fit stay, longer ones
 * become `[1]`, `[2]`, … and the key lists what each code stands for.
 */
export function abbreviate(
  labels: readonly string[],
  maxWidth: number,
  fontSize: number,
): { shown: Map<string, string>; key: string[] } {
  const shown = new Map<string, string>();
  const key: string[] = [];
  for (const label of labels) {
    if (shown.has(label)) continue;
    if (textWidth(label, fontSize) <= maxWidth) {
      shown.set(label, label);
    } else {
      const code = `[${key.length + 1}]`;
      shown.set(label, code);
      key.push(`${code} ${label}`);
    }
  }
  return { shown, key };
}

function plot(o: DrawOptions, options: Plot.PlotOptions): PlotElement {
  return Plot.plot({
    ...options,
    document: o.document,
    width: o.width,
    style: { fontSize: `${o.fontSize}px`, fontFamily: FIGURE_FONT, overflow: 'visible' },
  }) as unknown as PlotElement;
}

/** A tick label: plain digits, thousands grouped, at most 3 significant digits below 1000 (no SI suffixes). */
export function tickLabel(v: number): string {
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return String(Number(v.toPrecision(3)));
}

/** Ticks of a log axis over `domain`: 1-2-5 steps, or powers of ten, thinned to at most `max`. */
export function logTicks(domain: [number, number], max: number): number[] {
  const [lo, hi] = domain;
  const all: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
    for (const m of [1, 2, 5]) all.push(m * 10 ** e);
  const inside = (v: number) => v >= lo * 0.999 && v <= hi * 1.001;
  let ticks = all.filter(inside);
  if (ticks.length > max) ticks = ticks.filter((v) => Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9);
  for (let step = 2; ticks.length > max; step++) ticks = ticks.filter((_, i) => i % step === 0);
  return ticks.length > 0 ? ticks : [lo, hi];
}

/** Room to the right of the frame for half of the last x tick label. */
const MARGIN_RIGHT = 22;

/**
 * Right margin for an axis ending near `max`: half its widest tick label (one digit more for nice rounding) and some
 * air.
 */
function rightMargin(max: number, fs: number): number {
  const label = tickLabel(Math.abs(max) * 10);
  return Math.max(MARGIN_RIGHT, Math.ceil(textWidth(label, fs) / 2 + 4));
}
/** The widest row label may take this share of the width before labels are abbreviated. */
export const LABEL_SHARE = 0.42;

export interface DotPoint {
  row: string;
  series: string;
  p50: number;
  low: number;
  high: number;
  n: number;
  samples: number[];
}

export interface DotPanelOptions {
  /** Rows top to bottom, as labelled (after abbreviation). */
  rows: string[];
  /** Series in legend order. */
  series: string[];
  colors: Map<string, string>;
  /** Axis label: the quantity, without the unit. */
  quantity: string;
  unit: string;
  /** Fixed x domain (panels that share an axis); computed from the points when absent. */
  domain?: [number, number];
  log?: boolean;
  /** Every sample as a faint dot behind the median. */
  showSamples?: boolean;
  /** Dashed vertical lines (e.g. loopback throughput). */
  references?: number[];
  /** Whether to write the axis label (panels sharing an axis label only the last one). */
  axisLabel?: boolean;
}

/** The x domain and scale type of points (CIs, references and, when shown, samples included). */
export function dotDomain(
  points: readonly DotPoint[],
  references: readonly number[] = [],
  samples = false,
): { domain: [number, number]; log: boolean } {
  const values = [
    ...points.flatMap((p) => [p.low, p.high, p.p50]),
    ...references,
    ...(samples ? points.flatMap((p) => p.samples) : []),
  ].filter(Number.isFinite);
  const log = logScale(values);
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!log && lo > 0) lo = 0;
  if (lo === hi) {
    lo = lo === 0 ? 0 : lo * (log ? 0.5 : 0.9);
    hi = hi === 0 ? 1 : hi * (log ? 2 : 1.1);
  }
  return { domain: [lo, hi], log };
}

/**
 * Medians as dots with their 95 % CI as a rule of the series' colour, one band per row
 * (only rows that have data), several series in one row side by side vertically.
 */
export function dotPanel(points: DotPoint[], o: DotPanelOptions, d: DrawOptions): PlotElement {
  const fs = d.fontSize;
  const labelWidth = Math.max(0, ...o.rows.map((r) => textWidth(r, fs)));
  const k = Math.max(1, o.series.filter((s) => points.some((p) => p.series === s)).length);
  const step = k === 1 ? 0 : Math.min(5, 10 / (k - 1));
  const rowHeight = Math.max(fs + 6, 8 + step * (k - 1) + 6);
  const auto = dotDomain(points, o.references ?? [], o.showSamples === true);
  const domain = o.domain ?? auto.domain;
  const log = o.log ?? auto.log;
  const marks: Plot.Markish[] = [];
  for (const value of o.references ?? []) marks.push(Plot.ruleX([value], { stroke: '#444', strokeDasharray: '4,3' }));
  const present = o.series.filter((s) => points.some((p) => p.series === s));
  present.forEach((series, i) => {
    const mine = points.filter((p) => p.series === series);
    const dy = step * (i - (present.length - 1) / 2);
    const color = o.colors.get(series) ?? '#333';
    if (o.showSamples === true) {
      const samples = mine.flatMap((p) => p.samples.filter(Number.isFinite).map((x) => ({ x, row: p.row })));
      marks.push(Plot.dot(samples, { x: 'x', y: 'row', dy, r: 1.4, fill: color, fillOpacity: 0.22 }));
    }
    marks.push(Plot.ruleY(mine, { y: 'row', x1: 'low', x2: 'high', dy, stroke: color, strokeWidth: 2 }));
    marks.push(
      Plot.dot(mine, {
        x: 'p50',
        y: 'row',
        dy,
        r: 3,
        fill: color,
        stroke: 'white',
        strokeWidth: 0.7,
        tip: true,
        title: (p: DotPoint) =>
          `${p.row} · ${series}\nmedian ${p.p50.toPrecision(4)} ${unitLabel(o.unit)}\n95 % CI ${p.low.toPrecision(4)}–${p.high.toPrecision(4)} (n=${p.n})`,
      }),
    );
  });
  const width = d.width;
  const marginLeft = Math.ceil(labelWidth + 12);
  const marginRight = rightMargin(domain[1], fs);
  const maxTicks = Math.max(2, Math.floor((width - marginLeft - marginRight) / (log ? 45 : 60)));
  const labelled = o.axisLabel !== false;
  const bottom = labelled ? 2 * fs + 14 : fs + 10;
  return plot(d, {
    height: 8 + o.rows.length * rowHeight + bottom,
    marginTop: 8,
    marginBottom: bottom,
    marginLeft,
    marginRight,
    x: {
      type: log ? 'log' : 'linear',
      domain,
      nice: !log,
      grid: true,
      label: labelled ? `${o.quantity} (${unitLabel(o.unit)}) →` : null,
      labelAnchor: 'right',
      ticks: log ? logTicks(domain, maxTicks) : maxTicks,
      tickFormat: tickLabel,
    },
    y: { domain: o.rows, label: null, tickSize: 0 },
    marks,
  });
}

export interface StackPart {
  bar: string;
  span: string;
  value: number;
  calls: number;
}

/** Stacked bars of each bar's parts (in `spans` order), coloured per span; black ticks at each bar's measured total. */
export function stackPanel(
  parts: StackPart[],
  o: {
    bars: string[];
    spans: string[];
    colors: Map<string, string>;
    unit: string;
    totals: { bar: string; value: number }[];
    /** What the x axis measures (default: self time per operation). */
    quantity?: string;
  },
  d: DrawOptions,
): PlotElement {
  const fs = d.fontSize;
  const labelWidth = Math.max(0, ...o.bars.map((b) => textWidth(b, fs)));
  const order = new Map(o.spans.map((s, i) => [s, i]));
  const sorted = [...parts].sort((a, b) => (order.get(a.span) ?? 0) - (order.get(b.span) ?? 0));
  const rowHeight = fs + 10;
  return plot(d, {
    height: 8 + o.bars.length * rowHeight + 2 * fs + 14,
    marginTop: 8,
    marginBottom: 2 * fs + 14,
    marginLeft: Math.ceil(labelWidth + 12),
    marginRight: rightMargin(
      Math.max(
        0,
        ...o.totals.map((t) => t.value),
        ...o.bars.map((b) => parts.filter((p) => p.bar === b).reduce((a, p) => a + p.value, 0)),
      ),
      fs,
    ),
    x: {
      label: `${o.quantity ?? 'self time per operation'} (${unitLabel(o.unit)}) →`,
      labelAnchor: 'right',
      grid: true,
      ticks: Math.max(2, Math.floor((d.width - labelWidth - 34) / 60)),
      tickFormat: tickLabel,
    },
    y: { domain: o.bars, label: null, tickSize: 0, padding: 0.25 },
    color: { type: 'identity' },
    marks: [
      Plot.barX(sorted, {
        x: 'value',
        y: 'bar',
        fill: (p: StackPart) => o.colors.get(p.span) ?? '#ccc',
        tip: true,
        title: (p: StackPart) =>
          `${p.span}\n${p.value.toPrecision(3)} ${unitLabel(o.unit)}, ${p.calls.toPrecision(3)} call(s)/op`,
      }),
      Plot.tickX(o.totals, { x: 'value', y: 'bar', stroke: 'black', strokeWidth: 2 }),
      Plot.ruleX([0]),
    ],
  });
}

export interface TrendPoint {
  /** 1 for the oldest recorded run. */
  run: number;
  date: Date;
  commit: string;
  median: number;
  low: number;
  high: number;
  cases: number;
}

/**
 * Across runs: the median over cases of each case's median relative to its first run, and the band from the 10th to the
 * 90th percentile.
 */
export function trendPanel(points: TrendPoint[], runs: number, d: DrawOptions): PlotElement {
  const fs = d.fontSize;
  const ys = points.flatMap((p) => [p.low, p.high, 1]);
  const marginLeft = Math.ceil(textWidth('0.00', fs) + 14);
  return plot(d, {
    height: 90 + 2 * fs,
    marginTop: 10,
    marginBottom: 2 * fs + 14,
    marginLeft,
    marginRight: MARGIN_RIGHT + 10,
    x: {
      domain: [1, Math.max(runs, 2)],
      label: 'recorded run, oldest first →',
      labelAnchor: 'right',
      ticks: Math.min(runs, Math.max(2, Math.floor((d.width - marginLeft - MARGIN_RIGHT) / 50))),
      tickFormat: (v: number) => (Number.isInteger(v) ? String(v) : ''),
    },
    y: { label: null, grid: true, domain: [Math.min(...ys) * 0.97, Math.max(...ys) * 1.03], ticks: 4 },
    marks: [
      Plot.ruleY([1], { stroke: '#444', strokeDasharray: '4,3' }),
      Plot.areaY(points, { x: 'run', y1: 'low', y2: 'high', fill: PALETTE[0], fillOpacity: 0.2 }),
      Plot.line(points, { x: 'run', y: 'median', stroke: PALETTE[0] }),
      Plot.dot(points, {
        x: 'run',
        y: 'median',
        fill: PALETTE[0],
        r: 2.5,
        tip: true,
        title: (p: TrendPoint) =>
          `run ${p.run}, ${p.commit}, ${p.date.toISOString()}\n×${p.median.toFixed(3)} (median over ${p.cases} cases)`,
      }),
    ],
  });
}

export interface LinePoint {
  x: number;
  series: string;
  p50: number;
  low: number;
  high: number;
  n: number;
}

/** Medians against a numeric parameter, a line per series with dots, the 95 % CI as vertical rules. */
export function linePanel(
  points: LinePoint[],
  o: { series: string[]; colors: Map<string, string>; xLabel: string; quantity: string; unit: string },
  d: DrawOptions,
): PlotElement {
  const fs = d.fontSize;
  const xs = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  const ys = points.flatMap((p) => [p.low, p.high]).filter(Number.isFinite);
  const logY = logScale(ys);
  const logX = logScale(xs);
  const yTicks = logY ? logTicks([Math.min(...ys), Math.max(...ys)], 5) : 5;
  const widest = Math.max(
    ...(Array.isArray(yTicks) ? yTicks : [Math.max(...ys.map(Math.abs)) * 10]).map((v) => textWidth(tickLabel(v), fs)),
  );
  const marginLeft = Math.ceil(widest + 14);
  const marginRight = rightMargin(Math.max(...xs), fs);
  const marks: Plot.Markish[] = [];
  for (const series of o.series) {
    const mine = points.filter((p) => p.series === series).sort((a, b) => a.x - b.x);
    if (mine.length === 0) continue;
    const color = o.colors.get(series) ?? '#333';
    marks.push(Plot.line(mine, { x: 'x', y: 'p50', stroke: color }));
    marks.push(Plot.ruleX(mine, { x: 'x', y1: 'low', y2: 'high', stroke: color, strokeWidth: 1.5 }));
    marks.push(
      Plot.dot(mine, {
        x: 'x',
        y: 'p50',
        fill: color,
        r: 2.5,
        tip: true,
        title: (p: LinePoint) =>
          `${series}\n${o.xLabel}=${p.x}\nmedian ${p.p50.toPrecision(4)} ${unitLabel(o.unit)} (n=${p.n})`,
      }),
    );
  }
  return plot(d, {
    height: 150 + 2 * fs,
    marginTop: fs + 8,
    marginBottom: 2 * fs + 14,
    marginLeft,
    marginRight,
    x: {
      type: logX ? 'log' : 'linear',
      label: `${o.xLabel} →`,
      labelAnchor: 'right',
      ticks: xs.length <= 8 ? xs : Math.max(2, Math.floor((d.width - marginLeft - marginRight) / 60)),
      tickFormat: tickLabel,
      grid: true,
    },
    y: {
      type: logY ? 'log' : 'linear',
      label: `↑ ${o.quantity} (${unitLabel(o.unit)})`,
      labelAnchor: 'top',
      grid: true,
      ticks: yTicks,
      tickFormat: tickLabel,
      nice: !logY,
      zero: !logY && ys.every((v) => v >= 0),
    },
    marks,
  });
}
