// Tests of the `reliability` suite: its sizes per profile, and a real run with
// tiny sizes through runBenchmarks (root) into a schema-valid document that
// carries every soak metric and load error count and leaves nothing behind.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectHostInfo } from '../host.js';
import { profiles, type ProfileSettings } from '../profiles.js';
import { validateResult } from '../results/validate.js';
import { runBenchmarks } from '../runner.js';
import { findSuite } from './index.js';
import { createReliabilitySuite, reliabilitySizes, reliabilitySuite } from './reliability.js';
import { BERTHD_BRIDGE } from './run-berthd.js';
import { needs, root } from '../../testkit/needs.js';

const tiny: ProfileSettings = { ...profiles.quick, macro: { warmup: 1, minSamples: 2, maxSamples: 2, maxTimeMs: 1 } };

describe('reliability suite: sizes', () => {
  it('is registered and soaks 50 runs in quick, 1000 in default, 2000 in full', async () => {
    expect(await findSuite('reliability')!.load!()).toBe(reliabilitySuite);
    expect(reliabilitySizes(profiles.quick).soakRuns).toBe(50);
    expect(reliabilitySizes(profiles.default).soakRuns).toBe(1000);
    expect(reliabilitySizes(profiles.full).soakRuns).toBe(2000);
    expect(reliabilitySizes(profiles.default)).toMatchObject({ concurrentRuns: 50, concurrentPulls: 8 });
  });
});

needs(root()).describe('reliability suite: a tiny run', () => {
  it('writes a schema-valid document with the soak metrics and load error counts, leaving nothing', async () => {
    const dataRoot = mkdtempSync(join(os.tmpdir(), `berth-reliability-${process.pid}-`));
    const lines: string[] = [];
    const host = await collectHostInfo({ dataRoot });
    try {
      const { document, failed } = await runBenchmarks({
        suites: [
          {
            name: 'reliability',
            description: 'tiny',
            load: async () => createReliabilitySuite(() => ({ soakRuns: 10, concurrentRuns: 4, concurrentPulls: 4 })),
          },
        ],
        settings: tiny,
        seed: 3,
        dataRoot,
        targets: ['berth'],
        argv: ['--test'],
        progress: (l) => lines.push(l),
        hostInfo: async () => host,
        busyWindowMs: 0,
      });
      expect(failed, lines.join('\n')).toBe(false);
      expect(() => validateResult(document)).not.toThrow();
      const byCase = (name: string) => document.cases.filter((c) => c.case === name);
      expect(byCase('run-after-soak')[0]!.samples).toHaveLength(2);
      expect(byCase('soak-latency')[0]!.samples).toHaveLength(10);
      expect(byCase('soak-drift')[0]!.samples[0]).toBeGreaterThan(0);
      expect(byCase('soak-rss-growth')[0]!.unit).toBe('MiB');
      expect(byCase('soak-fd-growth')[0]!.unit).toBe('count');
      const leftovers = byCase('soak-leftovers');
      expect(leftovers.map((c) => c.parameters.kind).sort()).toEqual(['cgroups', 'links', 'mounts', 'netns']);
      for (const c of leftovers) expect(c.samples, `${c.parameters.kind}: ${c.notes.join(' ')}`).toEqual([0]);
      for (const name of ['concurrent-runs', 'concurrent-pulls']) {
        const [m] = byCase(name);
        expect(m!.unit).toBe('ops/s');
        expect(m!.samples.every((s) => s > 0)).toBe(true);
        expect(byCase(`${name}-errors`)[0]!.samples).toEqual([0, 0]);
      }
      expect(readdirSync(dataRoot)).toEqual([]);
    } finally {
      rmSync(dataRoot, { recursive: true, force: true });
    }
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dataRoot);
    expect(readdirSync('/sys/class/net')).not.toContain(BERTHD_BRIDGE);
  }, 600_000);
});
