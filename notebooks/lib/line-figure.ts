// A chart of medians against a numeric parameter (concurrency, containers running): a
// panel per operation and unit family stacked, a line per series with each median's CI.
import { linePanel, seriesColors } from './chart-kit.js';
import { MAX_LEGEND_ENTRIES, type ChartSpec, type LegendEntry } from './chart-spec.js';
import { caseName, drawable, inOneUnit, sampleCounts, type Row } from './rows.js';
import { unitFamily, unitLabel } from './units.js';

export interface LineFigureOptions {
  id: string;
  page: string;
  title: string;
  description: string;
  /** The numeric parameter on the x axis. */
  x: string;
  quantity: (unit: string) => string;
  panelOf: (r: Row) => string;
  seriesOf: (r: Row) => string;
}

/** Null when no row has a finite median and a numeric `x`; rows without either are named through `warn`. */
export function lineFigure(
  all: readonly Row[],
  o: LineFigureOptions,
  warn: (message: string) => void = () => undefined,
): ChartSpec | null {
  const rows = all.filter((r) => {
    const ok = drawable(r) && typeof r.parameters[o.x] === 'number';
    if (!ok) warn(`figure ${o.id}: case ${caseName(r)} skipped: no finite median or no numeric ${o.x}`);
    return ok;
  });
  if (rows.length === 0) return null;
  const keys: string[] = [];
  const byPanel = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${o.panelOf(r)}\u0000${unitFamily(r.unit)}`;
    if (!byPanel.has(key)) {
      byPanel.set(key, []);
      keys.push(key);
    }
    byPanel.get(key)!.push(r);
  }
  const panels = keys.map((key) => ({ title: key.split('\u0000')[0], ...inOneUnit(byPanel.get(key)!) }));
  const series = [...new Set(rows.map(o.seriesOf))];
  if (series.length > MAX_LEGEND_ENTRIES) {
    warn(
      `figure ${o.id}: skipped: ${series.length} lines, more than ${MAX_LEGEND_ENTRIES} colours; cases: ${[...new Set(rows.map((r) => `${r.suite}/${r.case}`))].join(', ')}`,
    );
    return null;
  }
  const colors = seriesColors(series);
  const units = [...new Set(panels.map((p) => unitLabel(p.unit)))];
  return {
    id: o.id,
    page: o.page,
    title: o.title,
    caption: [
      o.description,
      `Lines: median against ${o.x}; vertical bars: 95 % bootstrap confidence interval of the median. Unit${units.length > 1 ? 's' : ''}: ${units.join(', ')}. ${sampleCounts(rows)}.`,
    ],
    rows,
    layout: () => ({
      legend:
        series.length > 1 ? series.map((s): LegendEntry => ({ label: s, color: colors.get(s)!, shape: 'dot' })) : [],
      key: [],
      panels: panels.map((p) => ({
        title: panels.length > 1 || p.title !== '' ? p.title : null,
        draw: (d) =>
          linePanel(
            p.rows.map((r) => ({
              x: r.parameters[o.x] as number,
              series: o.seriesOf(r),
              p50: r.p50,
              low: r.low,
              high: r.high,
              n: r.n,
            })),
            { series, colors, xLabel: o.x, quantity: o.quantity(p.unit), unit: p.unit },
            d,
          ),
      })),
    }),
  };
}
