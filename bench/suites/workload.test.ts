// Tests of the `workload` suite: its cases and warnings, the derived cases, the HTTP
// client on a local server, and real runs through runBenchmarks (root) with tiny sizes
// into schema-valid documents that leave no container, daemon, mount, bridge, netns,
// iptables rule or process; docker and podman skip with their reasons when absent.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderState } from '../../testkit/dockerd.js';
import { collectHostInfo } from '../host.js';
import { profiles, type ProfileSettings } from '../profiles.js';
import type { HostInfo } from '../results/document.js';
import { validateResult } from '../results/validate.js';
import { runBenchmarks } from '../runner.js';
import type { MacroCase, MeasuredCase, RegisteredSuite, SuiteContext } from '../suite.js';
import { needs, root, tool } from '../../testkit/needs.js';
import { childPids, iptablesRulesNaming, mountsContaining, processesNaming } from '../../testkit/processes.js';
import { findSuite } from './index.js';
import { leftoverLinks, leftoverNetns } from './network-world.js';
import { DOCKER_BRIDGE, dockerMissing } from './runtime-docker.js';
import { WORKLOAD_BRIDGE } from './workload-world.js';
import { berthPullIntervals, coldSplits, ProgressIntervals, splitPull } from './workload-coldstart.js';
import { background, withSignal, type SpanRecord } from '../../engine/trace/index.js';
import { getOnce, pollReady, requestLoop } from './workload-http.js';
import { requestLatencies } from './workload-services.js';
import {
  deriveWorkload,
  PODMAN_SERVICES_LEFT_OUT,
  workloadCases,
  workloadOptions,
  workloadSuite,
  type WorkloadOptions,
} from './workload.js';
import { podmanMissing } from './workload-podman.js';
import { hostTraces, comparableHostTraces, netavarkMissing } from './podman-network.js';

const tiny: ProfileSettings = { ...profiles.quick, macro: { warmup: 1, minSamples: 2, maxSamples: 2, maxTimeMs: 1 } };
const tinyOptions: WorkloadOptions = {
  requests: 20,
  requestModes: ['keep-alive', 'new-connection'],
  coldImages: ['tiny'],
  restartContainers: [0, 2],
};

function suiteCtx(targets: string[], warnings: string[], profile: 'quick' | 'default' = 'quick'): SuiteContext {
  return {
    profile,
    settings: profile === 'quick' ? tiny : profiles.default,
    targets,
    dataRoot: os.tmpdir(),
    seed: 1,
    warn: (m) => warnings.push(m),
  };
}

/** libpod_parent cgroup folders in any hierarchy. */
function libpodCgroupDirs(): string[] {
  return readdirSync('/sys/fs/cgroup')
    .filter((h) => existsSync(join('/sys/fs/cgroup', h, 'libpod_parent')))
    .sort();
}

