// Tracing: what berth's instrumentation costs per call (no subscriber, a collector, a
// boundary channel), the price of the phase breakdown the other pages show.
import { dotFigure } from './dot-figure.js';
import type { PageSpec } from './page-spec.js';
import { labelOf, toRows, varyingParams } from './rows.js';
import { isTimeUnit } from './units.js';

export const tracingPage: PageSpec = {
  id: 'tracing',
  title: 'Tracing: cost per instrumented call',
  suites: ['trace'],
  charts({ results }, warn = () => undefined) {
    const rows = toRows(results, this.suites).filter((r) => isTimeUnit(r.unit));
    const mode = ['tracing'].find((k) => rows.some((r) => r.parameters[k] !== undefined));
    const rest = varyingParams(rows, mode === undefined ? [] : [mode]);
    const spec = dotFigure(
      rows,
      {
        id: 'tracing-cost',
        page: this.id,
        title: 'Time per instrumented call',
        description: `Time per call of an instrumented boundary method per tracing mode (rows), a panel per case${rest.length > 0 ? ` and ${rest.join(' · ')}` : ''}; "overhead" cases are the difference to the plain call.`,
        quantity: () => 'time per call',
        panelOf: (r) => (rest.length > 0 ? `${r.case} · ${labelOf(r, rest, '')}` : r.case),
        rowOf: (r) => (mode === undefined ? r.series : String(r.parameters[mode] ?? r.series)),
        seriesOf: (r) => r.series,
        order: 'given',
      },
      warn,
    );
    return spec === null ? [] : [spec];
  },
};
