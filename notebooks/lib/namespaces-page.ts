// Namespaces: what each namespace kind and combination costs to create, and how that
// cost grows when several are created at once.
import { barsWithCI, linesWithCI } from './chart-kit.js';
import type { ChartSpec } from './chart-spec.js';
import type { PageSpec } from './page-spec.js';
import { inOneUnit, operationWithout, pickParam, toRows, type Row } from './rows.js';
import { isRateUnit, isTimeUnit } from './units.js';

const KIND_KEYS = ['namespaces', 'namespace', 'ns', 'kind', 'flags'];
const CONCURRENCY_KEYS = ['workers', 'concurrency', 'parallel', 'threads'];
/** Parameters that only restate the kind (the clone flags of a namespace set). */
const KIND_ALIASES = ['flags'];

export const namespacesPage: PageSpec = {
  id: 'namespaces',
  title: 'Namespaces: cost per kind and concurrency',
  suites: ['namespaces'],
  charts({ results }) {
    const all = toRows(results, this.suites);
    const charts: ChartSpec[] = [];
    const groups: [string, string, Row[]][] = [
      ['cost', 'time per operation', all.filter((r) => isTimeUnit(r.unit))],
      ['rate', 'rate', all.filter((r) => isRateUnit(r.unit))],
    ];
    for (const [name, quantity, group] of groups) {
      if (group.length === 0) continue;
      const { rows } = inOneUnit(group);
      const kind = pickParam(rows, KIND_KEYS, 'string');
      const conc = pickParam(rows, CONCURRENCY_KEYS, 'number');
      const kindOf = (r: Row) => (kind === undefined ? r.case : String(r.parameters[kind] ?? r.case));
      const manySeries = new Set(rows.map((r) => r.series)).size > 1;
      const skip = [kind, conc, ...KIND_ALIASES].filter((k): k is string => k !== undefined);
      // Cases without the concurrency parameter ran alone; the others count at their lowest concurrency.
      const withConc = conc === undefined ? [] : rows.filter((r) => typeof r.parameters[conc] === 'number');
      const minConc = Math.min(...withConc.map((r) => Number(r.parameters[conc as string])));
      const lowest = conc === undefined ? rows : rows.filter((r) => typeof r.parameters[conc] !== 'number' || r.parameters[conc] === minConc);
      charts.push(
        barsWithCI([...lowest].sort((a, b) => a.p50 - b.p50), {
          id: `namespaces-${name}-per-kind`,
          title: `Namespace ${quantity} per kind${conc === undefined ? '' : ` (lowest ${conc})`}`,
          description: `Namespace ${quantity} per namespace kind or combination${conc === undefined ? '' : `, at the lowest ${conc} measured`}.`,
          y: (r) => (manySeries ? `${kindOf(r)} · ${r.series}` : kindOf(r)),
          fy: (r) => operationWithout(r, skip),
          quantity,
        }),
      );
      if (conc !== undefined && new Set(withConc.map((r) => r.parameters[conc])).size > 1) {
        charts.push(
          linesWithCI(withConc, {
            id: `namespaces-${name}-vs-${conc}`,
            title: `Namespace ${quantity} against ${conc}`,
            description: `Namespace ${quantity} per kind against ${conc}, a panel per operation.`,
            x: conc,
            stroke: (r) => (manySeries ? `${kindOf(r)} · ${r.series}` : kindOf(r)),
            fx: (r) => operationWithout(r, skip),
            quantity,
          }),
        );
      }
    }
    return charts;
  },
};
