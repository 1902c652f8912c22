// Tests of the trace suite's definition: its cases, that subscriptions live only
// while a case is measured, and the pairwise overhead it derives.
import diagnostics from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { spanChannel } from '../../engine/trace/index.js';
import { profiles } from '../profiles.js';
import type { MeasuredCase, MicroCase, SuiteContext } from '../suite.js';
import { registry } from './index.js';
import { traceSink, traceSuite } from './trace.js';

const suiteCtx: SuiteContext = {
  profile: 'quick',
  settings: profiles.quick,
  targets: ['berth'],
  dataRoot: '/tmp',
  seed: 1,
  warn: () => undefined,
};

describe('trace suite', () => {
  it('is registered as built, beside the other suites of the design', async () => {
    expect(registry.map((s) => s.name)).toEqual([
      'trace',
      'pull',
      'run',
      'lifecycle',
      'runtime',
      'namespaces',
      'cgroups',
      'graphdriver',
      'network',
      'reliability',
      'workload',
    ]);
    expect(registry.filter((s) => s.load !== undefined).map((s) => s.name)).toContain('trace');
    expect(await registry[0].load!()).toBe(traceSuite);
  });

  it('has a sync and an async group of four micro cases each', () => {
    const cases = traceSuite.cases(suiteCtx) as MicroCase[];
    expect(cases.map((c) => `${c.group} ${c.parameters.tracing}`)).toEqual([
      'call-sync plain',
      'call-sync no-subscriber',
      'call-sync collector',
      'call-sync boundary-channel',
      'call-async plain',
      'call-async no-subscriber',
      'call-async collector',
      'call-async boundary-channel',
    ]);
    for (const c of cases) {
      expect(c.kind).toBe('micro');
      expect(c.unit).toBe('ns');
      expect(c.async).toBe(c.parameters.mode === 'async');
    }
  });

  it('subscribes only between beforeRun and afterRun, and the loops call the method', async () => {
    const cases = traceSuite.cases(suiteCtx) as MicroCase[];
    const collector = cases.find((c) => c.parameters.mode === 'sync' && c.parameters.tracing === 'collector')!;
    const boundary = cases.find((c) => c.parameters.mode === 'async' && c.parameters.tracing === 'boundary-channel')!;
    expect(spanChannel.hasSubscribers).toBe(false);
    collector.beforeRun!();
    expect(spanChannel.hasSubscribers).toBe(true);
    collector.fn(3);
    collector.afterEach!();
    collector.afterRun!();
    expect(spanChannel.hasSubscribers).toBe(false);

    const ch = diagnostics.channel('berth:bench.trace:load');
    boundary.beforeRun!();
    expect(ch.hasSubscribers).toBe(true);
    expect(spanChannel.hasSubscribers).toBe(false);
    const before = traceSink();
    await boundary.fn(5);
    boundary.afterRun!();
    expect(ch.hasSubscribers).toBe(false);
    // 1+2+3+4+5 = 15 was folded into the sink
    expect(traceSink()).toBe(before ^ 15);
    for (const c of cases) await c.teardown?.();
  });

  it("derives overheads against the plain case's median of the same interleaved round, with a note on the target", () => {
    const info = (mode: string, tracing: string) => ({
      ...traceSuite.cases(suiteCtx)[0],
      parameters: { mode, tracing },
    });
    const measured: MeasuredCase[] = [
      {
        info: info('sync', 'plain'),
        samples: [],
        rounds: [
          [3, 4],
          [5, 6, 7],
        ],
      },
      {
        info: info('sync', 'no-subscriber'),
        samples: [],
        rounds: [
          [13, 24, 99],
          [15, 16],
        ],
      },
      {
        info: info('sync', 'collector'),
        samples: [],
        rounds: [
          [3003.5, 3003.5],
          [3006, 3006],
        ],
      },
    ];
    const derived = traceSuite.derive!(measured);
    expect(derived.map((d) => [d.parameters.tracing, d.samples])).toEqual([
      // round medians of plain: 3.5 and 6; every instrumented sample of a round counts, none is paired by index
      ['no-subscriber', [9.5, 20.5, 95.5, 9, 10]],
      ['collector', [3000, 3000, 3000, 3000]],
    ]);
    expect(derived[0].notes).toEqual([
      'meets the target: median overhead 10.0 ns per call ≤ 100 ns (target for no-subscriber on a 2-core host: ≤ 100 ns).',
    ]);
    expect(derived[1].notes![0]).toMatch(/^misses the target: median overhead 3000\.0 ns per call > 2000 ns/);
    expect(derived[0].case).toBe('overhead');
    expect(derived[0].method).toContain('matched by interleaved round');
    expect(derived[0].method).not.toContain('pairwise');
    expect(derived[0].derived).toMatchObject({ how: 'difference', pairing: 'reference-median' });
  });
});
