// Network: throughput and latency into a container's namespace against plain loopback on
// the host (the dashed line), and the set-up cost of each network mode.
import type { ChartSpec } from './chart-spec.js';
import { dotFigure } from './dot-figure.js';
import type { PageSpec } from './page-spec.js';
import { constantParams, labelOf, toRows, varyingParams, type Row } from './rows.js';
import { isRateUnit, isTimeUnit } from './units.js';

const PATH_KEYS = ['path', 'mode'];

function isLoopback(r: Row): boolean {
  return r.target === 'loopback' || PATH_KEYS.some((k) => r.parameters[k] === 'loopback');
}

export const networkPage: PageSpec = {
  id: 'network',
  title: 'Network throughput against loopback',
  suites: ['network'],
  charts({ results }, warn = () => undefined) {
    const all = toRows(results, this.suites);
    const many = results.length > 1;
    const charts: ChartSpec[] = [];
    const groups: [string, string, string, string, Row[]][] = [
      [
        'throughput',
        'Network throughput against loopback',
        'throughput',
        'TCP throughput per path into or between containers',
        all.filter((r) => isRateUnit(r.unit)),
      ],
      [
        'latency',
        'Network latency against loopback',
        'round trip',
        'TCP round-trip time per path',
        all.filter((r) => isTimeUnit(r.unit) && /latency/.test(r.case) && !/overhead/.test(r.case)),
      ],
      [
        'setup',
        'Network set-up cost per mode',
        'set-up and tear-down',
        'Time to set up and tear down a container network per mode and path',
        all.filter((r) => isTimeUnit(r.unit) && /setup/.test(r.case)),
      ],
    ];
    for (const [name, title, quantity, what, rows] of groups) {
      const keys = varyingParams(rows.filter((r) => !isLoopback(r)));
      const constant = constantParams(rows.filter((r) => !isLoopback(r)));
      const spec = dotFigure(
        rows,
        {
          id: `network-${name}`,
          page: this.id,
          title,
          description: `${what}${rows.some(isLoopback) ? '; the dashed line is the same measurement over loopback on the host' : ''}; rows: ${keys.length > 0 ? keys.join(' · ') : 'the target'}${new Set(rows.map((r) => r.case)).size > 1 ? '; a panel per case' : ''}.`,
          notes: constant.length > 0 ? [`All cases: ${constant.join(', ')}.`] : [],
          quantity: () => quantity,
          panelOf: (r) => r.case,
          rowOf: (r) => labelOf(r, keys, r.series),
          seriesOf: (r) => (isLoopback(r) ? (many ? `loopback · ${r.run}` : 'loopback') : r.series),
          isReference: isLoopback,
          order: 'median',
        },
        warn,
      );
      if (spec !== null) charts.push(spec);
    }
    return charts;
  },
};
