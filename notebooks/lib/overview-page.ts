// Overview: container start-up latency per target (berth, runc, crun, docker, podman)
// as box plots with each median's confidence interval, and as CDFs.
import { boxesWithCI, cdfs } from './chart-kit.js';
import type { PageSpec } from './page-spec.js';
import { inOneUnit, toRows } from './rows.js';
import { isTimeUnit } from './units.js';

export const overviewPage: PageSpec = {
  id: 'overview',
  title: 'Start-up latency per target',
  suites: ['run', 'runtime'],
  charts({ results }) {
    const timed = toRows(results, this.suites).filter((r) => isTimeUnit(r.unit));
    if (timed.length === 0) return [];
    const { rows } = inOneUnit(timed);
    return [
      boxesWithCI(rows, { id: 'overview-startup-box', title: 'Start-up latency distribution', description: 'Container start-up latency per target and operation (suites run and runtime).', quantity: 'latency' }),
      cdfs(rows, { id: 'overview-startup-cdf', title: 'Start-up latency CDF', description: 'Cumulative distribution of start-up latency per target (suites run and runtime).', quantity: 'latency' }),
    ];
  },
};
