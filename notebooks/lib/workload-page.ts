// Workloads through the daemon: how soon a published service answers and how fast its
// requests go, where a cold start of a realistic image spends its time (fetch, apply and
// register of the pull, then create, start and first output), and the restart costs.
import { stackPanel, type StackPart } from './chart-kit.js';
import type { ChartSpec, LegendEntry } from './chart-spec.js';
import { dotFigure } from './dot-figure.js';
import { lineFigure } from './line-figure.js';
import { levelOf } from './overview-page.js';
import type { PageSpec } from './page-spec.js';
import { caseName, drawable, sampleCounts, toRows, type Row } from './rows.js';
import { convert, isTimeUnit, unitLabel } from './units.js';

/** The parts of a cold start in the order they happen (the pull's three, or the pull whole). */
export const COLD_START_PARTS = ['fetch', 'apply', 'register', 'pull', 'create', 'start', 'first-output'];
/** The pull's parts in shades of blue, the container's in shades of orange. */
const PART_COLORS: Record<string, string> = {
  fetch: 'hsl(212, 62%, 70%)',
  apply: 'hsl(212, 62%, 45%)',
  register: 'hsl(212, 62%, 28%)',
  pull: 'hsl(212, 30%, 55%)',
  create: 'hsl(28, 80%, 70%)',
  start: 'hsl(28, 80%, 52%)',
  'first-output': 'hsl(28, 80%, 35%)',
};

const withLevel = (r: Row) => `${r.series} · ${levelOf(r)}`;

/**
 * Stacked bars of the cold-start split: a bar per target and image, a segment per
 * part (median of the part's samples), the measured cold start's median as a tick.
 * Null when no split is loaded; parts that cannot be drawn are named through `warn`.
 */
export function coldStartSplitChart(all: readonly Row[], page: string, warn: (m: string) => void): ChartSpec | null {
  const parts = all.filter((r) => {
    if (r.case !== 'cold-start-split') return false;
    const ok = drawable(r) && isTimeUnit(r.unit) && COLD_START_PARTS.includes(String(r.parameters.part));
    if (!ok) warn(`figure workload-cold-start-split: case ${caseName(r)} skipped: no finite median in a time unit`);
    return ok;
  });
  if (parts.length === 0) return null;
  const barOf = (r: Row) => `${r.series} · ${String(r.parameters.image ?? '?')}`;
  const bars = [...new Set(parts.map(barOf))];
  const totals = all.filter((r) => r.case === 'cold-start' && drawable(r) && bars.includes(barOf(r)));
  const maxMs = Math.max(
    ...bars.map((b) => parts.filter((r) => barOf(r) === b).reduce((a, r) => a + convert(r.p50, r.unit, 'ms'), 0)),
    ...totals.map((r) => convert(r.p50, r.unit, 'ms')),
  );
  const unit = maxMs >= 10_000 ? 's' : 'ms';
  const stack: StackPart[] = parts.map((r) => ({
    bar: barOf(r),
    span: String(r.parameters.part),
    value: convert(r.p50, r.unit, unit),
    calls: 1,
  }));
  const spans = COLD_START_PARTS.filter((p) => stack.some((s) => s.span === p));
  const colors = new Map(spans.map((s) => [s, PART_COLORS[s]!]));
  const ticks = totals.map((r) => ({ bar: barOf(r), value: convert(r.p50, r.unit, unit) }));
  return {
    id: 'workload-cold-start-split',
    page,
    title: 'Cold start of a realistic image: where the time goes',
    caption: [
      'A cold start over the API (the image absent), a bar per target and image: the pull as fetch (manifest, config and downloads not hidden behind an apply), apply (some layer being applied) and register (the graph recording layers and image, and the pull after the last apply), or the pull whole where the target tells no apply apart; then create (with the attach), start and the first output line.',
      `Segments: median of each part in ${unitLabel(unit)} (the parts of a sample add up to it)${ticks.length > 0 ? '; black tick: the measured median of the whole cold start' : ''}. ${sampleCounts(parts)}.`,
    ],
    rows: [...parts, ...totals],
    layout: () => ({
      legend: [
        ...spans.map((s): LegendEntry => ({ label: s, color: colors.get(s)!, shape: 'swatch' })),
        ...(ticks.length > 0 ? [{ label: 'measured median', color: 'black', shape: 'tick' } as LegendEntry] : []),
      ],
      key: [],
      panels: [
        {
          title: null,
          draw: (d) => stackPanel(stack, { bars, spans, colors, unit, totals: ticks, quantity: 'cold start' }, d),
        },
      ],
    }),
  };
}

