// Pull: berth's pull throughput beside skopeo, docker and podman and the physical
// reference (the same bytes fetched, verified and written with nothing else), and pull time.
import type { ChartSpec } from './chart-spec.js';
import { dotFigure } from './dot-figure.js';
import type { PageSpec } from './page-spec.js';
import { constantParams, labelOf, paramValue, splitParams, toRows, type Row } from './rows.js';
import { isRateUnit, isTimeUnit } from './units.js';

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
    return charts;
  },
};
