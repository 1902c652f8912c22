// Tests of the `run` suite: its cases and warnings, one composed run that fails
// half-way and must undo every step, and a real run through runBenchmarks (root)
// into a schema-valid document that leaves no mount, cgroup, link, netns or process.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { folderState } from '../../testkit/dockerd.js';
import { background } from '../../engine/trace/index.js';
import { collectHostInfo } from '../host.js';
import { profiles, type ProfileSettings } from '../profiles.js';
import type { HostInfo } from '../results/document.js';
import type { DerivedCase, MacroCase, SuiteContext } from '../suite.js';
import { findSuite } from './index.js';
import { runSuiteInTest } from './suite-test-run.js';
import { leftoverLinks, leftoverNetns } from './network-world.js';
import { podmanSkipReason, runOnce, runSuite, type RunNetwork } from './run.js';
import type { PrivateBerthd } from './private-berthd.js';
import { BERTHD_BRIDGE, staticImageBerthd } from './run-berthd.js';
import { deriveLevels } from './run-levels.js';
import { DOCKER_BRIDGE, dockerMissing } from './runtime-docker.js';
import { RunWorld } from './runtime-run-world.js';
import { needs, root, tool } from '../../testkit/needs.js';
import { childPids, iptablesRulesNaming, mountsContaining } from '../../testkit/processes.js';

const tiny: ProfileSettings = { ...profiles.quick, macro: { warmup: 1, minSamples: 2, maxSamples: 2, maxTimeMs: 1 } };

