// Graphdrivers: latency and throughput of each driver's operations against the depth
// of the layer chain (vfs copies grow with depth, overlay2 mounts stay flat).
import { barsWithCI, linesWithCI } from './chart-kit.js';
import type { ChartSpec } from './chart-spec.js';
import type { PageSpec } from './page-spec.js';
import { inOneUnit, operationWithout, pickParam, toRows, type Row } from './rows.js';
import { isRateUnit, isTimeUnit } from './units.js';

const DEPTH_KEYS = ['depth', 'chainDepth', 'chain', 'layers', 'lowers'];

function driverOf(r: Row, many: boolean): string {
  const d = typeof r.parameters.driver === 'string' ? r.parameters.driver : r.target;
  return many ? `${d} · ${r.run}` : d;
}

export const graphdriverPage: PageSpec = {
  id: 'graphdrivers',
  title: 'Graphdrivers: cost against chain depth',
  suites: ['graphdriver'],
  charts({ results }) {
    const all = toRows(results, this.suites);
    const many = results.length > 1;
    const charts: ChartSpec[] = [];
    const groups: [string, string, Row[]][] = [
      ['latency', 'latency', all.filter((r) => isTimeUnit(r.unit))],
      ['throughput', 'throughput', all.filter((r) => isRateUnit(r.unit))],
    ];
    for (const [name, quantity, group] of groups) {
      if (group.length === 0) continue;
      const { rows } = inOneUnit(group);
      const depth = pickParam(rows, DEPTH_KEYS, 'number');
      if (depth !== undefined) {
        charts.push(
          linesWithCI(rows, {
            id: `graphdriver-${name}`,
            title: `Graphdriver ${quantity} against ${depth}`,
            description: `Graphdriver ${quantity} per driver against ${depth}, a panel per operation.`,
            x: depth,
            stroke: (r) => driverOf(r, many),
            fx: (r) => operationWithout(r, [depth, 'driver']),
            quantity,
          }),
        );
      } else {
        charts.push(
          barsWithCI(rows, {
            id: `graphdriver-${name}`,
            title: `Graphdriver ${quantity}`,
            description: `Graphdriver ${quantity} per driver and operation.`,
            y: (r) => driverOf(r, many),
            fy: (r) => operationWithout(r, ['driver']),
            quantity,
          }),
        );
      }
    }
    return charts;
  },
};