/** The process group of process `pid` (field 5 of /proc/<pid>/stat). */
function processGroup(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

/** A suite entry running the workload cases with `options` (tiny sizes). */
function tinySuite(options: WorkloadOptions): RegisteredSuite {
  return {
    name: 'workload',
    description: workloadSuite.description,
    load: async () => ({ ...workloadSuite, cases: (ctx) => workloadCases(ctx, options) }),
  };
}

describe('workload suite: cases', () => {
  it('is registered as built and loads this suite', async () => {
    expect(await findSuite('workload')!.load!()).toBe(workloadSuite);
  });

  it('sizes per profile: quick the goal cases and one of each other workload with fewer samples, default the whole matrix', () => {
    expect(workloadOptions(suiteCtx([], []))).toEqual({
      requests: 250,
      requestModes: [],
      coldImages: ['debian'],
      restartContainers: [0, 10],
      costlySampling: { warmup: 1, minSamples: 3 },
    });
    expect(workloadOptions(suiteCtx([], [], 'default'))).toEqual({
      requests: 1000,
      requestModes: ['keep-alive', 'new-connection'],
      coldImages: ['debian', 'app'],
      restartContainers: [0, 10, 50],
    });
  });

  it('quick: service ready at both levels with the profile samples, no requests, one cold-start image, restarts with 3 samples; the rest named as left out', () => {
    const warnings: string[] = [];
    const ctx = suiteCtx(['berth'], warnings);
    const cases = workloadCases(ctx, workloadOptions(ctx)) as MacroCase[];
    const label = (c: MacroCase) =>
      `${c.case}/${c.case === 'cold-start' ? c.parameters.image : (c.parameters.level ?? c.parameters.containers)}`;
    expect(cases.map((c) => [label(c), c.sampling])).toEqual([
      ['service-ready/api', undefined],
      ['service-ready/cli', undefined],
      ['cold-start/debian', { warmup: 1, minSamples: 3 }],
      ['restart-on-failure/api', { warmup: 1, minSamples: 3 }],
      ['daemon-restart/0', { warmup: 1, minSamples: 3 }],
      ['daemon-restart/10', { warmup: 1, minSamples: 3 }],
    ]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^workload sizes \(quick profile\): .*1 warm-up run\(s\) and 3 samples/);
    expect(warnings[0]).toMatch(
      /Left out in this profile \(the default profile has them\): service-requests keep-alive and new-connection .*; cold start of app$/,
    );
    const whole: string[] = [];
    const dctx = suiteCtx(['berth'], whole, 'default');
    const all = workloadCases(dctx, workloadOptions(dctx)) as MacroCase[];
    expect(all.filter((c) => c.sampling !== undefined)).toEqual([]);
    expect(all.map((c) => c.case).filter((c) => c === 'service-requests')).toHaveLength(2);
    expect(whole[0]).not.toMatch(/Left out/);
  });

  it('berth: ready at api and cli, requests kept alive and new, cold start per image (phases), restart policy, daemon restart per count', () => {
    const warnings: string[] = [];
    const cases = workloadCases(suiteCtx(['berth'], warnings), tinyOptions) as MacroCase[];
    expect(cases.map((c) => `${c.case}/${c.parameters.level ?? c.parameters.mode ?? c.parameters.containers}`)).toEqual(
      [
        'service-ready/api',
        'service-ready/cli',
        'service-requests/keep-alive',
        'service-requests/new-connection',
        'cold-start/api',
        'restart-on-failure/api',
        'daemon-restart/0',
        'daemon-restart/2',
      ],
    );
    expect(cases.every((c) => c.target === 'berth')).toBe(true);
    expect(cases.filter((c) => c.phases === true).map((c) => c.case)).toEqual([
      'cold-start',
      'daemon-restart',
      'daemon-restart',
    ]);
    expect(cases.find((c) => c.case === 'service-ready')!.method).toMatch(
      /first 200 answer to GET \/ on the published port/,
    );
    expect(cases.find((c) => c.case === 'service-requests')!.unit).toBe('ops/s');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^workload sizes \(quick profile\): service ready at api and cli; 20 requests/);
  });

  it('docker: the same cases, daemon restart on its private dockerd too; podman: the same with services only on its netavark network; each with its reason when absent', () => {
    const warnings: string[] = [];
    const cases = workloadCases(suiteCtx(['docker', 'podman'], warnings), tinyOptions) as MacroCase[];
    const docker = dockerMissing() === undefined;
    const podman = podmanMissing() === undefined;
    const served = podman && netavarkMissing() === undefined;
    const d = (...xs: string[]) => (docker ? xs : []);
    const p = (...xs: string[]) => (served ? xs : []);
    expect(cases.map((c) => `${c.target}/${c.case}`)).toEqual([
      ...d('docker/service-ready'),
      ...p('podman/service-ready'),
      ...d('docker/service-ready'),
      ...p('podman/service-ready'),
      ...d('docker/service-requests'),
      ...p('podman/service-requests'),
      ...d('docker/service-requests'),
      ...p('podman/service-requests'),
      ...d('docker/cold-start'),
      ...(podman ? ['podman/cold-start'] : []),
      ...(docker ? ['docker/restart-on-failure'] : []),
      ...(podman ? ['podman/restart-on-failure'] : []),
      ...d('docker/daemon-restart'),
      ...(podman ? ['podman/daemon-restart'] : []),
      ...d('docker/daemon-restart'),
      ...(podman ? ['podman/daemon-restart'] : []),
    ]);
    if (docker) expect(warnings[0]).toMatch(/^docker: measured against a private dockerd/);
    else expect(warnings).toContain(dockerMissing());
    if (podman) {
      expect(warnings.some((w) => /^podman: measured through a private `podman system service`/.test(w))).toBe(true);
      if (served) expect(warnings).not.toContain(PODMAN_SERVICES_LEFT_OUT);
      else expect(warnings).toContain(PODMAN_SERVICES_LEFT_OUT);
      const levels = cases
        .filter((c) => c.target === 'podman' && c.case === 'service-ready')
        .map((c) => c.parameters.level);
      expect(levels).toEqual(served ? ['api', 'cli'] : []);
    } else {
      expect(warnings).toContain(podmanMissing());
      expect(podmanMissing()).toMatch(/^target podman left out: podman not installed/);
    }
    expect(warnings.some((w) => w.startsWith('daemon-restart'))).toBe(false);
    expect(
      cases.filter((c) => c.case === 'daemon-restart').map((c) => `${c.target}/${c.parameters.containers}`),
    ).toEqual([...d('docker/0'), ...(podman ? ['podman/0'] : []), ...d('docker/2'), ...(podman ? ['podman/2'] : [])]);
    for (const c of cases.filter((x) => x.case === 'daemon-restart' && x.target === 'docker'))
      expect(c.method).toMatch(/--live-restore=false/);
  });

  it('derives request latencies from the measured batches only and the cold-start split with the pull share', () => {
    const info = (c: string, target: string, parameters: Record<string, string | number>) => ({
      suite: 'workload',
      case: c,
      target,
      parameters,
      unit: 'ms' as const,
      direction: 'lower-is-better' as const,
      method: '',
    });
    requestLatencies.set('berth/keep-alive', [[999], [10, 20], [30, 40]]);
    const run = (ms: number) => ({ create: ms / 2, start: ms / 4, 'first-output': ms / 4 });
    coldSplits.set('docker/tiny', [
      { pull: 900, ...run(100) },
      { pull: 30, ...run(10) },
      { pull: 60, ...run(40) },
    ]);
    coldSplits.set('berth/tiny', [{ fetch: 2, apply: 5, register: 3, ...run(10) }]);
    const measured: MeasuredCase[] = [
      {
        info: info('service-requests', 'berth', { mode: 'keep-alive', requests: 2, publish: '127.0.0.1::8080' }),
        samples: [1, 2],
        rounds: [[1, 2]],
      },
      { info: info('cold-start', 'docker', { level: 'api', image: 'tiny' }), samples: [40, 100], rounds: [[40, 100]] },
      { info: info('cold-start', 'berth', { level: 'api', image: 'tiny' }), samples: [1], rounds: [[1]] },
    ];
    const d = deriveWorkload(measured);
    expect(d.map((x) => `${x.target}/${x.case}/${x.parameters.part ?? x.parameters.mode ?? ''}`)).toEqual([
      'berth/service-request-latency/keep-alive',
      'docker/cold-start-split/pull',
      'docker/cold-start-split/create',
      'docker/cold-start-split/start',
      'docker/cold-start-split/first-output',
      'docker/cold-start-pull-share/',
      'berth/cold-start-split/fetch',
      'berth/cold-start-split/apply',
      'berth/cold-start-split/register',
      'berth/cold-start-split/create',
      'berth/cold-start-split/start',
      'berth/cold-start-split/first-output',
      'berth/cold-start-pull-share/',
    ]);
    expect(d[0]!.samples).toEqual([10, 20, 30, 40]);
    expect(d[0]!.unit).toBe('us');
    expect(d[1]!.samples).toEqual([30, 60]);
    expect(d[2]!.samples).toEqual([5, 20]);
    expect(d[4]!.samples).toEqual([2.5, 10]);
    expect(d[5]!.samples).toEqual([75, 60]);
    expect(d[5]!.notes![0]).toMatch(/^Median pull share 75\.0 %/);
    expect(d.slice(6, 9).map((x) => x.samples)).toEqual([[2], [5], [3]]);
    expect(d[12]!.samples).toEqual([50]);
    requestLatencies.clear();
    coldSplits.clear();
  });

  it('splits a pull into apply, register after or beside it, and fetch for the rest, adding up to the pull', () => {
    const ms = 1e6;
    // pull 0..100 ms; applies 20..40 and 50..80; the graph records 35..55 and 85..90
    const s = splitPull(
      0,
      100 * ms,
      [
        [20 * ms, 40 * ms],
        [50 * ms, 80 * ms],
      ],
      [
        [35 * ms, 55 * ms],
        [85 * ms, 90 * ms],
      ],
    )!;
    expect(s.apply).toBeCloseTo(50);
    expect(s.register).toBeCloseTo(10 + 20);
    expect(s.fetch).toBeCloseTo(20);
    expect(s.fetch + s.apply + s.register).toBeCloseTo(100);
    expect(splitPull(0, 100 * ms, [], [[1, 2]])).toBeUndefined();
    const p = new ProgressIntervals();
    for (const [status, at] of [
      ['Downloading', 1],
      ['Extracting', 5],
      ['Extracting', 6],
      ['Pull complete', 9],
    ] as const)
      p.onMessage({ id: 'l1', status }, at);
    p.onMessage({ status: 'Digest: sha256:x' }, 10);
    expect(p.apply).toEqual([[5, 9]]);
    const spans = [
      { name: 'graphdriver.overlay2.applyDiff', startNs: 1, endNs: 2 },
      { name: 'graph.layers.register', startNs: 0, endNs: 3 },
      { name: 'registry.layer.fetch', startNs: 0, endNs: 1 },
      { name: 'graph.content.ingest.commit', startNs: 0, endNs: 1 },
    ] as SpanRecord[];
    expect(berthPullIntervals(spans)).toEqual({ apply: [[1, 2]], register: [[0, 3]] });
  });
});

