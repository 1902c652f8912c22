// Tests of the `cgroups` suite: which backends and controller sets a layout yields,
// the resource set it applies, and real runs (root) through the runner that must
// leave no cgroup directory and no process behind, also when a sample fails.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { detectLayout, type CgroupLayout } from '../../engine/execdriver/cgroups/index.js';
import { background } from '../../engine/trace/index.js';
import { collectHostInfo } from '../host.js';
import { profiles, type ProfileSettings } from '../profiles.js';
import type { HostInfo } from '../results/document.js';
import { validateResult } from '../results/validate.js';
import { runBenchmarks } from '../runner.js';
import type { MacroCase, Suite, SuiteContext } from '../suite.js';
import { cgroupsSuite, typicalResources, variantsFor } from './cgroups.js';
import { findSuite } from './index.js';
import { needs, root, when } from '../../testkit/needs.js';
import { childPids } from '../../testkit/processes.js';

const layout: CgroupLayout | undefined = (() => {
  try {
    return detectLayout();
  } catch {
    return undefined;
  }
})();
const isRoot = process.getuid?.() === 0;
const ready = isRoot && layout !== undefined;

/** Every berth-bench-<this pid>-* directory under any cgroup mount of this host. */
function benchDirs(): string[] {
  if (layout === undefined) return [];
  const roots = new Set([...layout.v1.values(), ...(layout.unified !== undefined ? [layout.unified] : [])]);
  const out: string[] = [];
  for (const root of roots) {
    for (const name of readdirSync(root))
      if (name.startsWith(`berth-bench-${process.pid}-`)) out.push(join(root, name));
  }
  return out.sort();
}

const tiny: ProfileSettings = { ...profiles.quick, macro: { warmup: 1, minSamples: 2, maxSamples: 2, maxTimeMs: 1 } };

const suiteCtx = (warnings: string[]): SuiteContext => ({
  profile: 'quick',
  settings: tiny,
  targets: ['berth'],
  dataRoot: os.tmpdir(),
  seed: 1,
  warn: (m) => warnings.push(m),
});

const fakeHybrid: CgroupLayout = {
  mode: 'hybrid',
  v1: new Map([
    ['pids', '/sys/fs/cgroup/pids'],
    ['memory', '/sys/fs/cgroup/memory'],
    ['cpu', '/sys/fs/cgroup/cpu,cpuacct'],
    ['cpuacct', '/sys/fs/cgroup/cpu,cpuacct'],
    ['devices', '/sys/fs/cgroup/devices'],
  ]),
  unified: '/nonexistent/berth-test/unified',
};

describe('cgroups suite: variants', () => {
  it('on a hybrid host: three v1 sets (co-mounted controllers once, absent ones left out) and the v2 hierarchy beside them', () => {
    const skipped: string[] = [];
    const variants = variantsFor(fakeHybrid, (m) => skipped.push(m));
    expect(variants.map((v) => `${v.backend}/${v.controllers}`)).toEqual([
      'v1/pids',
      'v1/memory+cpu+pids',
      'v1/full',
      'v2-hybrid/none',
    ]);
    expect([...variants[1].layout.v1.keys()]).toEqual(['memory', 'cpu', 'pids']);
    // cpuacct shares cpu's mount: one directory there, not two.
    expect([...variants[2].layout.v1.keys()]).toEqual(['pids', 'memory', 'cpu', 'devices']);
    expect(variants[2].layout.mode).toBe('v1');
    expect(variants[2].layout.unified).toBeUndefined();
    expect(variants[3].layout).toEqual({ mode: 'v2', v1: new Map(), unified: '/nonexistent/berth-test/unified' });
    expect(variants[3].resources).toBeUndefined();
    expect(skipped).toEqual(['backend v2 (pure cgroup2 host) left out: this host is not a pure cgroup v2 host']);
  });

  it('on a pure v2 host: only the v2 backend; without any cgroup mount: nothing, with reasons', () => {
    const skipped: string[] = [];
    const variants = variantsFor({ mode: 'v2', v1: new Map(), unified: '/nonexistent/berth-test/cg2' }, (m) =>
      skipped.push(m),
    );
    expect(variants.map((v) => v.backend)).toEqual(['v2']);
    expect(skipped).toEqual([
      'backend v1 left out: this host has no cgroup v1 hierarchy',
      'backend v2-hybrid left out: this host is a pure cgroup v2 host',
    ]);
    const none: string[] = [];
    expect(variantsFor(undefined, (m) => none.push(m))).toEqual([]);
    expect(none).toEqual(['no cgroup filesystem is mounted: every backend left out']);
  });

  it('applies a typical docker run resource set, limited to the controllers present', () => {
    expect(typicalResources(['pids'], 'v1')).toEqual({ pids: { limit: 1024 } });
    expect(typicalResources(['memory', 'cpu', 'pids', 'devices'], 'v1')).toEqual({
      memory: { limit: 512 * 2 ** 20, reservation: 256 * 2 ** 20 },
      cpu: { shares: 512, quota: 150_000, period: 100_000 },
      pids: { limit: 1024 },
      devices: [{ allow: false, access: 'rwm' }],
    });
    // v2 takes no device rules from the manager; nothing to limit gives undefined.
    expect(typicalResources(['devices'], 'v2')).toBeUndefined();
  });

  it('is registered as built and loads this suite', async () => {
    expect(await findSuite('cgroups')!.load!()).toBe(cgroupsSuite);
  });
});

