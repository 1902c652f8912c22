// Pull: throughput per image for berth beside docker, skopeo and podman and the
// physical reference, and berth's time per pull phase.
import { barsWithCI, phaseBars } from './chart-kit.js';
import type { ChartSpec } from './chart-spec.js';
import type { PageSpec } from './page-spec.js';
import { inOneUnit, operationWithout, pickParam, toRows, type Row } from './rows.js';
import { isRateUnit, isTimeUnit } from './units.js';

export const pullPage: PageSpec = {
  id: 'pull',
  title: 'Pull: throughput per image and per phase',
  suites: ['pull'],
  charts({ results }) {
    const all = toRows(results, this.suites);
    const charts: ChartSpec[] = [];
    const groups: [string, string, Row[]][] = [
      ['throughput', 'throughput', all.filter((r) => isRateUnit(r.unit))],
      ['latency', 'pull time', all.filter((r) => isTimeUnit(r.unit))],
    ];
    for (const [name, quantity, group] of groups) {
      if (group.length === 0) continue;
      const { rows } = inOneUnit(group);
      const image = pickParam(rows, ['image', 'ref', 'reference'], 'string');
      charts.push(
        barsWithCI(rows, {
          id: `pull-${name}`,
          title: `Pull ${quantity} per image`,
          description: `Pull ${quantity} per image and target (berth, docker, skopeo, podman; "reference" is the physical limit of the path measured alone).`,
          y: (r) => r.series,
          fy: (r) => (image === undefined ? r.operation : `${String(r.parameters[image] ?? '')} ${operationWithout(r, [image])}`.trim()),
          quantity,
        }),
      );
    }
    if (all.some((r) => r.phases !== null && r.phases.length > 0)) {
      charts.push(phaseBars(all, { id: 'pull-phases', title: 'Pull time per phase', description: 'Time per pull phase (fetch, verify, decompress, apply) of every traced pull.' }));
    }
    return charts;
  },
};
