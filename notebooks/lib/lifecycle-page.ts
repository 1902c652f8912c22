// Lifecycle: how many containers per second each target takes through create, start,
// wait or stop and remove as workers are added, what each operation costs there, and
// how starting one more container and the daemon's memory grow with those running.
import { lineFigure } from './line-figure.js';
import { levelOf } from './overview-page.js';
import type { ChartSpec } from './chart-spec.js';
import type { PageSpec } from './page-spec.js';
import { toRows, type Row } from './rows.js';

const byWorkload = (r: Row) => `workload=${String(r.parameters.workload ?? '?')}`;
/** Targets at the api and the cli level are different lines, never one. */
const targetLevel = (r: Row) => `${r.series} · ${levelOf(r)}`;

export const lifecyclePage: PageSpec = {
  id: 'lifecycle',
  title: 'Lifecycle: throughput against concurrency, density against containers running',
  suites: ['lifecycle'],
  charts({ results }, warn = () => undefined) {
    const all = toRows(results, this.suites);
    const charts: ChartSpec[] = [];
    const numeric = (key: string) => (r: Row) => typeof r.parameters[key] === 'number';
    const throughput = all.filter((r) => r.case === 'throughput' && numeric('concurrency')(r));
    if (throughput.length > 0) {
      const spec = lineFigure(
        throughput,
        {
          page: this.id,
          id: 'lifecycle-throughput',
          title: 'Lifecycle throughput against concurrency',
          description:
            'Containers per second through create, start, wait (/bin/true) or stop (sleep) and remove, N workers in parallel, a line per target and level (api: the typed client on the socket; cli: each step a command), a panel per workload.',
          x: 'concurrency',
          seriesOf: targetLevel,
          panelOf: byWorkload,
          quantity: () => 'throughput',
        },
        warn,
      );
      if (spec !== null) charts.push(spec);
    }
    const ops = all.filter((r) => r.case === 'op-latency' && numeric('concurrency')(r));
    if (ops.length > 0) {
      const spec = lineFigure(
        ops,
        {
          page: this.id,
          id: 'lifecycle-op-latency',
          title: 'Per-operation latency against concurrency',
          description:
            'Median latency of each lifecycle operation during the throughput rounds, a line per target and level (as in the throughput figure), a panel per operation and workload.',
          x: 'concurrency',
          // a line per target and level keeps the legend within its colours with every target on both levels
          seriesOf: targetLevel,
          panelOf: (r) => `${String(r.parameters.op)} · ${byWorkload(r)}`,
          quantity: () => 'latency',
        },
        warn,
      );
      if (spec !== null) charts.push(spec);
    }
    const starts = all.filter((r) => r.case === 'density-start' && numeric('running')(r));
    if (starts.length > 0) {
      const spec = lineFigure(
        starts,
        {
          page: this.id,
          id: 'lifecycle-density-start',
          title: 'Start latency against containers running',
          description:
            'Latency of the start of one more container while idle sleep containers run on the same daemon (bridge network), a line per target and level.',
          x: 'running',
          seriesOf: targetLevel,
          quantity: () => 'start latency',
          panelOf: () => '',
        },
        warn,
      );
      if (spec !== null) charts.push(spec);
    }
    const memory = all.filter((r) => r.case === 'daemon-memory' && numeric('running')(r));
    if (memory.length > 0) {
      const spec = lineFigure(
        memory,
        {
          page: this.id,
          id: 'lifecycle-daemon-memory',
          title: 'Daemon memory against containers running',
          description:
            "The daemon's resident (RSS) and proportional (PSS) memory with idle containers running: berthd alone; dockerd, containerd and every containerd-shim summed. A line per target, a panel per measure.",
          x: 'running',
          seriesOf: (r) => r.series,
          panelOf: (r) => String(r.parameters.metric ?? 'memory').toUpperCase(),
          quantity: () => 'memory',
        },
        warn,
      );
      if (spec !== null) charts.push(spec);
    }
    return charts;
  },
};
