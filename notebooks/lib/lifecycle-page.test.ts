import { describe, expect, it } from 'vitest';
import { syntheticCase, syntheticDocument } from '../../scripts/synthetic-results.js';
import { lifecyclePage } from './lifecycle-page.js';

describe('lifecycle page', () => {
  it('draws per-operation latency with every target on both levels (a line per target and level, a panel per operation and workload)', () => {
    const cases = [];
    const runs = [
      ['berth', 'api'],
      ['docker', 'api'],
      ['berth', 'cli'],
      ['docker', 'cli'],
      ['podman', 'cli'],
    ] as const;
    for (const [target, level] of runs)
      for (const workload of ['true', 'sleep'])
        for (const concurrency of [1, 4])
          for (const op of ['create', 'start', workload === 'true' ? 'wait' : 'stop', 'remove'])
            cases.push(
              syntheticCase({
                suite: 'lifecycle',
                case: 'op-latency',
                target,
                parameters: { level, workload, concurrency, op },
                unit: 'ms',
                samples: [1, 2, 3, 4, 5].map((x) => x * concurrency),
              }),
            );
    const warnings: string[] = [];
    const charts = lifecyclePage.charts(
      { results: [{ file: 'run.json', doc: syntheticDocument(cases) }], history: [] },
      (w) => warnings.push(w),
    );
    expect(warnings).toEqual([]);
    const chart = charts.find((c) => c.id === 'lifecycle-op-latency')!;
    const layout = chart.layout(700, 12);
    expect(layout.legend.map((l) => l.label)).toEqual(
      expect.arrayContaining(['berth · api', 'docker · api', 'berth · cli', 'docker · cli', 'podman · cli']),
    );
    expect(layout.panels.map((p) => p.title)).toEqual([
      'create · workload=true',
      'start · workload=true',
      'wait · workload=true',
      'remove · workload=true',
      'create · workload=sleep',
      'start · workload=sleep',
      'stop · workload=sleep',
      'remove · workload=sleep',
    ]);
  });
});