function suiteCtx(targets: string[], warnings: string[]): SuiteContext {
  return { profile: 'quick', settings: tiny, targets, dataRoot: os.tmpdir(), seed: 1, warn: (m) => warnings.push(m) };
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

  it('measures in-process overlay2 and vfs × none and bridge with phases, then api (phases) and cli levels through berthd in one group', () => {
    const cases = runSuite.cases(suiteCtx(['berth'], [])) as MacroCase[];
    expect(cases.map((c) => `${c.parameters.level}/${c.parameters.graphdriver}/${c.parameters.network}`)).toEqual([
      'in-process/overlay2/none',
      'in-process/overlay2/bridge',
      'in-process/vfs/none',
      'in-process/vfs/bridge',
      'api/overlay2/none',
      'api/overlay2/bridge',
      'cli/overlay2/none',
      'cli/overlay2/bridge',
    ]);
    expect(cases.every((c) => c.target === 'berth')).toBe(true);
    expect(
      cases.filter((c) => c.parameters.level === 'in-process').every((c) => c.group === 'run' && c.phases === true),
    ).toBe(true);
    expect(
      cases.filter((c) => c.parameters.level !== 'in-process').map((c) => `${c.group}/${c.phases === true}`),
    ).toEqual(['run-berthd/true', 'run-berthd/true', 'run-berthd/false', 'run-berthd/false']);
    expect(cases.find((c) => c.parameters.level === 'cli')!.method).toMatch(
      /berth -H unix:\/\/… run --rm --network none berth-bench\/static:latest \/bin\/true/,
    );
  });

  it('derives ratios only between cases of one level and network, and records the goals as met or not', () => {
    const info = (target: string, level: string, network: string) =>
      ({
        suite: 'run',
        case: 'run',
        target,
        parameters: { level, network },
        unit: 'ms',
        direction: 'lower-is-better',
        method: '',
      }) as const;
    const m = (target: string, level: string, network: string, samples: number[]) => ({
      info: info(target, level, network),
      samples,
      rounds: [samples],
    });
    const berthd = { rssAfterStart: [40, 41, 42], rssAfterRuns: [70, 71, 72] } as unknown as PrivateBerthd;
    const derived = deriveLevels(
      [
        m('berth', 'in-process', 'none', [5]),
        m('berth', 'api', 'none', [8, 8]),
        m('berth', 'cli', 'none', [30, 50]),
        m('docker', 'cli', 'none', [200, 200]),
        m('docker', 'api', 'bridge', [90]),
      ],
      { berthd },
    );
    expect(derived.map((d) => `${d.case}/${d.parameters.level}/${d.parameters.state ?? d.parameters.network}`)).toEqual(
      ['daemon-rss/daemon/idle-after-start', 'daemon-rss/daemon/idle-after-runs', 'run-ratio/cli/none'],
    );
    const [start, after, ratio] = derived as [DerivedCase, DerivedCase, DerivedCase];
    expect(start.notes![0]).toMatch(/^Goal: berthd idle RSS <= 60 MB: met \(median 43\.0 MB = 41\.0 MiB\)/);
    expect(after.notes![0]).toMatch(/: not met \(median 74\.4 MB/);
    expect(ratio.samples).toEqual([0.15, 0.25]);
    expect(ratio.notes![0]).toBe(
      'Goal: end to end (cli) <= 0.2x docker with --network none: met (ratio of medians 0.200).',
    );
  });

  it('docker: two cases on a private dockerd (or a stated reason); podman: left out with the reason', () => {
    const warnings: string[] = [];
    const cases = runSuite.cases(suiteCtx(['docker', 'podman'], warnings)) as MacroCase[];
    const missing = dockerMissing();
    if (missing === undefined) {
      expect(cases.map((c) => `${c.target}/${c.parameters.level}/${c.parameters.network}/${c.group}`)).toEqual([
        'docker/api/none/run-docker',
        'docker/api/bridge/run-docker',
        'docker/cli/none/run-docker',
        'docker/cli/bridge/run-docker',
      ]);
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

  // the "no rule left" check reads iptables-save
  const iptables = needs(tool('iptables-save', 'iptables'));

  iptables.it(
    'a private berthd that dies (SIGKILL) is still cleaned up: no process, bridge, mount or directory left',
    async () => {
      const ctx = background();
      const dataRoot = mkdtempSync(join(os.tmpdir(), `berth-run-berthd-${process.pid}-`));
      const children = childPids();
      const berthd = staticImageBerthd(dataRoot);
      try {
        await berthd.acquire(ctx);
        const pid = berthd.pid!;
        expect(childPids()).toContain(pid);
        expect(berthd.rssAfterStart).toHaveLength(5);
        expect(await berthd.containers()).toEqual([]);
        expect(existsSync(`/sys/class/net/${BERTHD_BRIDGE}`)).toBe(true);
        process.kill(pid, 'SIGKILL');
        // the death is reported, and everything is removed all the same
        await expect(berthd.release(ctx)).rejects.toThrow(/^private berthd cleanup: .*berthd/);
      } finally {
        await berthd.release(ctx).catch(() => undefined);
        expect(readdirSync(dataRoot)).toEqual([]);
        rmSync(dataRoot, { recursive: true, force: true });
      }
      expect(mountsContaining(dataRoot)).toEqual([]);
      expect(existsSync(`/sys/class/net/${BERTHD_BRIDGE}`)).toBe(false);
      expect(iptablesRulesNaming(BERTHD_BRIDGE)).toEqual([]);
      expect(childPids()).toEqual(children);
    },
  );

  // Real runs of every case: minutes on a loaded machine, so the bound is wide.
  iptables.it(
    'runs every case end to end into a schema-valid document with phases of every module, leaving nothing',
    { timeout: 300_000 },
    async () => {
      const dataRoot = mkdtempSync(join(os.tmpdir(), `berth-run-suite-${process.pid}-`));
      const children = childPids();
      try {
        const document = await runSuiteInTest({
          suite: 'run',
          settings: tiny,
          seed: 4,
          dataRoot,
          host,
          targets: ['berth'],
        });
        const inProcess = document.cases.filter((c) => c.parameters.level === 'in-process');
        expect(inProcess).toHaveLength(4);
        for (const c of inProcess) {
          expect(c.samples).toHaveLength(2);
          const modules = new Set(c.phases!.map((p) => p.module.split('.')[0]));
          for (const m of ['jobs', 'graph', 'graphdriver', 'execdriver', 'libcontainer', 'networkdriver'])
            expect(modules.has(m), `${m} in ${[...modules].join(',')}`).toBe(true);
          // the rootfs mount: overlay2 mounts it detached where the kernel can (getDetached), vfs gives its dir (get)
          const mounts = [
            `graphdriver.${c.parameters.graphdriver}.get`,
            `graphdriver.${c.parameters.graphdriver}.getDetached`,
          ];
          expect(c.phases!.some((p) => mounts.includes(p.name))).toBe(true);
        }
        // the exit handling (release, delete, unmount) is in every in-process run's phases
        for (const c of inProcess) expect(c.phases!.map((p) => p.name)).toContain('container.exit');
        const bridge = inProcess.find((c) => c.parameters.network === 'bridge')!;
        expect(bridge.phases!.map((p) => p.name)).toContain('networkdriver.allocateInterface');
        // api level: client calls with berthd's request, job and driver spans joined beneath
        const api = document.cases.filter((c) => c.parameters.level === 'api');
        expect(api.map((c) => `${c.target}/${c.parameters.network}`)).toEqual(['berth/none', 'berth/bridge']);
        for (const c of api) {
          expect(c.samples).toHaveLength(2);
          const names = c.phases!.map((p) => p.name);
          for (const n of [
            'client.create',
            'client.start',
            'client.delete',
            'jobs.create',
            'jobs.start',
            'jobs.delete',
          ])
            expect(names, n).toContain(n);
          expect(c.phases!.some((p) => p.module === 'daemon')).toBe(true);
          expect(c.phases!.some((p) => p.module.startsWith('execdriver'))).toBe(true);
        }
        expect(api.find((c) => c.parameters.network === 'bridge')!.phases!.map((p) => p.name)).toContain(
          'networkdriver.allocateInterface',
        );
        expect(
          api
            .find((c) => c.parameters.network === 'none')!
            .notes.some((n) => /^Goal: api-level .* <= 10 ms: (met|not met) \(median [\d.]+ ms\)\.$/.test(n)),
        ).toBe(true);
        const cli = document.cases.filter((c) => c.parameters.level === 'cli');
        expect(cli.map((c) => `${c.target}/${c.parameters.network}/${c.samples.length}/${c.phases}`)).toEqual([
          'berth/none/2/null',
          'berth/bridge/2/null',
        ]);
        const rss = document.cases.filter((c) => c.case === 'daemon-rss');
        expect(rss.map((c) => `${c.target}/${c.parameters.state}`)).toEqual([
          'berth/idle-after-start',
          'berth/idle-after-runs',
        ]);
        for (const c of rss) {
          expect(c.unit).toBe('MiB');
          expect(c.stats.p50).toBeGreaterThan(5);
          expect(c.notes[0]).toMatch(
            /^Goal: berthd idle RSS <= 60 MB: (met|not met) \(median [\d.]+ MB = [\d.]+ MiB\)\.$/,
          );
        }
        expect(document.cases).toHaveLength(10);
        expect(readdirSync(dataRoot)).toEqual([]);
      } finally {
        rmSync(dataRoot, { recursive: true, force: true });
      }
      expect(mountsContaining(dataRoot)).toEqual([]);
      expect(runCgroups()).toEqual([]);
      expect(await leftoverLinks()).toEqual([]);
      expect(await leftoverNetns()).toEqual([]);
      for (const d of ['o', 'v']) expect(existsSync(`/sys/class/net/bnr${process.pid}${d}`)).toBe(false);
      expect(existsSync(`/sys/class/net/${BERTHD_BRIDGE}`)).toBe(false);
      expect(iptablesRulesNaming(BERTHD_BRIDGE)).toEqual([]);
      expect(childPids()).toEqual(children);
    },
  );
  needs(dockerMissing()).it(
    "docker: runs against a private dockerd and leaves no daemon, bridge or mount behind and the host's /etc/docker unchanged",
    async () => {
      const dataRoot = mkdtempSync(join(os.tmpdir(), `berth-run-docker-${process.pid}-`));
      const etcDocker = folderState();
      const children = childPids();
      try {
        const document = await runSuiteInTest({
          suite: 'run',
          settings: tiny,
          seed: 4,
          dataRoot,
          host,
          targets: ['docker'],
        });
        const runs = document.cases.filter((c) => c.case === 'run');
        expect(runs.map((c) => `${c.target}/${c.parameters.level}/${c.parameters.network}`)).toEqual([
          'docker/api/none',
          'docker/api/bridge',
          'docker/cli/none',
          'docker/cli/bridge',
        ]);
        const rss = document.cases.filter((c) => c.case === 'daemon-rss');
        expect(rss.map((c) => `${c.target}/${c.parameters.state}/${c.unit}`)).toEqual(['docker/idle-after-start/MiB']);
        expect(rss[0]!.stats.p50).toBeGreaterThan(10);
        expect(document.warnings.some((w) => w.includes('private dockerd'))).toBe(true);
        expect(readdirSync(dataRoot)).toEqual([]);
      } finally {
        rmSync(dataRoot, { recursive: true, force: true });
      }
      expect(mountsContaining(dataRoot)).toEqual([]);
      expect(existsSync(`/sys/class/net/${DOCKER_BRIDGE}`)).toBe(false);
      expect(folderState()).toEqual(etcDocker);
      expect(childPids()).toEqual(children);
    },
  );
});
