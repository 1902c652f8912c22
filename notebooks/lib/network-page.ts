// Network: the set-up cost of each network mode, and throughput into a container's
// namespace against plain loopback on the host.
import { barsWithCI } from './chart-kit.js';
import type { ChartSpec } from './chart-spec.js';
import type { PageSpec } from './page-spec.js';
import { inOneUnit, operationWithout, pickParam, toRows, type Row } from './rows.js';
import { isRateUnit, isTimeUnit } from './units.js';

export const networkPage: PageSpec = {
  id: 'network',
  title: 'Network: set-up cost per mode, throughput against loopback',
  suites: ['network'],
  charts({ results }) {
    const all = toRows(results, this.suites);
    const charts: ChartSpec[] = [];
    const groups: [string, string, string, Row[]][] = [
      ['setup', 'set-up time', 'Network set-up time per mode and target.', all.filter((r) => isTimeUnit(r.unit))],
      ['throughput', 'throughput', 'Throughput into the container namespace per mode; the dashed line is loopback on the host.', all.filter((r) => isRateUnit(r.unit))],
    ];
    for (const [name, quantity, description, group] of groups) {
      if (group.length === 0) continue;
      const { rows } = inOneUnit(group);
      const mode = pickParam(rows, ['mode', 'path', 'network', 'driver'], 'string');
      const modeOf = (r: Row) => (mode === undefined ? r.target : String(r.parameters[mode] ?? r.target));
      const isLoopback = (r: Row) => r.target === 'loopback' || modeOf(r) === 'loopback';
      const references = name === 'throughput' ? rows.filter(isLoopback).map((r) => ({ value: r.p50, label: `loopback${results.length > 1 ? ` · ${r.run}` : ''}` })) : [];
      const manySeries = new Set(rows.map((r) => r.series)).size > 1;
      charts.push(
        barsWithCI(rows, {
          id: `network-${name}`,
          title: `Network ${quantity} per mode`,
          description,
          y: (r) => (manySeries ? `${modeOf(r)} · ${r.series}` : modeOf(r)),
          fy: (r) => operationWithout(r, mode === undefined ? [] : [mode]),
          quantity,
          references,
        }),
      );
    }
    return charts;
  },
};