needs(root(), when(layout !== undefined, 'needs a cgroup mount')).describe('cgroups suite: real runs', () => {
  let host: HostInfo;
  beforeAll(async () => {
    host = await collectHostInfo({ dataRoot: os.tmpdir(), peers: [] });
  });

  it('runs every case end to end into a schema-valid document and leaves no cgroup directory or process', async () => {
    const before = benchDirs();
    const childrenBefore = childPids();
    const lines: string[] = [];
    const { document, failed } = await runBenchmarks({
      suites: [findSuite('cgroups')!],
      settings: tiny,
      seed: 5,
      dataRoot: os.tmpdir(),
      argv: ['--test'],
      progress: (l) => lines.push(l),
      hostInfo: async () => host,
    });
    expect(failed, lines.join('\n')).toBe(false);
    expect(document.suites).toEqual([expect.objectContaining({ name: 'cgroups', status: 'ran' })]);
    expect(() => validateResult(document)).not.toThrow();
    const expected = variantsFor(layout, () => undefined);
    for (const op of ['create', 'attach', 'destroy']) {
      expect(
        document.cases.filter((c) => c.case === op).map((c) => `${c.parameters.backend}/${c.parameters.controllers}`),
      ).toEqual(expected.map((v) => `${v.backend}/${v.controllers}`));
    }
    expect(document.cases.filter((c) => c.case === 'apply')).toHaveLength(
      expected.filter((v) => v.resources !== undefined).length,
    );
    for (const c of document.cases) {
      expect(c.unit).toBe('us');
      expect(c.samples).toHaveLength(2);
      expect(c.samples.every((s) => s > 0)).toBe(true);
    }
    expect(benchDirs()).toEqual(before);
    expect(childPids()).toEqual(childrenBefore);
  });

  it('a case whose sample fails still removes its cgroups and kills its sleep in teardown', async () => {
    const ctx = background();
    const cases = cgroupsSuite.cases(suiteCtx([])) as MacroCase[];
    const attach = cases.find((c) => c.case === 'attach')!;
    const childrenBefore = childPids();
    await attach.beforeSample!(ctx, 0);
    try {
      // Made: one cgroup in each hierarchy of the variant, and a sleep.
      expect(benchDirs().length).toBeGreaterThan(0);
      expect(childPids().length).toBe(childrenBefore.length + 1);
    } finally {
      // No sample, no afterSample: as when the sample threw and the run stopped.
      await attach.teardown!(ctx);
    }
    expect(benchDirs()).toEqual([]);
    expect(childPids()).toEqual(childrenBefore);
  });

  it('a failing suite run is reported, and cleans up too', async () => {
    const broken: Suite = {
      ...cgroupsSuite,
      cases: (ctx) =>
        (cgroupsSuite.cases(ctx) as MacroCase[])
          .filter((c) => c.case === 'destroy')
          .map((c) => ({
            ...c,
            sample: async () => {
              throw new Error('injected failure');
            },
          })),
    };
    const { failed, document } = await runBenchmarks({
      suites: [{ name: 'cgroups', description: broken.description, load: async () => broken }],
      settings: tiny,
      seed: 5,
      dataRoot: os.tmpdir(),
      argv: ['--test'],
      progress: () => undefined,
      hostInfo: async () => host,
    });
    expect(failed).toBe(true);
    expect(document.suites[0].reason).toContain('injected failure');
    expect(benchDirs()).toEqual([]);
  });
});
