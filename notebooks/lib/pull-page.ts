// Pull: berth's pull throughput beside skopeo, docker and podman and the physical
// references (the same bytes fetched, verified and written with nothing else), pull time,
// and where a layer's time goes, phase by phase, beside the parallel reference's.
import { LAYER_PHASES } from '../../bench/suites/pull-phases.js';
import { abbreviate, LABEL_SHARE, moduleShades, stackPanel, type StackPart } from './chart-kit.js';
import type { ChartSpec, LegendEntry } from './chart-spec.js';
import { dotFigure } from './dot-figure.js';
import type { PageSpec } from './page-spec.js';
import {
  constantParams,
  drawable,
  labelOf,
  paramValue,
  sampleCounts,
  splitParams,
  toRows,
  varyingParams,
  type Row,
} from './rows.js';
import { convert, isRateUnit, isTimeUnit } from './units.js';

const PANEL_KEYS = ['bytes'];

export const pullPage: PageSpec = {
  id: 'pull',
  title: 'Pull throughput against the physical reference',
  suites: ['pull'],
  charts({ results }, warn = () => undefined) {
    const all = toRows(results, this.suites);
    const charts: ChartSpec[] = [];
    const groups: [string, string, string, Row[]][] = [
      [
        'throughput',
        'Pull throughput against the physical reference',
        'throughput',
        all.filter((r) => isRateUnit(r.unit)),
      ],
      ['time', 'Pull time against the physical reference', 'pull time', all.filter((r) => isTimeUnit(r.unit))],
    ];
    for (const [name, title, quantity, rows] of groups) {
      const { rowKeys: keys, seriesKeys } = splitParams(rows, (r) => r.series, PANEL_KEYS);
      const constant = constantParams(rows);
      const seriesOf = (r: Row) =>
        [
          r.series,
          ...seriesKeys.filter((k) => r.parameters[k] !== undefined).map((k) => paramValue(k, r.parameters[k])),
        ].join(' · ');
      const spec = dotFigure(
        rows,
        {
          id: `pull-${name}`,
          page: this.id,
          title,
          description: `Pull ${quantity} per target (colour; "reference" is the physical limit: the same bytes fetched, verified and written alone), a row per variant${keys.length > 0 ? ` (${keys.join(' · ')})` : ''}${seriesKeys.length > 0 ? ` (${seriesKeys.join(', ')}: only some targets have it, so it goes with the target)` : ''}, a panel per case${rows.some((r) => r.parameters.bytes !== undefined) ? ' and byte count (compressed or uncompressed bytes per second)' : ''}.`,
          notes: constant.length > 0 ? [`All cases: ${constant.join(', ')}.`] : [],
          quantity: () => quantity,
          panelOf: (r) =>
            [
              r.case,
              ...PANEL_KEYS.filter((k) => r.parameters[k] !== undefined).map((k) => `${String(r.parameters[k])} bytes`),
            ].join(' · '),
          rowOf: (r) => labelOf(r, keys, r.case),
          seriesOf,
          order: 'given',
        },
        warn,
      );
      if (spec !== null) charts.push(spec);
    }
    const layers = layerPhaseChart(all, this.id);
    if (layers !== null) charts.push(layers);
    return charts;
  },
};

const REFERENCE = 'parallel reference (whole pipeline)';
/** One distinct colour per phase, in pipeline order. */
const PHASE_COLORS = ['#4e79a7', '#59a14f', '#f28e2b', '#e15759', '#b07aa1', '#edc948'];

/** Layers per pull of a berth case: the calls per operation of its per-layer fetch span. */
function layersOf(r: Row): number | undefined {
  const calls = r.phases?.find((p) => p.name === 'registry.layer.fetch')?.callsPerOp;
  return calls !== undefined && calls > 0 ? calls : undefined;
}

/**
 * Where a layer's time goes in berth's cold pulls: a bar per variant with the median time per layer of each phase
 * (fetch, verify, decompress, write, fsync, rename: their spans' time over the layers pulled), berth's measured median
 * per layer as a tick, and beside it a bar of the parallel reference's median time per layer of the same image. One
 * panel per image, each on its own linear scale: an image of a few large layers takes a hundred times a small one's
 * time per layer, which would flatten the small one's bars on a shared axis (a log axis cannot stack segments).
 */