describe('workload suite: HTTP client on 127.0.0.1', () => {
  let server: http.Server;
  let port = 0;
  let connections = 0;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      res.writeHead(req.url === '/' ? 200 : 404, { 'Content-Length': '2' });
      res.end('ok');
    });
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('keeps one connection alive or opens one per request, and times each request', async () => {
    const before = connections;
    const kept = await requestLoop(port, 30, 'keep-alive');
    expect(kept).toHaveLength(30);
    expect(connections - before).toBe(1);
    const fresh = await requestLoop(port, 10, 'new-connection');
    expect(fresh).toHaveLength(10);
    expect(connections - before).toBe(11);
    expect([...kept, ...fresh].every((x) => x > 0)).toBe(true);
    await expect(requestLoop(port, 0, 'keep-alive')).rejects.toThrow(/request count 0/);
  });

  it('polls until a port answers, and fails naming the port when none does', async () => {
    expect(await pollReady(port)).toBe(1);
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const dead = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(pollReady(dead, 300)).rejects.toThrow(
      new RegExp(`service on 127\\.0\\.0\\.1:${dead}: not answering after 0\\.3 s`),
    );
    await expect(getOnce(70000)).rejects.toThrow(/http port 70000/);
  });
});

needs(root()).describe('workload suite: real runs (root)', () => {
  let host: HostInfo;
  beforeAll(async () => {
    host = await collectHostInfo({ dataRoot: os.tmpdir(), peers: [] });
  });

  // the "no rule left" checks read iptables-save
  const iptables = needs(tool('iptables-save', 'iptables'));

  /** Runs `suite` on the tiny settings for `targets`; the test fails naming its progress and warnings if it failed. */
  async function runValid(suite: RegisteredSuite, targets: readonly string[], dataRoot: string) {
    const lines: string[] = [];
    const { document, failed } = await runBenchmarks({
      suites: [suite],
      settings: tiny,
      seed: 5,
      dataRoot,
      targets,
      argv: ['--test'],
      progress: (l) => lines.push(l),
      hostInfo: async () => host,
    });
    expect(failed, [...lines, ...document.warnings].join('\n')).toBe(false);
    expect(() => validateResult(document)).not.toThrow();
    return document;
  }

  iptables.it(
    'berth: every case end to end into a schema-valid document with goals and derived cases, leaving nothing',
    async () => {
      const dataRoot = mkdtempSync(join(os.tmpdir(), `berth-workload-suite-${process.pid}-`));
      const children = childPids();
      try {
        const document = await runValid(tinySuite(tinyOptions), ['berth'], dataRoot);
        const label = (c: { case: string; parameters: Record<string, unknown> }) =>
          `${c.case}/${String(c.parameters.level ?? c.parameters.mode ?? c.parameters.containers ?? '')}${c.parameters.part === undefined ? '' : `/${String(c.parameters.part)}`}`;
        expect(document.cases.map(label)).toEqual([
          'service-ready/api',
          'service-ready/cli',
          'service-requests/keep-alive',
          'service-requests/new-connection',
          'cold-start/api',
          'restart-on-failure/api',
          'daemon-restart/0',
          'daemon-restart/2',
          'service-request-latency/keep-alive',
          'service-request-latency/new-connection',
          'cold-start-split/api/fetch',
          'cold-start-split/api/apply',
          'cold-start-split/api/register',
          'cold-start-split/api/create',
          'cold-start-split/api/start',
          'cold-start-split/api/first-output',
          'cold-start-pull-share/api',
        ]);
        const ready = document.cases.filter((c) => c.case === 'service-ready');
        for (const c of ready) {
          expect(c.samples).toHaveLength(2);
          expect(c.notes.some((n) => /^Goal: ready time <= 0\.2x docker's: not measured/.test(n))).toBe(true);
        }
        const latency = document.cases.filter((c) => c.case === 'service-request-latency');
        for (const c of latency) {
          expect(c.samples).toHaveLength(40);
          expect(c.stats.p99).toBeGreaterThanOrEqual(c.stats.p50);
        }
        const cold = document.cases.find((c) => c.case === 'cold-start')!;
        expect(cold.phases!.map((p) => p.name)).toEqual(
          expect.arrayContaining(['client.pull', 'client.create', 'client.start', 'client.first-output']),
        );
        expect(cold.phases!.some((p) => p.module === 'daemon' || p.module.startsWith('jobs'))).toBe(true);
        const split = document.cases.filter((c) => c.case === 'cold-start-split');
        expect(split.map((c) => c.samples.length)).toEqual([2, 2, 2, 2, 2, 2]);
        // the parts of each sample add up to it (the cold start's wall time, measured around them)
        for (let i = 0; i < 2; i++) {
          const sum = split.reduce((a, c) => a + c.samples[i]!, 0);
          expect(sum).toBeLessThanOrEqual(cold.samples[i]! + 0.5);
          expect(sum).toBeGreaterThan(cold.samples[i]! * 0.8);
        }
        const restart = document.cases.find((c) => c.case === 'restart-on-failure')!;
        expect(restart.stats.p50).toBeGreaterThanOrEqual(50);
        const daemon = document.cases.filter((c) => c.case === 'daemon-restart');
        for (const c of daemon)
          expect(c.phases!.map((p) => p.name)).toEqual(
            expect.arrayContaining(['client.stop', 'client.start', 'client.list']),
          );
        // only the corpus cache stays, for the next run
        expect(readdirSync(dataRoot)).toEqual(['berth-bench-cache']);
      } finally {
        rmSync(dataRoot, { recursive: true, force: true });
      }
      expect(mountsContaining(dataRoot)).toEqual([]);
      expect(await leftoverLinks()).toEqual([]);
      expect(await leftoverNetns()).toEqual([]);
      expect(existsSync(`/sys/class/net/${WORKLOAD_BRIDGE}`)).toBe(false);
      expect(iptablesRulesNaming(WORKLOAD_BRIDGE)).toEqual([]);
      expect(childPids()).toEqual(children);
    },
    900_000,
  );

  // the rules berthd holds are read with iptables-save: without it the checks would see nothing either way
  iptables.it(
    'berth: a run interrupted while berthd holds a container with a published port stops it and leaves nothing',
    async () => {
      const dataRoot = mkdtempSync(join(os.tmpdir(), `berth-workload-interrupt-${process.pid}-`));
      const children = childPids();
      const lines: string[] = [];
      const interrupt = new AbortController();
      let held: { rules: string[]; dnat: string[]; prefix: string; pgid: number } | undefined;
      // the interrupt comes as the CLI's SIGINT handler sends it, in the first sample of a case whose service
      // container runs with 8080 published on 127.0.0.1
      const suite: RegisteredSuite = {
        name: 'workload',
        description: workloadSuite.description,
        load: async () => ({
          ...workloadSuite,
          cases: (ctx) =>
            workloadCases(ctx, tinyOptions).map((c) =>
              c.kind === 'macro' && c.case === 'service-requests' && c.parameters.mode === 'keep-alive'
                ? {
                    ...c,
                    sample: (sctx, index) => {
                      if (held === undefined) {
                        const addr = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', WORKLOAD_BRIDGE], {
                          encoding: 'utf8',
                        });
                        const prefix = /inet (\d+\.\d+\.\d+\.)\d+\//.exec(addr)![1]!;
                        const berthd = processesNaming(dataRoot).find((pid) =>
                          readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--exec-root'),
                        )!;
                        held = {
                          rules: iptablesRulesNaming(WORKLOAD_BRIDGE),
                          dnat: iptablesRulesNaming(`--to-destination ${prefix}`),
                          prefix,
                          pgid: processGroup(berthd),
                        };
                        interrupt.abort(new Error('interrupted by SIGINT'));
                      }
                      return c.sample(sctx, index);
                    },
                  }
                : c,
            ),
        }),
      };
      try {
        const { document, failed } = await runBenchmarks({
          ctx: withSignal(background(), interrupt.signal),
          suites: [suite],
          settings: tiny,
          seed: 5,
          dataRoot,
          targets: ['berth'],
          argv: ['--test'],
          progress: (l) => lines.push(l),
          hostInfo: async () => host,
        });
        expect(failed).toBe(true);
        // the daemon held the published port (a DNAT rule to its bridge's subnet) and rules for its bridge
        expect(held!.dnat.length, JSON.stringify(held)).toBeGreaterThan(0);
        expect(held!.rules.length).toBeGreaterThan(0);
        // a Ctrl-C at a terminal goes to the foreground process group: berthd is not in the bench's
        expect(held!.pgid).not.toBe(processGroup(process.pid));
        const reason = document.suites[0]!.reason!;
        expect(reason).toContain('cancelled (interrupted by SIGINT)');
        // every clean-up ran to its end (a teardown that failed or found leftovers is in the reason)
        expect(reason, lines.join('\n')).not.toContain('teardown');
        // only the cases before the interrupt have results; those after it were not set up (no corpus images built)
        expect(new Set(document.cases.map((c) => c.case))).toEqual(new Set(['service-ready']));
        expect(readdirSync(dataRoot)).toEqual([]);
      } finally {
        rmSync(dataRoot, { recursive: true, force: true });
      }
      expect(iptablesRulesNaming(WORKLOAD_BRIDGE)).toEqual([]);
      expect(iptablesRulesNaming(`--to-destination ${held!.prefix}`)).toEqual([]);
      expect(existsSync(`/sys/class/net/${WORKLOAD_BRIDGE}`)).toBe(false);
      expect(mountsContaining(dataRoot)).toEqual([]);
      expect(processesNaming(dataRoot)).toEqual([]);
      expect(await leftoverLinks()).toEqual([]);
      expect(await leftoverNetns()).toEqual([]);
      expect(childPids()).toEqual(children);
    },
    600_000,
  );

  needs(dockerMissing(), tool('iptables-save', 'iptables')).it(
    'docker: the cases against a private dockerd, its restart with containers recorded, ready-time goal noted on berth, leaving no daemon, bridge or mount',
    async () => {
      const dataRoot = mkdtempSync(join(os.tmpdir(), `berth-workload-docker-${process.pid}-`));
      const etcDocker = folderState();
      const children = childPids();
      try {
        const document = await runValid(
          tinySuite({
            requests: 10,
            requestModes: ['keep-alive', 'new-connection'],
            coldImages: ['tiny'],
            restartContainers: [2],
          }),
          ['berth', 'docker'],
          dataRoot,
        );
        const docker = document.cases.filter((c) => c.target === 'docker');
        expect(docker.map((c) => c.case)).toEqual(
          expect.arrayContaining([
            'service-ready',
            'service-requests',
            'cold-start',
            'restart-on-failure',
            'daemon-restart',
            'service-request-latency',
            'cold-start-split',
            'cold-start-pull-share',
          ]),
        );
        // dockerd restarted on its data root with 2 containers recorded, in the group of berthd's restart
        const restart = document.cases.filter((c) => c.case === 'daemon-restart');
        expect(restart.map((c) => `${c.target}/${c.parameters.containers}/${c.samples.length}`)).toEqual([
          'berth/2/2',
          'docker/2/2',
        ]);
        expect(restart[1]!.phases!.map((p) => p.name)).toEqual(
          expect.arrayContaining(['client.stop', 'client.start', 'client.list']),
        );
        for (const c of document.cases.filter((x) => x.case === 'service-ready' && x.target === 'berth')) {
          expect(
            c.notes.some((n) =>
              /^Goal: ready time <= 0\.2x docker's \((api|cli) level\): (met|not met) \(median [\d.]+ ms vs docker [\d.]+ ms, ratio [\d.]+\)\.$/.test(
                n,
              ),
            ),
          ).toBe(true);
        }
        expect(readdirSync(dataRoot)).toEqual(['berth-bench-cache']);
      } finally {
        rmSync(dataRoot, { recursive: true, force: true });
      }
      expect(mountsContaining(dataRoot)).toEqual([]);
      expect(existsSync(`/sys/class/net/${DOCKER_BRIDGE}`)).toBe(false);
      expect(existsSync(`/sys/class/net/${WORKLOAD_BRIDGE}`)).toBe(false);
      expect(iptablesRulesNaming(WORKLOAD_BRIDGE)).toEqual([]);
      expect(folderState()).toEqual(etcDocker);
      expect(await leftoverLinks()).toEqual([]);
      expect(await leftoverNetns()).toEqual([]);
      expect(childPids()).toEqual(children);
    },
    900_000,
  );

  needs(podmanMissing()).it(
    'podman: services on its own netavark network, cold start, restart policy and service restart through a private podman service, leaving no process, mount, cgroup, folder, firewall rule, link or netns',
    async () => {
      const dataRoot = mkdtempSync(join(os.tmpdir(), `berth-workload-podman-${process.pid}-`));
      const libpodBefore = libpodCgroupDirs();
      const words = [dataRoot, `/run/bpm${process.pid}-`, `bpm${process.pid}`];
      const hostBefore = hostTraces(words);
      const served = netavarkMissing() === undefined;
      const children = childPids();
      try {
        const document = await runValid(
          tinySuite({
            requests: 10,
            requestModes: ['keep-alive', 'new-connection'],
            coldImages: ['tiny'],
            restartContainers: [2],
          }),
          ['podman'],
          dataRoot,
        );
        const s = (...xs: string[]) => (served ? xs : []);
        expect(
          document.cases.map((c) => `${c.target}/${c.case}/${c.parameters.level ?? c.parameters.mode ?? ''}`).sort(),
        ).toEqual(
          [
            ...s(
              'podman/service-ready/api',
              'podman/service-ready/cli',
              'podman/service-requests/keep-alive',
              'podman/service-requests/new-connection',
              'podman/service-request-latency/keep-alive',
              'podman/service-request-latency/new-connection',
            ),
            'podman/cold-start/api',
            'podman/restart-on-failure/api',
            'podman/daemon-restart/',
            'podman/cold-start-split/api',
            'podman/cold-start-split/api',
            'podman/cold-start-split/api',
            'podman/cold-start-split/api',
            'podman/cold-start-pull-share/api',
          ].sort(),
        );
        expect(document.warnings.some((w) => w.includes(PODMAN_SERVICES_LEFT_OUT))).toBe(!served);
        expect(readdirSync(dataRoot)).toEqual(['berth-bench-cache']);
      } finally {
        rmSync(dataRoot, { recursive: true, force: true });
      }
      expect(mountsContaining(dataRoot)).toEqual([]);
      expect(processesNaming(dataRoot)).toEqual([]);
      expect(readdirSync('/run').filter((n) => n.startsWith(`bpm${process.pid}-`))).toEqual([]);
      expect(libpodCgroupDirs()).toEqual(libpodBefore);
      // this process's NETAVARK lines as they were; the rest as before, another podman network's changes left out
      const traces = comparableHostTraces(hostBefore, hostTraces(words));
      expect(traces.is).toEqual(traces.was);
      expect(traces.after).toEqual(traces.before);
      expect(childPids()).toEqual(children);
    },
    900_000,
  );
});
