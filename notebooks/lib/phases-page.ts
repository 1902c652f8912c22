// Where the time goes inside one operation: for each traced operation (suite, case and
// level), the spans with the most self time stacked per variant, the rest as "other",
// spans coloured in one hue family per module, the measured median as a tick.
import { abbreviate, LABEL_SHARE, moduleShades, stackPanel, type StackPart } from './chart-kit.js';
import type { ChartSpec, LegendEntry } from './chart-spec.js';
import { levelOf, slug } from './overview-page.js';
import type { PageSpec } from './page-spec.js';
import { caseName, constantParams, drawable, labelOf, sampleCounts, toRows, varyingParams, type Row } from './rows.js';
import { convert, isTimeUnit, unitLabel } from './units.js';

/** Spans shown by name; the rest are summed as "other" (with the tick, 12 legend entries at most). */
export const TOP_SPANS = 10;
const OTHER = 'other';

/** The operation a traced case belongs to: suite/case, and its level when it records one. */
function operationOf(r: Row): string {
  const level = levelOf(r);
  return level === 'unrecorded' ? `${r.suite}/${r.case}` : `${r.suite}/${r.case} (${level})`;
}

export function phaseChart(rows: readonly Row[], page: string, warn: (message: string) => void): ChartSpec | null {
  const traced = rows.filter((r) => r.phases !== null && r.phases.length > 0);
  if (traced.length === 0) return null;
  const op = operationOf(traced[0]);
  const id = `phases-${slug(op)}`;
  const usable = traced.filter((r) => {
    const ok = (r.phases ?? []).every((p) => Number.isFinite(p.selfNs.p50) && p.selfNs.p50 >= 0);
    if (!ok) warn(`figure ${id}: case ${caseName(r)} skipped: a span without a finite self time`);
    return ok;
  });
  if (usable.length === 0) return null;
  const keys = varyingParams(usable, ['level', 'via']);
  const manyTargets = new Set(usable.map((r) => r.series)).size > 1;
  const barOf = (r: Row) =>
    [labelOf(r, keys, ''), manyTargets ? r.series : ''].filter((s) => s !== '').join(' · ') || r.series;
  // Spans ranked by their self time summed over the bars.
  const total = new Map<string, { name: string; module: string; ns: number }>();
  for (const r of usable)
    for (const p of r.phases ?? []) {
      const t = total.get(p.name) ?? { name: p.name, module: p.module, ns: 0 };
      t.ns += p.selfNs.p50;
      total.set(p.name, t);
    }
  const ranked = [...total.values()].sort((a, b) => b.ns - a.ns);
  const top = ranked.length <= TOP_SPANS + 1 ? ranked : ranked.slice(0, TOP_SPANS);
  const topNames = new Set(top.map((t) => t.name));
  const modules = [...new Set(top.map((t) => t.module))];
  const ordered = modules.flatMap((m) => top.filter((t) => t.module === m));
  const colors = moduleShades(ordered);
  colors.set(OTHER, '#d0d0d0');
  const spans = [...ordered.map((t) => t.name), ...(ranked.length > top.length ? [OTHER] : [])];
  const maxBarNs = Math.max(...usable.map((r) => (r.phases ?? []).reduce((s, p) => s + p.selfNs.p50, 0)));
  const unit = maxBarNs >= 1e6 ? 'ms' : maxBarNs >= 1e3 ? 'us' : 'ns';
  const parts: StackPart[] = usable.flatMap((r) => {
    const sums = new Map<string, StackPart>();
    for (const p of r.phases ?? []) {
      const span = topNames.has(p.name) ? p.name : OTHER;
      const part = sums.get(span) ?? { bar: barOf(r), span, value: 0, calls: 0 };
      part.value += convert(p.selfNs.p50, 'ns', unit);
      part.calls += p.callsPerOp;
      sums.set(span, part);
    }
    return [...sums.values()];
  });
  const totals = usable
    .filter((r) => isTimeUnit(r.unit) && drawable(r))
    .map((r) => ({ bar: barOf(r), value: convert(r.p50, r.unit, unit) }));
  const bars = [...new Set(usable.map(barOf))];
  const constant = constantParams(usable, ['level', 'via']);
  const caption = [
    `Self time per operation of berth's spans in ${op}, one bar per variant${keys.length > 0 ? ` (${keys.join(' · ')})` : ''}${manyTargets ? ' and target' : ''}; the ${Math.min(TOP_SPANS, spans.length)} spans with the most self time by name${spans.includes(OTHER) ? ', the rest as "other"' : ''}; one hue per module (${modules.join(', ')}).`,
    ...(constant.length > 0 ? [`All cases: ${constant.join(', ')}.`] : []),
    `Segments: median self time per operation in ${unitLabel(unit)}${totals.length > 0 ? `; black tick: the measured median of the whole operation (untraced time is the gap)` : ''}. ${sampleCounts(usable)}; the confidence intervals of the whole operation are in the start-up and per-suite charts.`,
  ];
  return {
    id,
    page,
    title: `Where the time goes: ${op}`,
    caption,
    rows: usable,
    layout(width, fontSize) {
      const { shown, key } = abbreviate(bars, Math.max(60, width * LABEL_SHARE), fontSize);
      const legend: LegendEntry[] = spans.map((s) => ({
        label: s === OTHER ? 'other spans' : `${s}`,
        color: colors.get(s)!,
        shape: 'swatch',
      }));
      if (totals.length > 0) legend.push({ label: 'measured median', color: 'black', shape: 'tick' });
      const renamed = parts.map((p) => ({ ...p, bar: shown.get(p.bar) ?? p.bar }));
      const renamedTotals = totals.map((t) => ({ ...t, bar: shown.get(t.bar) ?? t.bar }));
      return {
        legend,
        key,
        panels: [
          {
            title: null,
            draw: (d) =>
              stackPanel(
                renamed,
                { bars: bars.map((b) => shown.get(b) ?? b), spans, colors, unit, totals: renamedTotals },
                d,
              ),
          },
        ],
      };
    },
  };
}

export const phasesPage: PageSpec = {
  id: 'phases',
  title: 'Where the time goes, per operation',
  suites: ['run', 'pull'],
  emptyQualifier: '(with a phase breakdown)',
  charts({ results }, warn = () => undefined) {
    const traced = toRows(results).filter((r) => r.phases !== null && r.phases.length > 0);
    const ops = [...new Set(traced.map(operationOf))];
    return ops
      .map((op) =>
        phaseChart(
          traced.filter((r) => operationOf(r) === op),
          this.id,
          warn,
        ),
      )
      .filter((c): c is ChartSpec => c !== null);
  },
};
