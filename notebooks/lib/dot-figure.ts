// A chart of medians with confidence intervals from rows: panels (one per operation and
// unit family), rows within a panel (only those with data), series as colours. Every page
// but the phase and history ones is made of this, and unknown suites get it generically.
import { abbreviate, dotDomain, dotPanel, LABEL_SHARE, seriesColors, type DotPoint } from './chart-kit.js';
import { MAX_LEGEND_ENTRIES, type ChartSpec, type LegendEntry, type Panel } from './chart-spec.js';
import { caseName, drawable, inOneUnit, sampleCounts, type Row } from './rows.js';
import { unitFamily, unitLabel } from './units.js';

export interface DotFigureOptions {
  id: string;
  page: string;
  title: string;
  /** The first caption sentence: what is compared. */
  description: string;
  /** Axis quantity for a panel's unit ("latency", "throughput"). */
  quantity: (unit: string) => string;
  panelOf: (r: Row) => string;
  rowOf: (r: Row) => string;
  seriesOf: (r: Row) => string;
  /** Rows drawn as a dashed reference line in their panel instead of a row (loopback). */
  isReference?: (r: Row) => boolean;
  /** One x axis for all panels (when they share a unit). */
  sharedAxis?: boolean;
  showSamples?: boolean;
  /** Rows in a panel: by ascending median of their first series (default) or as given. */
  order?: 'median' | 'given';
  /** Extra caption sentences (what the row labels and panels stand for). */
  notes?: string[];
}

/** Where drawing was impossible: skipped rows are reported through `warn`, naming each case. */
export function dotFigure(
  all: readonly Row[],
  o: DotFigureOptions,
  warn: (message: string) => void = () => undefined,
): ChartSpec | null {
  const rows: Row[] = [];
  for (const r of all) {
    if (drawable(r)) rows.push(r);
    else warn(`figure ${o.id}: case ${caseName(r)} skipped: no finite median and interval (n=${r.n})`);
  }
  if (rows.length === 0) return null;
  // Panels: one per panel key and unit family, rows converted to one unit per panel.
  const panelKeys: string[] = [];
  const byPanel = new Map<string, Row[]>();
  for (const r of rows) {
    const title = o.panelOf(r);
    const key = `${title}\u0000${unitFamily(r.unit)}`;
    if (!byPanel.has(key)) {
      byPanel.set(key, []);
      panelKeys.push(key);
    }
    byPanel.get(key)!.push(r);
  }
  const families = new Set(panelKeys.map((k) => k.split('\u0000')[1]));
  const twoFamilies = new Map<string, number>();
  for (const k of panelKeys) twoFamilies.set(k.split('\u0000')[0], (twoFamilies.get(k.split('\u0000')[0]) ?? 0) + 1);
  const panels = panelKeys.map((key) => {
    const [title, family] = key.split('\u0000');
    const { rows: converted, unit } = inOneUnit(byPanel.get(key)!);
    return { title: (twoFamilies.get(title) ?? 0) > 1 ? `${title} (${family})` : title, unit, rows: converted };
  });
  const shared = o.sharedAxis === true && families.size === 1 && new Set(panels.map((p) => p.unit)).size === 1;
  const shownRows = panels.flatMap((p) => p.rows);
  const isRef = o.isReference ?? (() => false);
  let series = [...new Set(shownRows.filter((r) => !isRef(r)).map(o.seriesOf))];
  if (series.length > MAX_LEGEND_ENTRIES) {
    // more series than a legend takes: each goes into its row's label, in one colour
    warn(
      `figure ${o.id}: ${series.length} series, more than ${MAX_LEGEND_ENTRIES} colours; the series are named in the row labels instead`,
    );
    const { rowOf, seriesOf } = o;
    o = { ...o, rowOf: (r) => `${rowOf(r)} · ${seriesOf(r)}`, seriesOf: (r) => (isRef(r) ? seriesOf(r) : 'median') };
    series = ['median'];
  }
  const colors = seriesColors(series);
  const points = (p: (typeof panels)[number]): DotPoint[] =>
    p.rows
      .filter((r) => !isRef(r))
      .map((r) => ({
        row: o.rowOf(r),
        series: o.seriesOf(r),
        p50: r.p50,
        low: r.low,
        high: r.high,
        n: r.n,
        samples: r.samples,
      }));
  const refs = (p: (typeof panels)[number]) => p.rows.filter(isRef).map((r) => r.p50);
  const sharedDomain = shared
    ? dotDomain(panels.flatMap(points), panels.flatMap(refs), o.showSamples === true)
    : undefined;
  const rowLabels = panels.flatMap((p) => points(p).map((q) => q.row));
  const needsLegend = series.length > 1 && rowLabels.some((l) => !series.includes(l));
  const refNames = [...new Set(shownRows.filter(isRef).map(o.seriesOf))];
  const units = [...new Set(panels.map((p) => unitLabel(p.unit)))];
  const caption = [
    o.description,
    ...(o.notes ?? []),
    `Dots: median${o.showSamples ? ' (faint dots: every sample)' : ''}; bars: 95 % bootstrap confidence interval of the median${refNames.length > 0 ? `; dashed line: ${refNames.join(', ')}` : ''}. Unit${units.length > 1 ? 's' : ''}: ${units.join(', ')}. ${sampleCounts(rows)}.`,
  ];
  return {
    id: o.id,
    page: o.page,
    title: o.title,
    caption,
    rows,
    layout(width, fontSize) {
      const labelMax = Math.max(60, width * LABEL_SHARE);
      const { shown, key } = abbreviate(rowLabels, labelMax, fontSize);
      const legend: LegendEntry[] = needsLegend
        ? series.map((s) => ({ label: s, color: colors.get(s)!, shape: 'dot' as const }))
        : [];
      for (const name of refNames) legend.push({ label: name, color: '#444', shape: 'dash' });
      const drawn: Panel[] = panels.map((p, pi) => {
        const pts = points(p).map((q) => ({ ...q, row: shown.get(q.row) ?? q.row }));
        let order = [...new Set(pts.map((q) => q.row))];
        if (o.order !== 'given') {
          const first = (row: string) => pts.find((q) => q.row === row)!.p50;
          order = order.sort((a, b) => first(a) - first(b));
        }
        return {
          title: panels.length > 1 || p.title !== '' ? p.title : null,
          draw: (d) =>
            dotPanel(
              pts,
              {
                rows: order,
                series,
                colors,
                quantity: o.quantity(p.unit),
                unit: p.unit,
                domain: sharedDomain?.domain,
                log: sharedDomain?.log,
                showSamples: o.showSamples,
                references: refs(p),
                axisLabel: !shared || pi === panels.length - 1,
              },
              d,
            ),
        };
      });
      return { legend, panels: drawn, key };
    },
  };
}