export function layerPhaseChart(rows: readonly Row[], page: string): ChartSpec | null {
  const berth = rows.filter(
    (r) => r.case === 'cold-pull' && r.target === 'berth' && layersOf(r) !== undefined && drawable(r),
  );
  if (berth.length === 0) return null;
  const multiRun = new Set(berth.map((b) => b.run)).size > 1;
  const variantOf = (r: Row) => `${String(r.parameters.image)} · ${String(r.parameters.compression)}`;
  const barOf = (r: Row) =>
    `${variantOf(r)} · concurrency ${String(r.parameters.concurrency)}${multiRun ? ` · ${r.run}` : ''}`;
  const phases = LAYER_PHASES.map((l) => l.phase);
  const colors = new Map(phases.map((p, i) => [p, PHASE_COLORS[i % PHASE_COLORS.length]!]));
  colors.set(REFERENCE, '#8c8c8c');
  const perLayerNs = (r: Row): Map<string, number> => {
    const n = layersOf(r)!;
    const out = new Map<string, number>();
    for (const l of LAYER_PHASES) {
      const ns = l.spans.reduce((sum, name) => sum + (r.phases?.find((p) => p.name === name)?.totalNs.p50 ?? 0), 0);
      out.set(l.phase, ns / n);
    }
    return out;
  };
  /** One panel's bars, segments and ticks, in ns per layer until drawn. */
  interface Facet {
    bars: string[];
    parts: StackPart[];
    totals: { bar: string; value: number }[];
  }
  const facets = new Map<string, Facet>();
  const references: Row[] = [];
  for (const r of berth) {
    const image = String(r.parameters.image);
    let f = facets.get(image);
    if (f === undefined) facets.set(image, (f = { bars: [], parts: [], totals: [] }));
    const bar = barOf(r);
    f.bars.push(bar);
    const n = layersOf(r)!;
    for (const [phase, ns] of perLayerNs(r)) f.parts.push({ bar, span: phase, value: ns, calls: 1 });
    f.totals.push({ bar, value: convert(r.p50, r.unit, 'ns') / n });
    const ref = rows.find(
      (x) =>
        x.case === 'cold-pull' &&
        x.target === 'parallel-reference' &&
        x.run === r.run &&
        x.parameters.image === r.parameters.image &&
        x.parameters.compression === r.parameters.compression &&
        drawable(x),
    );
    if (ref === undefined) continue;
    const refBar = `${variantOf(r)} · parallel reference${multiRun ? ` · ${r.run}` : ''}`;
    if (f.bars.includes(refBar)) continue;
    f.bars.push(refBar);
    references.push(ref);
    f.parts.push({ bar: refBar, span: REFERENCE, value: convert(ref.p50, ref.unit, 'ns') / n, calls: 1 });
  }
  const spans = [...phases, ...(references.length > 0 ? [REFERENCE] : [])];
  const constant = constantParams(berth, ['concurrency', 'image', 'compression']);
  return {
    id: 'pull-layer-phases',
    page,
    title: "Where a layer's time goes in berth's cold pull, against the host's limit",
    caption: [
      `Median time per layer of each phase of berth's cold pull, one bar per image, compression and layer concurrency: ${LAYER_PHASES.map((l) => `${l.phase} (${l.spans.join(' + ')}: ${l.what})`).join('; ')}; each is its spans' time per pull divided by the layers pulled.`,
      "The phases of a layer overlap (one streaming pipeline per layer, several layers at once), so a bar's segments add up to more than the layer's share of the pull; the black tick is berth's measured median pull time divided by its layers, the grey bar the parallel reference's (every layer fetched from the same registry, hashed, decompressed and extracted with tar, as many at once as cores) for the same image and compression.",
      ...(facets.size > 1
        ? ['One panel per image, each with its own time axis: compare the bars within a panel, not across panels.']
        : []),
      ...(constant.length > 0 ? [`All cases: ${constant.join(', ')}.`] : []),
      `${sampleCounts([...berth, ...references])}.`,
    ],
    rows: [...berth, ...references],
    layout(width, fontSize) {
      const { shown, key } = abbreviate(
        [...facets.values()].flatMap((f) => f.bars),
        Math.max(60, width * LABEL_SHARE),
        fontSize,
      );
      const legend: LegendEntry[] = spans.map((s) => ({ label: s, color: colors.get(s)!, shape: 'swatch' }));
      legend.push({ label: "berth's measured median per layer", color: 'black', shape: 'tick' });
      const named = (b: string) => shown.get(b) ?? b;
      return {
        legend,
        key,
        panels: [...facets].map(([image, f]) => {
          const maxNs = Math.max(
            ...f.totals.map((t) => t.value),
            ...f.bars.map((b) => f.parts.filter((p) => p.bar === b).reduce((a, p) => a + p.value, 0)),
          );
          const unit = maxNs >= 1e6 ? 'ms' : maxNs >= 1e3 ? 'us' : 'ns';
          return {
            title: facets.size > 1 ? `image ${image}` : null,
            draw: (d) =>
              stackPanel(
                f.parts.map((p) => ({ ...p, bar: named(p.bar), value: convert(p.value, 'ns', unit) })),
                {
                  bars: f.bars.map(named),
                  spans,
                  colors,
                  unit,
                  totals: f.totals.map((t) => ({ bar: named(t.bar), value: convert(t.value, 'ns', unit) })),
                  quantity: 'time per layer',
                },
                d,
              ),
          };
        }),
      };
    },
  };
}
