// Tests of the `run` suite: its cases and warnings, one composed run that fails
// half-way and must undo every step, and a real run through runBenchmarks (root)
// into a schema-valid document that leaves no mount, cgroup, link, netns or process.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { background } from '../../engine/trace/index.js';
import { collectHostInfo } from '../host.js';
import { profiles, type ProfileSettings } from '../profiles.js';
import type { HostInfo } from '../results/document.js';
import { validateResult } from '../results/validate.js';
import { runBenchmarks } from '../runner.js';
import type { MacroCase, SuiteContext } from '../suite.js';
import { findSuite } from './index.js';
import { leftoverLinks, leftoverNetns } from './network-world.js';
import { podmanSkipReason, runOnce, runSuite, type RunNetwork } from './run.js';
import { DOCKER_BRIDGE, dockerMissing } from './runtime-docker.js';
import { RunWorld } from './runtime-run-world.js';
import { needs, root } from '../../testkit/needs.js';

const tiny: ProfileSettings = { ...profiles.quick, macro: { warmup: 1, minSamples: 2, maxSamples: 2, maxTimeMs: 1 } };

function suiteCtx(targets: string[], warnings: string[]): SuiteContext {
  return { profile: 'quick', settings: tiny, targets, dataRoot: os.tmpdir(), seed: 1, warn: (m) => warnings.push(m) };
}

function childPids(): number[] {
  const pids: number[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    const text = readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim();
    if (text !== '') pids.push(...text.split(/\s+/).map(Number));
  }
  return pids;
}

function mountsContaining(text: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(text));
}

function runCgroups(): string[] {
  const out: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    try {
      if (readdirSync(join('/sys/fs/cgroup', h)).includes(`berth-bench-run-${process.pid}`)) out.push(h);
    } catch {
      // not a directory
    }
  }
  return out;
}

describe('run suite: cases', () => {
  it('is registered as built and loads this suite', async () => {
    expect(await findSuite('run')!.load!()).toBe(runSuite);
  });

  it('measures overlay2 and vfs × none and bridge, interleaved, with phases', () => {
    const cases = runSuite.cases(suiteCtx(['berth'], [])) as MacroCase[];
    expect(cases.map((c) => `${c.parameters.graphdriver}/${c.parameters.network}`)).toEqual(['overlay2/none', 'overlay2/bridge', 'vfs/none', 'vfs/bridge']);
    expect(cases.every((c) => c.group === 'run' && c.phases === true && c.target === 'berth')).toBe(true);
  });

  it('docker: two cases on a private dockerd (or a stated reason); podman: left out with the reason', () => {
    const warnings: string[] = [];
    const cases = runSuite.cases(suiteCtx(['docker', 'podman'], warnings)) as MacroCase[];
    const missing = dockerMissing();
    if (missing === undefined) {
      expect(cases.map((c) => `${c.target}/${c.parameters.network}/${c.group}`)).toEqual(['docker/none/run-docker', 'docker/bridge/run-docker']);
      expect(warnings[0]).toMatch(/^docker: measured against a private dockerd/);
    } else {
      expect(cases).toEqual([]);
      expect(warnings[0]).toBe(missing);
    }
    expect(warnings[warnings.length - 1]).toBe(podmanSkipReason());
    expect(podmanSkipReason()).toMatch(/^target podman left out: /);
  });
});

