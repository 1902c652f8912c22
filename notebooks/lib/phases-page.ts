// Phase breakdown: where berth's time goes inside one operation, from the spans the
// harness collected (stacked self times per span), for every traced case.
import { phaseBars } from './chart-kit.js';
import type { PageSpec } from './page-spec.js';
import { toRows } from './rows.js';

export const phasesPage: PageSpec = {
  id: 'phases',
  title: 'Phase breakdown of berth operations',
  suites: ['run', 'pull'],
  emptyQualifier: '(with a phase breakdown)',
  charts({ results }) {
    const traced = toRows(results).filter((r) => r.phases !== null && r.phases.length > 0);
    if (traced.length === 0) return [];
    return [phaseBars(traced, { id: 'phases-breakdown', title: 'Where the time goes', description: "berth's spans per operation for every traced case." })];
  },
};
