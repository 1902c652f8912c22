// Tracing: what berth's instrumentation costs per call (no subscriber, a collector, a
// boundary channel), the price of the phase breakdown the other pages show.
import { barsWithCI } from './chart-kit.js';
import type { PageSpec } from './page-spec.js';
import { inOneUnit, operationWithout, pickParam, toRows } from './rows.js';
import { isTimeUnit } from './units.js';

export const tracingPage: PageSpec = {
  id: 'tracing',
  title: 'Tracing: cost per instrumented call',
  suites: ['trace'],
  charts({ results }) {
    const timed = toRows(results, this.suites).filter((r) => isTimeUnit(r.unit));
    if (timed.length === 0) return [];
    const { rows } = inOneUnit(timed);
    const mode = pickParam(rows, ['tracing'], 'string');
    const manySeries = new Set(rows.map((r) => r.series)).size > 1;
    return [
      barsWithCI(rows, {
        id: 'tracing-cost',
        title: 'Time per instrumented call',
        description: 'Time per call of an instrumented boundary method per tracing mode (suite trace); "overhead" cases are the difference to the plain call.',
        y: (r) => {
          const m = mode === undefined ? r.operation : String(r.parameters[mode] ?? r.operation);
          return manySeries ? `${m} · ${r.series}` : m;
        },
        fy: (r) => operationWithout(r, mode === undefined ? [] : [mode]),
        quantity: 'time per call',
      }),
    ];
  },
};