needs(root()).describe('run suite: real runs (root)', () => {
  let host: HostInfo;
  beforeAll(async () => {
    host = await collectHostInfo({ dataRoot: os.tmpdir(), peers: [] });
  });

  it('a run that fails half-way (unknown network) undoes every step it took', async () => {
    const ctx = background();
    const dataRoot = mkdtempSync(join(os.tmpdir(), `berth-run-fail-${process.pid}-`));
    const world = new RunWorld(dataRoot);
    const children = childPids();
    try {
      await world.acquire(ctx);
      const { engine, parts } = await world.engine(ctx, 'overlay2');
      await expect(runOnce(ctx, engine, 'no-such-network' as RunNetwork)).rejects.toThrow(/no-such-network/);
      expect(await world.mountsLeft()).toEqual([]);
      expect(await parts.graph.layers.rwLayers(ctx)).toEqual([]);
      expect(parts.store.list()).toEqual([]);
      // a run afterwards works and leaves nothing either
      const id = await runOnce(ctx, engine, 'bridge');
      expect(parts.store.find(id)).toBeUndefined();
      expect(await parts.graph.layers.rwLayers(ctx)).toEqual([]);
      expect(await world.mountsLeft()).toEqual([]);
    } finally {
      await world.release(ctx);
      rmSync(dataRoot, { recursive: true, force: true });
    }
    expect(mountsContaining(dataRoot)).toEqual([]);
    expect(runCgroups()).toEqual([]);
    expect(existsSync(`/sys/class/net/${world.bridge('overlay2')}`)).toBe(false);
    expect(childPids()).toEqual(children);
  });

  it('runs every case end to end into a schema-valid document with phases of every module, leaving nothing', async () => {
    const dataRoot = mkdtempSync(join(os.tmpdir(), `berth-run-suite-${process.pid}-`));
    const children = childPids();
    const lines: string[] = [];
    try {
      const { document, failed } = await runBenchmarks({
        suites: [findSuite('run')!],
        settings: tiny,
        seed: 4,
        dataRoot,
        targets: ['berth'],
        argv: ['--test'],
        progress: (l) => lines.push(l),
        hostInfo: async () => host,
      });
      expect(failed, lines.join('\n')).toBe(false);
      expect(() => validateResult(document)).not.toThrow();
      expect(document.cases).toHaveLength(4);
      for (const c of document.cases) {
        expect(c.samples).toHaveLength(2);
        const modules = new Set(c.phases!.map((p) => p.module.split('.')[0]));
        for (const m of ['jobs', 'graph', 'graphdriver', 'execdriver', 'libcontainer', 'networkdriver']) expect(modules.has(m), `${m} in ${[...modules].join(',')}`).toBe(true);
        expect(c.phases!.some((p) => p.name === `graphdriver.${c.parameters.graphdriver}.get`)).toBe(true);
      }
      // the exit handling (release, delete, unmount) is in every run's phases
      for (const c of document.cases) expect(c.phases!.map((p) => p.name)).toContain('container.exit');
      const bridge = document.cases.find((c) => c.parameters.network === 'bridge')!;
      expect(bridge.phases!.map((p) => p.name)).toContain('networkdriver.allocateInterface');
      expect(readdirSync(dataRoot)).toEqual([]);
    } finally {
      rmSync(dataRoot, { recursive: true, force: true });
    }
    expect(mountsContaining(dataRoot)).toEqual([]);
    expect(runCgroups()).toEqual([]);
    expect(await leftoverLinks()).toEqual([]);
    expect(await leftoverNetns()).toEqual([]);
    for (const d of ['o', 'v']) expect(existsSync(`/sys/class/net/bnr${process.pid}${d}`)).toBe(false);
    expect(childPids()).toEqual(children);
  });
  needs(dockerMissing()).it('docker: runs against a private dockerd and leaves no daemon, bridge, mount or key.json behind', async () => {
    const dataRoot = mkdtempSync(join(os.tmpdir(), `berth-run-docker-${process.pid}-`));
    const keyBefore = existsSync('/etc/docker/key.json');
    const children = childPids();
    const lines: string[] = [];
    try {
      const { document, failed } = await runBenchmarks({
        suites: [findSuite('run')!],
        settings: tiny,
        seed: 4,
        dataRoot,
        targets: ['docker'],
        argv: ['--test'],
        progress: (l) => lines.push(l),
        hostInfo: async () => host,
      });
      expect(failed, lines.join('\n')).toBe(false);
      expect(() => validateResult(document)).not.toThrow();
      expect(document.cases.map((c) => `${c.target}/${c.parameters.network}`)).toEqual(['docker/none', 'docker/bridge']);
      expect(document.warnings.some((w) => w.includes('private dockerd'))).toBe(true);
      expect(readdirSync(dataRoot)).toEqual([]);
    } finally {
      rmSync(dataRoot, { recursive: true, force: true });
    }
    expect(mountsContaining(dataRoot)).toEqual([]);
    expect(existsSync(`/sys/class/net/${DOCKER_BRIDGE}`)).toBe(false);
    expect(existsSync('/etc/docker/key.json')).toBe(keyBefore);
    expect(childPids()).toEqual(children);
  });
});
