// Graphdrivers compared: each operation a panel, the drivers (and the physical reference
// where a case has one) as colours, the parameter that varies (depth, shape) as rows.
import type { ChartSpec } from './chart-spec.js';
import { dotFigure } from './dot-figure.js';
import type { PageSpec } from './page-spec.js';
import { labelOf, toRows, varyingParams, type Row } from './rows.js';
import { isRateUnit, isTimeUnit } from './units.js';

function driverOf(r: Row, many: boolean): string {
  const backing = typeof r.parameters.backing === 'string' ? ` on ${r.parameters.backing}` : '';
  const d =
    r.target === 'reference'
      ? `reference${backing}`
      : typeof r.parameters.driver === 'string'
        ? r.parameters.driver
        : r.target;
  return many ? `${d} · ${r.run}` : d;
}

/** Graphdriver charts: times, and throughputs (bytes or entries per second). */
export function graphdriverCharts(
  rows: readonly Row[],
  page: string,
  many: boolean,
  warn: (message: string) => void,
): ChartSpec[] {
  const charts: ChartSpec[] = [];
  const groups: [string, string, (u: string) => string, Row[]][] = [
    ['time', 'Graphdriver operations: time per driver', () => 'time', rows.filter((r) => isTimeUnit(r.unit))],
    [
      'throughput',
      'Graphdriver throughput per driver',
      (u) => (u === 'ops/s' ? 'entries per second' : 'throughput'),
      rows.filter((r) => isRateUnit(r.unit)),
    ],
  ];
  for (const [name, title, quantity, group] of groups) {
    const perCase = new Map<string, string[]>();
    for (const c of new Set(group.map((r) => r.case)))
      perCase.set(
        c,
        varyingParams(
          group.filter((r) => r.case === c),
          ['driver', 'backing'],
        ),
      );
    const spec = dotFigure(
      group,
      {
        id: `graphdriver-${name}`,
        page,
        title,
        description: `Each graphdriver operation per driver (colour; "reference": the same work done with plain file system calls on the backing file system), a panel per operation; rows: the parameter the operation varies (depth, shape…), or the driver alone.`,
        quantity,
        panelOf: (r) => r.case,
        rowOf: (r) => labelOf(r, perCase.get(r.case) ?? [], driverOf(r, many)),
        seriesOf: (r) => driverOf(r, many),
        order: 'given',
      },
      warn,
    );
    if (spec !== null) charts.push(spec);
  }
  return charts;
}

export const graphdriverPage: PageSpec = {
  id: 'graphdrivers',
  title: 'Graphdrivers compared',
  suites: ['graphdriver'],
  charts({ results }, warn = () => undefined) {
    return graphdriverCharts(toRows(results, this.suites), this.id, results.length > 1, warn);
  },
};