export const workloadPage: PageSpec = {
  id: 'workload',
  title: 'Workloads: services, cold start of realistic images, restarts',
  suites: ['workload'],
  charts({ results }, warn = () => undefined) {
    const all = toRows(results, this.suites);
    const charts: ChartSpec[] = [];
    const push = (c: ChartSpec | null) => {
      if (c !== null) charts.push(c);
    };
    const ready = all.filter((r) => r.case === 'service-ready');
    if (ready.length > 0)
      push(
        dotFigure(
          ready,
          {
            id: 'workload-service-ready',
            page: this.id,
            title: 'Service ready time by target and level',
            description:
              'From `run -d -p 127.0.0.1::8080` of the static HTTP server image to the first successful HTTP response on the published port, a row per target and level (api: the typed client over the socket; cli: the command line).',
            quantity: () => 'ready time',
            panelOf: () => '',
            rowOf: withLevel,
            seriesOf: (r) => r.series,
            order: 'given',
          },
          warn,
        ),
      );
    const latency = all.filter((r) => r.case === 'service-request-latency');
    if (latency.length > 0)
      push(
        dotFigure(
          latency,
          {
            id: 'workload-request-latency',
            page: this.id,
            title: 'Request latency through the published port',
            description:
              'Round trip of each GET / through the port published on 127.0.0.1 (every request of the measured batches), a row per connection mode, a colour per target.',
            quantity: () => 'request latency',
            panelOf: () => '',
            rowOf: (r) => String(r.parameters.mode ?? '?'),
            seriesOf: (r) => r.series,
            order: 'given',
          },
          warn,
        ),
      );
    const batches = all.filter((r) => r.case === 'service-requests');
    if (batches.length > 0)
      push(
        dotFigure(
          batches,
          {
            id: 'workload-request-batches',
            page: this.id,
            title: 'Request batches through the published port',
            description:
              'Wall time of one batch of sequential GET / requests through the port published on 127.0.0.1, a row per connection mode, a colour per target.',
            quantity: () => 'batch time',
            panelOf: () => '',
            rowOf: (r) => `${String(r.parameters.mode ?? '?')} · ${String(r.parameters.requests ?? '?')} requests`,
            seriesOf: (r) => r.series,
            order: 'given',
          },
          warn,
        ),
      );
    push(coldStartSplitChart(all, this.id, warn));
    const restart = all.filter((r) => r.case === 'restart-on-failure');
    if (restart.length > 0)
      push(
        dotFigure(
          restart,
          {
            id: 'workload-restart-on-failure',
            page: this.id,
            title: 'Back up after a crash under --restart on-failure',
            description:
              'From the exit 1 of a container under `--restart on-failure` to it running again, a row per target.',
            quantity: () => 'time to running',
            panelOf: () => '',
            rowOf: (r) => r.series,
            seriesOf: (r) => r.series,
            order: 'given',
          },
          warn,
        ),
      );
    const daemon = all.filter((r) => r.case === 'daemon-restart' && typeof r.parameters.containers === 'number');
    if (daemon.length > 0)
      push(
        lineFigure(
          daemon,
          {
            page: this.id,
            id: 'workload-daemon-restart',
            title: 'Daemon restart against containers running',
            description:
              'SIGTERM to the daemon, its exit, a new daemon on the same root, until it answers and lists every container again, a line per target.',
            x: 'containers',
            seriesOf: (r) => r.series,
            panelOf: () => '',
            quantity: () => 'restart time',
          },
          warn,
        ),
      );
    return charts;
  },
};
