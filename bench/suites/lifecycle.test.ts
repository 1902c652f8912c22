// Tests of the `lifecycle` suite: its cases per profile, the derived cases and goals
// on made-up samples, docker left out with a reason when dockerd is absent, and real
// runs (root) with tiny sizes through runBenchmarks into a schema-valid document —
// failed lifecycles counted, not dropped — leaving no container, cgroup, netns,
// link, mount or daemon behind.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../engine/client/api-client.js';
import { unavailable } from '../../engine/errdefs/errors.js';
import { needs, root } from '../../testkit/needs.js';
import { collectHostInfo } from '../host.js';
import { profiles, type ProfileSettings } from '../profiles.js';
import type { HostInfo, ResultDocument } from '../results/document.js';
import { validateResult } from '../results/validate.js';
import { runBenchmarks } from '../runner.js';
import type { MacroCase, MeasuredCase, SuiteContext } from '../suite.js';
import { findSuite } from './index.js';
import type { ApiDaemon } from './lifecycle-daemons.js';
import { lifecycleSuite, makeLifecycleSuite, sizesFor, type LifecycleSizes } from './lifecycle.js';
import { lifecycleRound, OPS, WORKLOADS, type Op } from './lifecycle-loop.js';
import { leftoverLinks, leftoverNetns } from './network-world.js';
import { BERTHD_BRIDGE } from './run-berthd.js';
import { DOCKER_BRIDGE, dockerMissing } from './runtime-docker.js';
import { hostTraces, comparableHostTraces, netavarkMissing } from './podman-network.js';
import { podmanMissing } from './workload-podman.js';
import { childPids, mountsContaining, processesNaming } from '../../testkit/processes.js';

const tiny: ProfileSettings = { ...profiles.quick, macro: { warmup: 1, minSamples: 2, maxSamples: 2, maxTimeMs: 1 } };
const TINY_SIZES: LifecycleSizes = {
  concurrencies: [1, 2],
  workloads: WORKLOADS,
  cliConcurrencies: [1],
  cliWorkloads: WORKLOADS,
  perWorker: 2,
  running: [0, 3],
  densityTargets: ['berth', 'docker', 'podman'],
};

function suiteCtx(targets: string[], warnings: string[], profile: ProfileSettings = tiny): SuiteContext {
  return {
    profile: profile.name,
    settings: profile,
    targets,
    dataRoot: os.tmpdir(),
    seed: 1,
    warn: (m) => warnings.push(m),
  };
}

/**
 * The cgroup directories berth made for process `pid` (every hierarchy, under a
 * `berth/<daemon>` parent), with that parent, as paths under /sys/fs/cgroup.
 */
function berthCgroupDirsOf(pid: number): string[] {
  const out: string[] = [];
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, controllers, path] = line.split(':') as [string, string, string];
    const m = /^(.*\/berth\/[0-9a-f]{12})\/[^/]+$/.exec(path);
    if (m === null) continue;
    const hierarchy =
      controllers === '' ? (existsSync('/sys/fs/cgroup/unified') ? 'unified' : '') : controllers.replace(/^name=/, '');
    out.push(join('/sys/fs/cgroup', hierarchy, path), join('/sys/fs/cgroup', hierarchy, m[1]!));
  }
  return out;
}

/**
 * A client that fails every third start (without sending it) and notes the cgroup
 * directories of each started sleep container, so the test can check they are gone.
 */
class FaultyClient extends ApiClient {
  static starts = 0;
  static cgroups = new Set<string>();
  override async containerStart(id: string): Promise<boolean> {
    if (++FaultyClient.starts % 3 === 0) throw unavailable(`container ${id}: start refused by the test`);
    const started = await super.containerStart(id);
    const info = await this.containerInspect(id).catch(() => undefined);
    const pid = info?.State?.Pid;
    if (typeof pid === 'number' && pid > 0) {
      try {
        for (const d of berthCgroupDirsOf(pid)) FaultyClient.cgroups.add(d);
      } catch {
        // exited already (/bin/true)
      }
    }
    return started;
  }
}

