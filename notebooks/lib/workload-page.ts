// Workload: how soon a service answers on its published port per target and level,
// its request latency and throughput, a cold start split into pull and run, and how
// long a restart takes: under on-failure, and of the daemon against its containers.
import { barsWithCI, linesWithCI, stackedParts } from './chart-kit.js';
import type { ChartSpec } from './chart-spec.js';
import type { PageSpec } from './page-spec.js';
import { inOneUnit, operationWithout, toRows, type Row } from './rows.js';

const level = (r: Row) => String(r.parameters.level ?? r.parameters.mode ?? '');

export const workloadPage: PageSpec = {
  id: 'workload',
  title: 'Workload: service ready time, cold start split, restart time',
  suites: ['workload'],
  charts({ results }) {
    const all = toRows(results, this.suites);
    const of = (name: string) => all.filter((r) => r.case === name);
    const charts: ChartSpec[] = [];
    const ready = of('service-ready');
    if (ready.length > 0) {
      charts.push(
        barsWithCI(inOneUnit(ready).rows, {
          id: 'workload-ready',
          title: 'Service ready time per target',
          description: 'From `run -d -p 127.0.0.1::8080` (cli) or create + start (api) of the static http-server image to the first HTTP 200 on the published port, per target and level.',
          y: (r) => r.series,
          fy: (r) => `level ${level(r)}`,
          quantity: 'ready time',
        }),
      );
    }
    const latency = of('service-request-latency');
    if (latency.length > 0) {
      charts.push(
        barsWithCI(inOneUnit(latency).rows, {
          id: 'workload-request-latency',
          title: 'Request latency through the published port',
          description: 'Round trip of one GET / through the port published on 127.0.0.1, over one kept-alive connection or a new connection per request.',
          y: (r) => r.series,
          fy: (r) => String(r.parameters.mode ?? ''),
          quantity: 'request latency',
        }),
      );
    }
    const split = of('cold-start-split');
    if (split.length > 0) {
      charts.push(
        stackedParts(inOneUnit(split).rows, {
          id: 'workload-cold-start',
          title: 'Cold start split into pull and run',
          description: "A cold start of each corpus image: the pull from a registry on 127.0.0.1 and the rest (create, attach, start, the container's first output).",
          y: (r) => r.series,
          part: (r) => String(r.parameters.part ?? ''),
          fy: (r) => String(r.parameters.image ?? ''),
          quantity: 'cold start',
        }),
      );
    }
    const daemon = of('daemon-restart');
    if (daemon.length > 0) {
      charts.push(
        linesWithCI(inOneUnit(daemon).rows, {
          id: 'workload-daemon-restart',
          title: 'Daemon restart time against its containers',
          description: 'SIGTERM to the daemon until a new one on the same root answers /_ping and lists every container, against the number of running containers.',
          x: 'containers',
          stroke: (r) => r.series,
          quantity: 'restart time',
        }),
      );
    }
    const policy = of('restart-on-failure');
    if (policy.length > 0) {
      charts.push(
        barsWithCI(inOneUnit(policy).rows, {
          id: 'workload-restart-policy',
          title: 'Restart under on-failure',
          description: "From a container's exit with code 1 (die event) to its next start event under RestartPolicy on-failure, per target.",
          y: (r) => r.series,
          fy: (r) => operationWithout(r, ['image']),
          quantity: 'die to start',
        }),
      );
    }
    return charts;
  },
};
