// Tests of the `reliability` suite: its sizes per profile, and a real run with
// tiny sizes through runBenchmarks (root) into a schema-valid document that
// carries every soak metric, load error count, fault and fuzz finding and leaves
// nothing behind.
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
    expect(reliabilitySizes(profiles.default)).toMatchObject({
      concurrentRuns: 50,
      concurrentPulls: 8,
      faultSamples: 3,
      fuzzRequests: 400,
    });
    expect(reliabilitySizes(profiles.quick)).toMatchObject({ faultSamples: 2, fuzzRequests: 100 });
  });
});

needs(root()).describe('reliability suite: a tiny run', () => {
  it('writes a schema-valid document with the soak, load, fault and fuzz figures, leaving nothing', async () => {
    const dataRoot = mkdtempSync(join(os.tmpdir(), `berth-reliability-${process.pid}-`));
    const lines: string[] = [];
    const host = await collectHostInfo({ dataRoot });
    try {
      const { document, failed } = await runBenchmarks({
        suites: [
          {
            name: 'reliability',
            description: 'tiny',
            load: async () =>
              createReliabilitySuite(() => ({
                soakRuns: 9,
                concurrentRuns: 4,
                concurrentPulls: 4,
                faultSamples: 1,
                fuzzRequests: 20,
              })),
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
      // the soak cycles none, bridge and host: 3 runs each, none failed
      const soakLatency = byCase('soak-latency');
      expect(soakLatency.map((c) => c.parameters.network)).toEqual(['none', 'bridge', 'host']);
      for (const c of soakLatency) expect(c.samples).toHaveLength(3);
      expect(byCase('soak-failures')[0]!.samples).toEqual([0]);
      expect(byCase('soak-drift').map((c) => c.samples[0])).toEqual([
        expect.any(Number),
        expect.any(Number),
        expect.any(Number),
      ]);
      expect(byCase('soak-rss-growth').map((c) => [c.parameters.read, c.unit])).toEqual([
        ['idle', 'MiB'],
        ['at-end', 'MiB'],
      ]);
      expect(byCase('soak-fd-growth')[0]!.unit).toBe('count');
      const leftovers = byCase('soak-leftovers');
      expect(leftovers.map((c) => c.parameters.kind).sort()).toEqual([
        'cgroups',
        'iptables',
        'links',
        'mounts',
        'netns',
        'processes',
      ]);
      for (const c of leftovers) expect(c.samples, `${c.parameters.kind}: ${c.notes.join(' ')}`).toEqual([0]);
      for (const name of ['concurrent-runs', 'concurrent-pulls']) {
        const [m] = byCase(name);
        expect(m!.unit).toBe('ops/s');
        expect(m!.samples.every((s) => s > 0)).toBe(true);
        expect(byCase(`${name}-errors`)[0]!.samples).toEqual([0, 0]);
      }
      // one kill at each point: the restart timed, no problem found, nothing left
      const faults = byCase('fault-recovery');
      expect(faults.map((c) => c.parameters.point)).toEqual([
        'pull',
        'layer-apply',
        'container-start',
        'container-remove',
      ]);
      for (const c of faults) expect(c.samples).toHaveLength(1);
      for (const name of ['fault-problems', 'fault-leftovers']) {
        const found = byCase(name);
        expect(found).toHaveLength(4);
        for (const c of found) expect(c.samples, `${name} ${c.parameters.point}: ${c.notes.join(' ')}`).toEqual([0]);
      }
      // two fuzz batches of 20 requests, every answer well-formed, the daemon answering pings throughout
      expect(byCase('ping-under-fuzz')[0]!.samples).toHaveLength(2);
      const fuzz = byCase('fuzz-failures')[0]!;
      expect(fuzz.samples, fuzz.notes.join(' ')).toEqual([0, 0]);
      expect(fuzz.notes[0]).toMatch(/^40 fuzz requests and \d+ pings in 2 batches/);
      expect(readdirSync(dataRoot)).toEqual([]);
    } finally {
      rmSync(dataRoot, { recursive: true, force: true });
    }
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dataRoot);
    expect(readdirSync('/sys/class/net')).not.toContain(BERTHD_BRIDGE);
  }, 600_000);
});