describe('lifecycle suite: cases', () => {
  it('is registered as built, after run', async () => {
    expect(await findSuite('lifecycle')!.load!()).toBe(lifecycleSuite);
  });

  it('sizes: quick keeps the goal cases (api 1 and 4, cli /bin/true at 4, capped rounds, density 0 and 100 for berth and docker); default the whole matrix', () => {
    expect(sizesFor({ profile: 'quick', settings: profiles.quick })).toEqual({
      concurrencies: [1, 4],
      workloads: ['true', 'sleep'],
      cliConcurrencies: [4],
      cliWorkloads: ['true'],
      perWorker: 2,
      roundCapMs: 2000,
      running: [0, 100],
      densityTargets: ['berth', 'docker'],
    });
    for (const profile of [profiles.default, profiles.full])
      expect(sizesFor({ profile: profile.name, settings: profile })).toEqual({
        concurrencies: [1, 2, 4, 8],
        workloads: ['true', 'sleep'],
        cliConcurrencies: [1, 2, 4, 8],
        cliWorkloads: ['true', 'sleep'],
        perWorker: profile.name === 'full' ? 16 : 8,
        running: [0, 10, 50, 100],
        densityTargets: ['berth', 'docker', 'podman'],
      });
  });

  it('berth, quick profile: throughput per level, workload and concurrency (grouped with the peers), then density steps with phases', () => {
    const warnings: string[] = [];
    const cases = lifecycleSuite.cases(suiteCtx(['berth'], warnings, profiles.quick)) as MacroCase[];
    const thr = cases.filter((c) => c.case === 'throughput');
    expect(thr.map((c) => `${c.parameters.workload}/${c.parameters.concurrency}/${c.group}`)).toEqual([
      'true/1/throughput-api-true-1',
      'true/4/throughput-api-true-4',
      'sleep/1/throughput-api-sleep-1',
      'sleep/4/throughput-api-sleep-4',
      'true/4/throughput-cli-true-4',
    ]);
    expect(thr.every((c) => c.unit === 'ops/s' && c.direction === 'higher-is-better')).toBe(true);
    expect(thr.map((c) => c.parameters.level)).toEqual([...Array(4).fill('api'), 'cli']);
    expect(
      thr.every((c) => c.method.includes('(none started after 2 s of the round; each worker runs at least one)')),
    ).toBe(true);
    const density = cases.filter((c) => c.case === 'density-start');
    expect(density.map((c) => `${c.parameters.running}/${c.phases}/${c.group}`)).toEqual([
      '0/true/density-berth-0',
      '100/true/density-berth-100',
    ]);
    expect(cases).toHaveLength(7);
    expect(
      warnings.some((w) => /^lifecycle levels: api .* and cli .*; ratios only between the same level/.test(w)),
    ).toBe(true);
    expect(
      warnings.some((w) => w.includes('Sizes (quick profile): api true and sleep at concurrency 1, 4; cli true at 4;')),
    ).toBe(true);
  });

  it('berth, default profile: the whole matrix, rounds not capped', () => {
    const cases = lifecycleSuite.cases(suiteCtx(['berth'], [], profiles.default)) as MacroCase[];
    const thr = cases.filter((c) => c.case === 'throughput');
    expect(thr).toHaveLength(16);
    expect(thr.some((c) => c.method.includes('none started after'))).toBe(false);
    expect(cases.filter((c) => c.case === 'density-start').map((c) => c.parameters.running)).toEqual([0, 10, 50, 100]);
  });

  it('a round runs perWorker lifecycles per worker; with a cap reached, no worker starts a second one', async () => {
    let started = 0;
    const lifecycle = () => async (latencies: Record<Op, number[]>) => {
      started++;
      for (const op of OPS) latencies[op].push(0);
      if (started % 5 === 0) throw unavailable('failed by the test');
    };
    const full = await lifecycleRound(lifecycle, 3, 4);
    expect([started, full.completed, full.errors, full.latencies.create.length]).toEqual([12, 10, 2, 12]);
    started = 0;
    expect((await lifecycleRound(lifecycle, 3, 4, 60_000)).completed).toBe(10);
    started = 0;
    // a cap of 0 ms is reached before any second lifecycle: one each
    const capped = await lifecycleRound(lifecycle, 3, 4, 0);
    expect([started, capped.completed, capped.errors]).toEqual([3, 3, 0]);
  });

  needs(podmanMissing(), netavarkMissing()).it(
    'podman: quick has its cli /bin/true case at 4 and no density step (saying so); default every cli case and step',
    () => {
      const warnings: string[] = [];
      const quick = lifecycleSuite.cases(suiteCtx(['podman'], warnings, profiles.quick)) as MacroCase[];
      expect(
        quick.map((c) => `${c.case}/${c.parameters.level}/${c.parameters.workload}/${c.parameters.concurrency}`),
      ).toEqual(['throughput/cli/true/4']);
      expect(warnings.some((w) => w.endsWith('its density steps left out in the quick profile'))).toBe(true);
      const full = lifecycleSuite.cases(suiteCtx(['podman'], [], profiles.default)) as MacroCase[];
      expect(full.filter((c) => c.case === 'throughput')).toHaveLength(8);
      expect(full.filter((c) => c.case === 'density-start').map((c) => c.parameters.running)).toEqual([0, 10, 50, 100]);
    },
  );

  it('docker: left out with the reason when dockerd is not on PATH', () => {
    const path = process.env.PATH;
    const empty = mkdtempSync(join(os.tmpdir(), `berth-lifecycle-path-${process.pid}-`));
    try {
      process.env.PATH = empty;
      const warnings: string[] = [];
      expect(lifecycleSuite.cases(suiteCtx(['docker'], warnings))).toEqual([]);
      expect(warnings[0]).toBe('target docker left out: dockerd not installed (not on PATH)');
    } finally {
      process.env.PATH = path;
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('derives latencies, errors, scaling, ratios between the same level, density ratios, memory and the goals', async () => {
    const sizes: LifecycleSizes = {
      concurrencies: [1, 4],
      workloads: WORKLOADS,
      cliConcurrencies: [4],
      cliWorkloads: WORKLOADS,
      perWorker: 1,
      running: [0, 100],
      densityTargets: ['berth', 'docker'],
    };
    const suite = makeLifecycleSuite({ sizes: () => sizes });
    const path = process.env.PATH;
    const cases = suite.cases(suiteCtx(['berth', 'docker'], [])) as MacroCase[];
    // made-up samples, as the runner would pass them; no daemon is started
    const samples = (c: MacroCase): number[] => {
      const p = c.parameters;
      if (c.case === 'throughput')
        return c.target === 'berth'
          ? [10 * Number(p.concurrency), 10 * Number(p.concurrency)]
          : [2 * Number(p.concurrency) ** 0.5, 2 * Number(p.concurrency) ** 0.5];
      return p.running === 0 ? [10, 10] : [11, 13];
    };
    const measured: MeasuredCase[] = cases
      .filter((c) => dockerMissing() === undefined || c.target === 'berth')
      .map((c) => ({ info: c, samples: samples(c), rounds: [samples(c)] }));
    expect(process.env.PATH).toBe(path);
    const derived = suite.derive!(measured);
    // no recorded rounds (no sample ran): no latency or error cases, no memory
    expect(derived.filter((d) => d.case === 'op-latency' || d.case === 'errors' || d.case === 'daemon-memory')).toEqual(
      [],
    );
    const scaling = derived.filter((d) => d.case === 'scaling' && d.target === 'berth');
    expect(scaling.map((d) => `${d.parameters.workload}/${d.parameters.concurrency}/${d.samples.join(',')}`)).toEqual([
      'true/4/4,4',
      'sleep/4/4,4',
    ]);
    expect(scaling[0]!.notes![0]).toMatch(
      /^Saturation \(\d+ CPU\(s\)\): still growing by 10 % or more up to concurrency 4; medians 1: 10\.0\/s, 4: 40\.0\/s\.$/,
    );
    const density = derived.find((d) => d.case === 'density-ratio' && d.target === 'berth')!;
    expect(density.samples).toEqual([1.1, 1.3]);
    expect(density.notes![0]).toBe(
      'Goal: berth start latency at 100 running within 1.2x of at 0: met (ratio of medians 1.20: 12.00 ms vs 10.00 ms).',
    );
    if (dockerMissing() === undefined) {
      const ratio = derived.filter((d) => d.case === 'throughput-ratio');
      expect(
        ratio.map(
          (d) => `${d.parameters.level}/${d.parameters.workload}/${d.parameters.concurrency}/${d.parameters.reference}`,
        ),
      ).toEqual([
        'api/true/1/docker',
        'api/true/4/docker',
        'api/sleep/1/docker',
        'api/sleep/4/docker',
        'cli/true/4/docker',
        'cli/sleep/4/docker',
      ]);
      expect(ratio[4]!.notes![0]).toMatch(
        /^Goal: lifecycle throughput at concurrency 4 >= 5x docker's \(true, cli level\)/,
      );
      expect(ratio[1]!.samples).toEqual([10, 10]);
      expect(ratio[1]!.notes![0]).toBe(
        "Goal: lifecycle throughput at concurrency 4 >= 5x docker's (true): met (ratio of medians 10.00: berth 40.0/s, docker 4.0/s).",
      );
      expect(ratio[0]!.notes).toEqual([]);
    }
  });
});

needs(root()).describe('lifecycle suite: real runs (root)', () => {
  let host: HostInfo;
  let dataRoot: string;
  beforeAll(async () => {
    host = await collectHostInfo({ dataRoot: os.tmpdir(), peers: [] });
  });
  afterEach(() => {
    rmSync(dataRoot, { recursive: true, force: true });
  });

  async function run(
    targets: string[],
    client?: (d: ApiDaemon) => ApiClient,
  ): Promise<{ document: ResultDocument; lines: string[]; children: number[] }> {
    dataRoot = mkdtempSync(join(os.tmpdir(), `berth-lifecycle-${process.pid}-`));
    const children = childPids();
    const lines: string[] = [];
    const suite = makeLifecycleSuite({ sizes: () => TINY_SIZES, client });
    const { document, failed } = await runBenchmarks({
      suites: [{ name: 'lifecycle', description: '', load: async () => suite }],
      settings: tiny,
      seed: 5,
      dataRoot,
      targets,
      argv: ['--test'],
      progress: (l) => lines.push(l),
      hostInfo: async () => host,
    });
    expect(failed, lines.join('\n')).toBe(false);
    expect(() => validateResult(document)).not.toThrow();
    return { document, lines, children };
  }

  /** Nothing of the run is left: no daemon or shim, mount, bridge, link, netns or directory. */
  async function expectNothingLeft(children: number[]): Promise<void> {
    expect(readdirSync(dataRoot)).toEqual([]);
    expect(mountsContaining(dataRoot)).toEqual([]);
    expect(processesNaming(dataRoot)).toEqual([]);
    expect(childPids()).toEqual(children);
    expect(existsSync(`/sys/class/net/${BERTHD_BRIDGE}`)).toBe(false);
    expect(existsSync(`/sys/class/net/${DOCKER_BRIDGE}`)).toBe(false);
    expect(await leftoverLinks()).toEqual([]);
    expect(await leftoverNetns()).toEqual([]);
  }

  it('berth: every case end to end, failed lifecycles counted, per-op latencies, density phases and memory; nothing left', async () => {
    FaultyClient.starts = 0;
    FaultyClient.cgroups.clear();
    const { document, children } = await run(['berth'], (d) => new FaultyClient(d.host));
    const thr = document.cases.filter((c) => c.case === 'throughput');
    expect(
      thr.map((c) => `${c.parameters.level}/${c.parameters.workload}/${c.parameters.concurrency}/${c.samples.length}`),
    ).toEqual(['api/true/1/2', 'api/true/2/2', 'api/sleep/1/2', 'api/sleep/2/2', 'cli/true/1/2', 'cli/sleep/1/2']);
    for (const c of thr) expect(c.stats.p50).toBeGreaterThan(0);
    // every third start was refused: the errors are in the document, one sample per round
    const errors = document.cases.filter((c) => c.case === 'errors');
    expect(errors).toHaveLength(6);
    for (const e of errors) expect(e.samples).toHaveLength(2);
    const failedTotal = errors.reduce((a, e) => a + e.samples.reduce((x, y) => x + y, 0), 0);
    expect(failedTotal).toBeGreaterThan(0);
    expect(errors.some((e) => /^\d+ failed lifecycle\(s\) in 2 round\(s\)\.$/.test(e.notes[0]!))).toBe(true);
    const ops = document.cases.filter((c) => c.case === 'op-latency');
    expect(new Set(ops.map((c) => c.parameters.op))).toEqual(new Set(['create', 'start', 'wait', 'stop', 'remove']));
    for (const c of ops) expect(c.unit).toBe('ms');
    expect(
      document.cases
        .filter((c) => c.case === 'scaling')
        .map((c) => `${c.parameters.workload}/${c.parameters.concurrency}`),
    ).toEqual(['true/2', 'sleep/2']);
    const density = document.cases.filter((c) => c.case === 'density-start');
    expect(density.map((c) => `${c.target}/${c.parameters.running}/${c.samples.length}`)).toEqual([
      'berth/0/2',
      'berth/3/2',
    ]);
    for (const c of density) {
      const names = c.phases!.map((p) => p.name);
      for (const n of ['client.start', 'jobs.start']) expect(names, n).toContain(n);
      expect(names).toContain('networkdriver.allocateInterface');
    }
    const memory = document.cases.filter((c) => c.case === 'daemon-memory');
    expect(memory.map((c) => `${c.target}/${c.parameters.running}/${c.parameters.metric}/${c.unit}`)).toEqual([
      'berth/0/rss/MiB',
      'berth/0/pss/MiB',
      'berth/3/rss/MiB',
      'berth/3/pss/MiB',
    ]);
    for (const c of memory) expect(c.stats.p50).toBeGreaterThan(5);
    expect(
      memory[2]!.notes.some((n) =>
        /^Goal: berthd RSS with 100 idle containers .*: not evaluated, this run went to 3 running without docker \(berthd [\d.]+ MiB, docker not measured\)\.$/.test(
          n,
        ),
      ),
    ).toBe(true);
    expect(document.cases.find((c) => c.case === 'density-ratio')!.notes[0]).toMatch(
      /^Goal: berth start latency at 100 running within 1\.2x of at 0: not evaluated, this run went to 3 running/,
    );
    // the sleep containers' cgroups are gone with them
    expect(FaultyClient.cgroups.size).toBeGreaterThan(0);
    for (const d of FaultyClient.cgroups) expect(existsSync(d), d).toBe(false);
    await expectNothingLeft(children);
  }, 300_000);

  needs(dockerMissing()).it(
    'docker: the same cases on a private dockerd, with dockerd + containerd + shims measured; nothing left',
    async () => {
      const { document, children } = await run(['docker']);
      expect(
        document.cases
          .filter((c) => c.case === 'throughput')
          .map((c) => `${c.target}/${c.parameters.level}/${c.parameters.workload}/${c.parameters.concurrency}`),
      ).toEqual([
        'docker/api/true/1',
        'docker/api/true/2',
        'docker/api/sleep/1',
        'docker/api/sleep/2',
        'docker/cli/true/1',
        'docker/cli/sleep/1',
      ]);
      const errors = document.cases.filter((c) => c.case === 'errors');
      expect(errors.map((e) => e.samples.reduce((a, b) => a + b, 0))).toEqual([0, 0, 0, 0, 0, 0]);
      const density = document.cases.filter((c) => c.case === 'density-start');
      expect(density.map((c) => `${c.parameters.running}/${c.phases}`)).toEqual(['0/null', '3/null']);
      const memory = document.cases.filter((c) => c.case === 'daemon-memory' && c.parameters.metric === 'rss');
      expect(memory.map((c) => c.parameters.running)).toEqual([0, 3]);
      // dockerd and containerd, then one shim per idle container
      expect(memory[0]!.notes[0]).toBe('2 process(es) counted at the last read.');
      expect(memory[1]!.notes[0]).toBe('5 process(es) counted at the last read.');
      expect(memory[1]!.stats.p50).toBeGreaterThan(memory[0]!.stats.p50);
      expect(document.warnings.some((w) => w.includes('lifecycle levels: api'))).toBe(true);
      await expectNothingLeft(children);
    },
    600_000,
  );

  needs(podmanMissing(), netavarkMissing()).it(
    'podman: the cli throughput and the density steps on its own netavark network, the service and every conmon measured; nothing left',
    async () => {
      const words = [`/run/bpm${process.pid}-`, `bpm${process.pid}`];
      const before = hostTraces(words);
      const { document, children } = await run(['podman']);
      expect(
        document.cases
          .filter((c) => c.case === 'throughput')
          .map((c) => `${c.target}/${c.parameters.level}/${c.parameters.workload}/${c.parameters.concurrency}`),
      ).toEqual(['podman/cli/true/1', 'podman/cli/sleep/1']);
      const density = document.cases.filter((c) => c.case === 'density-start');
      expect(density.map((c) => `${c.target}/${c.parameters.level}/${c.parameters.running}`)).toEqual([
        'podman/api/0',
        'podman/api/3',
      ]);
      const memory = document.cases.filter((c) => c.case === 'daemon-memory' && c.parameters.metric === 'rss');
      expect(memory.map((c) => c.parameters.running)).toEqual([0, 3]);
      // the service, then one conmon per idle container
      expect(memory[0]!.notes[0]).toBe('1 process(es) counted at the last read.');
      expect(memory[1]!.notes[0]).toBe('4 process(es) counted at the last read.');
      expect(memory[1]!.method).toMatch(/the podman service and every conmon/);
      expect(memory[1]!.stats.p50).toBeGreaterThan(memory[0]!.stats.p50);
      expect(document.warnings.some((w) => w.includes('its density steps over the service'))).toBe(true);
      await expectNothingLeft(children);
      // this process's NETAVARK lines as they were; the rest as before, another podman network's changes left out
      const traces = comparableHostTraces(before, hostTraces(words));
      expect(traces.is).toEqual(traces.was);
      expect(traces.after).toEqual(traces.before);
    },
    600_000,
  );
});
