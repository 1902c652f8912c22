// Outside cross-checks: for each suite, its headline cases re-timed by an outside tool
// (hyperfine, a C loop, iperf3, a whole process) as the ratio outside ÷ berth, 1 meaning
// the two clocks agree; the cases beyond the tolerance are named in the caption.
import { AGREEMENT_TOLERANCE, agrees, isAgreementCase } from '../../bench/suites/crosscheck-agreement.js';
import { dotFigure } from './dot-figure.js';
import type { PageSpec } from './page-spec.js';
import { caseName, labelOf, toRows, varyingParams } from './rows.js';

export const crosscheckPage: PageSpec = {
  id: 'crosscheck',
  title: 'Outside cross-checks',
  suites: [],
  emptyText: 'no outside cross-check (a `…-crosscheck` case) in these files',
  charts({ results }, warn = () => undefined) {
    const rows = toRows(results).filter((r) => isAgreementCase(r.case) && r.unit === 'ratio');
    if (rows.length === 0) return [];
    const off = rows.filter((r) => !agrees(r.p50));
    const percent = AGREEMENT_TOLERANCE * 100;
    const spec = dotFigure(
      rows,
      {
        id: 'crosscheck-agreement',
        page: this.id,
        title: 'Outside tool ÷ berth, per cross-checked case',
        description: `Each cross-checked case's outside figure divided by berth's own (median of the paired ratios), a panel per suite; 1 means the two agree, beyond 1 ± ${AGREEMENT_TOLERANCE} the run warned.`,
        notes: [
          off.length === 0
            ? `Every cross-check agrees within ${percent} %.`
            : `Beyond ${percent} %: ${off.map((r) => `${caseName(r)} (ratio ${r.p50.toFixed(3)})`).join('; ')}.`,
        ],
        quantity: () => 'ratio',
        panelOf: (r) => r.suite,
        rowOf: (r) => {
          const keys = varyingParams(
            rows.filter((x) => x.suite === r.suite && x.case === r.case),
            [],
          );
          const base = r.case.replace(/-crosscheck$/, '');
          const label = labelOf(r, keys, '');
          return label === '' ? `${base} · ${String(r.parameters.tool)}` : `${base} · ${label}`;
        },
        seriesOf: (r) => r.series,
        sharedAxis: true,
        showSamples: true,
        order: 'given',
      },
      warn,
    );
    return spec === null ? [] : [spec];
  },
};
