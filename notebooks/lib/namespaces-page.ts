// Namespaces: what each namespace kind costs to create (clone, unshare, until the child
// runs or is reaped, and what the flags add to a plain clone), and how the cost grows
// when several workers clone at once.
import type { ChartSpec } from './chart-spec.js';
import { dotFigure } from './dot-figure.js';
import type { PageSpec } from './page-spec.js';
import { toRows, type Row } from './rows.js';
import { isRateUnit, isTimeUnit } from './units.js';

const KIND_KEYS = ['namespaces', 'namespace', 'kind'];
const CONCURRENCY_KEYS = ['workers', 'concurrency', 'threads'];

function kindOf(r: Row): string {
  for (const k of KIND_KEYS) if (r.parameters[k] !== undefined) return String(r.parameters[k]);
  return r.case;
}
function concurrencyOf(r: Row): number | undefined {
  for (const k of CONCURRENCY_KEYS) if (typeof r.parameters[k] === 'number') return r.parameters[k] as number;
  return undefined;
}

export const namespacesPage: PageSpec = {
  id: 'namespaces',
  title: 'Namespaces: cost per kind',
  suites: ['namespaces'],
  charts({ results }, warn = () => undefined) {
    const rows = toRows(results, this.suites);
    const many = results.length > 1;
    const tag = (s: string, r: Row) => (many ? `${s} · ${r.run}` : s);
    const charts: ChartSpec[] = [];
    const alone = rows.filter((r) => isTimeUnit(r.unit) && concurrencyOf(r) === undefined);
    const cost = dotFigure(
      alone,
      {
        id: 'namespaces-cost',
        page: this.id,
        title: 'What a namespace costs',
        description:
          'Time to create a process in each namespace kind or combination (rows), per way of measuring it (colour); the second panel: the time the namespace flags add to a plain clone (paired samples, may be near or below zero).',
        quantity: () => 'time',
        panelOf: (r) => (/added|overhead/.test(r.case) ? `added by the flags (${r.case})` : 'time per process'),
        rowOf: kindOf,
        seriesOf: (r) => tag(r.case, r),
      },
      warn,
    );
    if (cost !== null) charts.push(cost);
    const concurrent = rows.filter((r) => (isTimeUnit(r.unit) || isRateUnit(r.unit)) && concurrencyOf(r) !== undefined);
    const conc = dotFigure(
      concurrent,
      {
        id: 'namespaces-concurrency',
        page: this.id,
        title: 'Namespaces created by several workers at once',
        description:
          'Each namespace kind (rows) created by 1, 2 or 4 workers at once (colour): the time of each creation, and the creations per second of all workers together.',
        quantity: (u) => (u === 'ops/s' ? 'creations per second' : 'time per creation'),
        panelOf: (r) => r.case,
        rowOf: kindOf,
        seriesOf: (r) => tag(`${CONCURRENCY_KEYS.find((k) => r.parameters[k] !== undefined)}=${concurrencyOf(r)}`, r),
      },
      warn,
    );
    if (conc !== null) charts.push(conc);
    return charts;
  },
};
