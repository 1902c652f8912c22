// Tests of the network suite: its case list and derived goals as data, the iperf3
// parser, and (as root) a run end to end through runBenchmarks with tiny sample
// counts that yields schema-valid cases and leaves no link, namespace, iptables
// rule or process behind.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderState } from '../../testkit/dockerd.js';
import { collectHostInfo } from '../host.js';
import { profiles, type ProfileSettings } from '../profiles.js';
import type { HostInfo } from '../results/document.js';
import { validateResult } from '../results/validate.js';
import { runBenchmarks } from '../runner.js';
import type { MacroCase, MeasuredCase, SuiteContext } from '../suite.js';
import { registry } from './index.js';
import { DOCKER_QUICK_REASON, deriveNetwork, iperfAmount, networkSuite } from './network.js';
import { DOCKER_BENCH_BRIDGE, dockerUnavailable } from './network-docker.js';
import { publishCase, setupCase } from './network-setup.js';
import { iperfGbits, LoopbackEnv, sinkBytes, sinkGbits, throughputCase, TrafficEnv } from './network-traffic.js';
import {
  BENCH_BRIDGE,
  berthTaggedRules,
  leftoverLinks,
  leftoverNetns,
  NAME_PREFIX,
  NetworkWorld,
} from './network-world.js';
import { background } from '../../engine/trace/index.js';
import { LOCAL_MTU } from '../../engine/networkdriver/network-driver.js';
import { needs, root } from '../../testkit/needs.js';
import { processesNaming } from '../../testkit/processes.js';

const hasIperf = spawnSync('iperf3', ['--version'], { stdio: 'ignore' }).status === 0;

function suiteCtx(over: Partial<SuiteContext> = {}): SuiteContext {
  return {
    profile: 'quick',
    settings: profiles.quick,
    targets: ['berth'],
    dataRoot: os.tmpdir(),
    seed: 1,
    warn: () => undefined,
    ...over,
  };
}

/** Child processes of this process whose command line mentions iperf3 or the ping-pong scripts. */
function benchChildren(): string[] {
  const r = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return String(r.stdout)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /iperf3|nsenter|net\.createServer|net\.connect/.test(l));
}

describe('network suite (definition)', () => {
  it('is registered as built and loads this suite', async () => {
    const entry = registry.find((s) => s.name === 'network')!;
    expect(entry.load).toBeDefined();
    expect(await entry.load!()).toBe(networkSuite);
  });

  it('has setup cases per mode and concurrency, netlink vs ip for bridge, and traffic cases per path', () => {
    const cases = networkSuite.cases(suiteCtx({ profile: 'default', settings: profiles.default })) as MacroCase[];
    const setup = cases.filter((c) => c.case === 'setup-teardown');
    expect(setup.map((c) => `${c.parameters.mode}/${c.parameters.path}/${c.parameters.concurrency}`)).toEqual(
      [1, 2, 4].flatMap((n) =>
        [
          'none/driver',
          'host/driver',
          'bridge/driver',
          'bridge/netlink',
          'bridge/ip',
          ...(n === 1 ? ['bridge/ip-calls'] : []),
          'bridge/floor',
          'container/driver',
        ].map((m) => `${m}/${n}`),
      ),
    );
    for (const c of setup) {
      // the floor is a C program: no spans of berth's to make phases of
      expect(c.phases).toBe(c.parameters.path !== 'floor' ? true : undefined);
      expect(c.unit).toBe('ms');
    }
    // the driver path interleaves with the kernel floor; the bare plans (whose ip paths fork) among themselves
    const bridge2 = setup.filter((c) => c.parameters.mode === 'bridge' && c.parameters.concurrency === 2);
    const groupOf = (path: string) => bridge2.find((c) => c.parameters.path === path)?.group;
    expect(groupOf('floor')).toBe(groupOf('driver'));
    expect(groupOf('ip')).toBe(groupOf('netlink'));
    expect(groupOf('netlink')).not.toBe(groupOf('driver'));
    const paths = ['loopback', 'host-to-container', 'container-to-container', 'published-port'];
    expect(cases.filter((c) => c.case === 'tcp-latency').map((c) => c.parameters.path)).toEqual(paths);
    {
      // loopback at each MTU the containers use, berth's default network (link MTU 65520), then berth at
      // Ethernet's MTU on a second bridge, throughput only
      const all = cases.filter((c) => c.case === 'tcp-throughput');
      // with iperf3, berth's own tcp-sink runs beside it on two paths (the outside cross-check)
      const tput = hasIperf ? all.filter((c) => c.parameters.tool === 'iperf3') : all;
      if (hasIperf) {
        const twins = all.filter((c) => c.parameters.tool === 'tcp-sink');
        expect(twins.map((c) => `${c.target} ${c.parameters.path}@${c.parameters.mtu}`)).toEqual([
          `berth loopback@${LOCAL_MTU}`,
          `berth container-to-container@${LOCAL_MTU}`,
        ]);
        expect(twins.every((c) => c.group === 'tcp-throughput-crosscheck')).toBe(true);
      }
      expect(tput.map((c) => `${c.parameters.path}@${c.parameters.mtu}`)).toEqual([
        `loopback@${LOCAL_MTU}`,
        'loopback@1500',
        ...paths.slice(1).map((p) => `${p}@${LOCAL_MTU}`),
        ...paths.slice(1).map((p) => `${p}@1500`),
      ]);
      expect(tput[1]!.method).toContain('lo at MTU 1500 in a network namespace of the bench');
      expect(
        tput.every(
          (c) =>
            c.parameters.transfer === '1G' &&
            c.group === 'tcp-throughput' &&
            c.parameters.tool === (hasIperf ? 'iperf3' : 'tcp-sink'),
        ),
      ).toBe(true);
      expect(tput.at(-1)!.method).toContain('link MTU 1500');
    }
  });

  it('fits the quick profile: concurrency 1 and 4 only, iperf3 sends a byte count', () => {
    expect(iperfAmount(suiteCtx({ profile: 'full', settings: profiles.full }))).toEqual({ seconds: 3 });
    const cases = networkSuite.cases(suiteCtx()) as MacroCase[];
    expect([...new Set(cases.filter((c) => c.case === 'setup-teardown').map((c) => c.parameters.concurrency))]).toEqual(
      [1, 4],
    );
    expect(cases.find((c) => c.case === 'tcp-throughput')!.method).toContain(
      hasIperf ? '-n 1G -J' : `PORT ${1 << 30}\``,
    );
  });

  it('leaves docker out of the quick profile with a warning', () => {
    const warnings: string[] = [];
    const cases = networkSuite.cases(suiteCtx({ targets: ['docker'], warn: (m) => warnings.push(m) }));
    expect(cases).toEqual([]);
    // Without iperf3 the suite also (rightly) warns that it measures with tcp-sink.
    expect(warnings.filter((w) => /docker/.test(w))).toEqual([DOCKER_QUICK_REASON]);
  });

  needs(dockerUnavailable()).it('measures docker traffic (not setup) in the default profile, beside berth', () => {
    const cases = networkSuite.cases(
      suiteCtx({ profile: 'default', settings: profiles.default, targets: ['berth', 'docker'] }),
    ) as MacroCase[];
    const docker = cases.filter((c) => c.target === 'docker');
    expect(docker.map((c) => `${c.case} ${c.parameters.path}`)).toEqual(
      ['tcp-throughput', 'tcp-latency'].flatMap((k) =>
        ['host-to-container', 'container-to-container', 'published-port'].map((p) => `${k} ${p}`),
      ),
    );
    // docker's paths interleave with berth's loopback reference
    for (const c of docker)
      expect(cases.some((b) => b.target === 'berth' && b.group === c.group && b.parameters.path === 'loopback')).toBe(
        true,
      );
  });

  it('derives throughput percent at equal MTU, latency overhead, ip/netlink and floor ratios pairwise, with goal notes', () => {
    const info = networkSuite.cases(suiteCtx())[0]!;
    const m = (c: string, parameters: Record<string, string | number>, samples: number[]): MeasuredCase => ({
      info: { ...info, case: c, parameters },
      samples,
      rounds: [samples],
    });
    const derived = deriveNetwork([
      m('tcp-throughput', { path: 'loopback', mtu: LOCAL_MTU }, [40, 40, 40]),
      m('tcp-throughput', { path: 'loopback', mtu: 1500 }, [30, 40]),
      m('tcp-throughput', { path: 'host-to-container', mtu: LOCAL_MTU }, [36, 36]),
      m('tcp-throughput', { path: 'published-port', mtu: LOCAL_MTU }, [20, 20, 20]),
      m('tcp-throughput', { path: 'host-to-container', mtu: 1500 }, [24, 24]),
      {
        ...m('tcp-throughput', { path: 'published-port' }, [30, 30]),
        info: { ...info, case: 'tcp-throughput', target: 'docker', parameters: { path: 'published-port', mtu: 1500 } },
      },
      m('tcp-latency', { path: 'loopback' }, [10, 12]),
      m('tcp-latency', { path: 'container-to-container' }, [15, 20]),
      m('setup-teardown', { mode: 'bridge', path: 'driver', concurrency: 1 }, [2, 2.5, 2.2]),
      m('setup-teardown', { mode: 'bridge', path: 'netlink', concurrency: 1 }, [1, 2]),
      m('setup-teardown', { mode: 'bridge', path: 'ip', concurrency: 1 }, [7, 8]),
      m('setup-teardown', { mode: 'bridge', path: 'ip-calls', concurrency: 1 }, [30, 40]),
      m('setup-teardown', { mode: 'bridge', path: 'floor', concurrency: 1 }, [2, 2, 1]),
      m('setup-teardown', { mode: 'bridge', path: 'driver', concurrency: 4 }, [6, 5]),
      m('setup-teardown', { mode: 'bridge', path: 'floor', concurrency: 4 }, [2, 2]),
    ]);
    const by = (c: string, p: string | number, target = 'berth') =>
      derived.find((d) => d.case === c && d.target === target && Object.values(d.parameters).includes(p))!;
    const ratio1500 = derived.find(
      (d) => d.case === 'tcp-throughput-vs-loopback' && d.parameters.mtu === 1500 && d.target === 'berth',
    )!;
    // each path against loopback at its own MTU
    expect(ratio1500.samples).toEqual([80, 60]);
    expect(ratio1500.notes![0]).toMatch(
      /^misses the goal at MTU 1500: median 70\.0% of loopback at MTU 1500 \(2 pairs, range 60\.0–80\.0%; goal ≥ 90%\)/,
    );
    expect(ratio1500.derived.from[1]!.parameters).toMatchObject({ path: 'loopback', mtu: 1500 });
    const h2c = derived.find(
      (d) => d.case === 'tcp-throughput-vs-loopback' && d.parameters.mtu === LOCAL_MTU && d.target === 'berth',
    )!;
    expect(h2c.samples).toEqual([90, 90]);
    expect(h2c.notes![0]).toMatch(new RegExp(`^meets the goal at MTU ${LOCAL_MTU}: median 90\\.0% of loopback`));
    expect(h2c.derived).toMatchObject({ how: 'ratio', pairing: 'interleaved' });
    expect(by('tcp-throughput-vs-loopback', 'published-port').notes![0]).toMatch(
      /^misses the goal at MTU \d+: median 50\.0%/,
    );
    expect(by('tcp-throughput-vs-loopback', 'published-port', 'docker').samples).toEqual([100, 75]);
    expect(by('tcp-throughput-vs-loopback', 'published-port', 'docker').notes![0]).toMatch(
      /^docker at link MTU 1500: median 87\.5% of loopback at MTU 1500/,
    );
    expect(by('tcp-latency-overhead', 'container-to-container').samples).toEqual([5, 8]);
    const ratio = by('setup-teardown-ip-vs-netlink', 1);
    expect(ratio.samples).toEqual([7, 4]);
    expect(ratio.notes![1]).toBe('With one `ip` process per op it took a median 25.00× (p50 35.0 ms).');
    expect(ratio.notes![2]).toMatch(/^meets the goal: .* concurrency 1, p50 2\.20 ms over 3 samples .*goal ≤ 2\.5 ms/);
    const floor1 = by('setup-teardown-vs-floor', 1);
    expect(floor1.samples).toEqual([1, 1.25, 2.2]);
    expect(floor1.notes![0]).toMatch(/^meets the goal: berth took a median 1\.25× the kernel floor over 3 pairs/);
    const floor4 = by('setup-teardown-vs-floor', 4);
    expect(floor4.samples).toEqual([3, 2.5]);
    expect(floor4.notes![0]).toMatch(/^misses the goal: berth took a median 2\.75×.*goal ≤ 1\.5×/);
    expect(floor4.derived.from.map((f) => f.parameters.path)).toEqual(['driver', 'floor']);
    expect(derived.every((d) => d.unit === 'percent' || d.unit === 'us' || d.unit === 'ratio')).toBe(true);
  });

  it('reads the receiver rate from iperf3 -J and names the path on bad output', () => {
    expect(iperfGbits(JSON.stringify({ end: { sum_received: { bits_per_second: 3.2e10 } } }), 'x')).toBe(32);
    expect(() =>
      iperfGbits(JSON.stringify({ error: 'unable to connect to server' }), 'network throughput loopback'),
    ).toThrow(/^network throughput loopback: iperf3: unable to connect/);
    expect(() => iperfGbits('not json', 'p')).toThrow(/^p: iperf3 -J output/);
    expect(() => iperfGbits('{}', 'p')).toThrow(/no end\.sum_received/);
  });
});

needs(root()).describe('network suite (end to end, kernel)', () => {
  let host: HostInfo;
  let dataRoot: string;
  const before = { links: [] as string[], netns: [] as string[] };

  beforeAll(async () => {
    dataRoot = await mkdtemp(join(os.tmpdir(), 'berth-netbench-test-'));
    host = await collectHostInfo({ dataRoot, peers: [] });
    before.links = await leftoverLinks();
    before.netns = await leftoverNetns();
    expect((await berthTaggedRules()).filter((r) => r.includes(NAME_PREFIX))).toEqual([]);
  });

  afterAll(async () => {
    await rm(dataRoot, { recursive: true, force: true });
  });

  it(
    'runs every case through runBenchmarks into a schema-valid document and cleans up',
    { timeout: 600_000 },
    async () => {
      const q = profiles.quick;
      const settings: ProfileSettings = { ...q, macro: { warmup: 0, minSamples: 2, maxSamples: 2, maxTimeMs: 1 } };
      const lines: string[] = [];
      const { document, failed } = await runBenchmarks({
        suites: [{ name: 'network', description: networkSuite.description, load: async () => networkSuite }],
        settings,
        targets: ['berth'],
        seed: 3,
        dataRoot,
        argv: ['--test'],
        progress: (l) => lines.push(l),
        hostInfo: async () => host,
      });
      expect(document.suites[0], lines.join('\n')).toMatchObject({ name: 'network', status: 'ran' });
      expect(failed).toBe(false);
      validateResult(document);

      const setup = document.cases.filter((c) => c.case === 'setup-teardown');
      expect(setup).toHaveLength(15);
      for (const c of setup) {
        expect(c.samples).toHaveLength(2);
        expect(c.samples.every((x) => x > 0)).toBe(true);
      }
      const bridge = setup.find(
        (c) => c.parameters.mode === 'bridge' && c.parameters.path === 'driver' && c.parameters.concurrency === 1,
      )!;
      const phaseNames = bridge.phases!.map((p) => p.name);
      for (const step of [
        'networkdriver.allocateInterface',
        'networkdriver.releaseInterface',
        'networkdriver.veth.create',
        'networkdriver.addr.add',
      ]) {
        expect(phaseNames).toContain(step);
      }
      const ip = setup.find((c) => c.parameters.path === 'ip' && c.parameters.concurrency === 1)!;
      expect(ip.phases!.find((p) => p.name === 'networkdriver.ip.batch')!.callsPerOp).toBe(3);
      // one ip process per op: 3 on the host, 4 in the namespace, 1 delete
      const calls = setup.find((c) => c.parameters.path === 'ip-calls')!;
      expect(calls.phases!.find((p) => p.name === 'networkdriver.ip.batch')!.callsPerOp).toBe(8);

      const latency = document.cases.filter((c) => c.case === 'tcp-latency');
      expect(latency.map((c) => c.parameters.path)).toEqual([
        'loopback',
        'host-to-container',
        'container-to-container',
        'published-port',
      ]);
      for (const c of latency) expect(c.stats.p50).toBeGreaterThan(0);
      {
        const all = document.cases.filter((c) => c.case === 'tcp-throughput');
        // with iperf3, berth's tcp-sink also measures two paths (the outside cross-check)
        const tput = all.filter((c) => c.parameters.tool === (hasIperf ? 'iperf3' : 'tcp-sink'));
        expect(tput).toHaveLength(8);
        expect(all).toHaveLength(hasIperf ? 10 : 8);
        for (const c of all) expect(c.stats.p50).toBeGreaterThan(0);
        const ratios = document.cases.filter(
          (c) => c.case === 'tcp-throughput-vs-loopback' && c.parameters.tool === tput[0]!.parameters.tool,
        );
        expect(ratios).toHaveLength(6);
        for (const r of ratios)
          expect(r.notes[0]).toMatch(new RegExp(`^(meets|misses) the goal at MTU ${r.parameters.mtu}`));
        if (hasIperf) {
          const agreement = document.cases.filter((c) => c.case === 'tcp-throughput-crosscheck');
          expect(agreement.map((c) => c.parameters.path)).toEqual(['loopback', 'container-to-container']);
          for (const a of agreement)
            expect(a.notes[0]).toMatch(/^(Agrees within|DISAGREES by more than) 10 %: iperf3 median /);
        }
      }
      expect(document.cases.filter((c) => c.case === 'setup-teardown-ip-vs-netlink')).toHaveLength(2);
      const floors = document.cases.filter((c) => c.case === 'setup-teardown-vs-floor');
      expect(floors.map((c) => c.parameters.concurrency)).toEqual([1, 4]);
      for (const c of floors) expect(c.notes[0]).toMatch(/^(meets|misses) the goal: berth took a median/);

      // nothing left behind
      expect(await leftoverLinks()).toEqual(before.links);
      expect(await leftoverNetns()).toEqual(before.netns);
      expect((await berthTaggedRules()).filter((r) => r.includes(NAME_PREFIX))).toEqual([]);
      expect(benchChildren()).toEqual([]);
      expect((await readdir(dataRoot)).filter((n) => n.startsWith('berth-netbench-'))).toEqual([]);
    },
  );

  it(
    "measures throughput with berth's tcp-source and tcp-sink (used without iperf3) and leaves nothing",
    { timeout: 180_000 },
    async () => {
      const ctx = background();
      const env = new TrafficEnv(new NetworkWorld(dataRoot));
      const loopback = new LoopbackEnv(LOCAL_MTU);
      const got: Record<string, number> = {};
      for (const path of ['loopback', 'host-to-container', 'container-to-container', 'published-port'] as const) {
        const c = throughputCase(path === 'loopback' ? loopback : env, path, { bytes: '64M' }, 'tcp-sink');
        expect(c.parameters.tool).toBe('tcp-sink');
        await c.setup!(ctx);
        try {
          for (let i = 0; i < 2; i++) {
            await c.beforeSample!(ctx, i);
            got[path] = Number(await c.sample(ctx, i));
            await c.afterSample!(ctx, i);
          }
        } finally {
          await c.teardown!(ctx);
        }
      }
      for (const [path, gbits] of Object.entries(got)) expect(gbits, path).toBeGreaterThan(0.1);
      expect(await leftoverLinks()).toEqual(before.links);
      expect(await leftoverNetns()).toEqual(before.netns);
      expect(benchChildren()).toEqual([]);
      expect(spawnSync('ps', ['-o', 'args=', '--ppid', String(process.pid)], { encoding: 'utf8' }).stdout).not.toMatch(
        /tcp-sink|tcp-source/,
      );
    },
  );

  it('reads the rate from tcp-sink and sizes its transfer', () => {
    expect(sinkGbits('1000000000 0.500000', 'x')).toBe(16);
    expect(() => sinkGbits('nothing', 'network throughput loopback')).toThrow(
      /^network throughput loopback: tcp-sink printed "nothing"/,
    );
    expect(sinkBytes({ bytes: '1G' })).toBe(1 << 30);
    expect(sinkBytes({ bytes: '256M' })).toBe(256 << 20);
    expect(sinkBytes({ seconds: 2 })).toBe(7.5e9);
    expect(() => sinkBytes({ bytes: '1T' })).toThrow(/not <n>/);
  });

  it('cleans up a setup sample that failed half-way (its namespace vanished)', { timeout: 60_000 }, async () => {
    const ctx = background();
    for (const path of ['driver', 'ip'] as const) {
      const world = new NetworkWorld(dataRoot);
      const c = setupCase(world, 'bridge', path, 2);
      await c.setup!(ctx);
      try {
        await c.beforeSample!(ctx, 0);
        // the second container's namespace disappears before its interface is made
        await execFileQuiet('ip', [
          'netns',
          'del',
          (await leftoverNetns())
            .filter((n) => !before.netns.includes(n))
            .sort()
            .at(-1)!,
        ]);
        await expect(Promise.resolve(c.sample(ctx, 0))).rejects.toThrow(/netns|ip -batch/);
        await c.afterSample!(ctx, 0);
      } finally {
        await c.teardown!(ctx);
      }
      expect(await leftoverLinks(), path).toEqual(before.links);
      expect(await leftoverNetns(), path).toEqual(before.netns);
    }
    expect((await readdir(dataRoot)).filter((n) => n.startsWith('berth-netbench-'))).toEqual([]);
  });

  it(
    "waits after a bridge or publish sample until the kernel removed the sample's host veths",
    { timeout: 60_000 },
    async () => {
      const ctx = background();
      const world = new NetworkWorld(dataRoot);
      // each case's sample releases with netnsGone and afterSample deletes the namespaces: the kernel removes the
      // veths asynchronously, so without the wait some are still on the bridge when afterSample returns
      const cases = [setupCase(world, 'bridge', 'driver', 4), publishCase(world, 'proxy', 4)];
      for (const c of cases) {
        await c.setup!(ctx);
        try {
          for (let i = 0; i < 2; i++) {
            await c.beforeSample?.(ctx, i);
            await c.sample(ctx, i);
            await c.afterSample!(ctx, i);
            expect(bridgePorts(BENCH_BRIDGE), `${c.case} ${JSON.stringify(c.parameters)}`).toEqual([]);
          }
        } finally {
          await c.teardown!(ctx);
        }
      }
      expect(await leftoverLinks()).toEqual(before.links);
      expect(await leftoverNetns()).toEqual(before.netns);
    },
  );

  needs(dockerUnavailable()).it(
    "measures docker's bridge through a private dockerd and removes all of it",
    { timeout: 240_000 },
    async () => {
      const etcDocker = folderState();
      const settings: ProfileSettings = {
        ...profiles.default,
        macro: { warmup: 0, minSamples: 1, maxSamples: 1, maxTimeMs: 1 },
      };
      const lines: string[] = [];
      const { document, failed } = await runBenchmarks({
        suites: [{ name: 'network', description: networkSuite.description, load: async () => networkSuite }],
        settings,
        targets: ['docker'],
        seed: 3,
        dataRoot,
        argv: ['--test'],
        progress: (l) => lines.push(l),
        hostInfo: async () => host,
      });
      expect(document.suites[0], lines.join('\n')).toMatchObject({ name: 'network', status: 'ran' });
      expect(failed).toBe(false);
      validateResult(document);
      expect(document.cases.map((c) => `${c.target} ${c.case} ${c.parameters.path}`).sort()).toEqual(
        ['tcp-throughput', 'tcp-latency']
          .flatMap((k) =>
            ['host-to-container', 'container-to-container', 'published-port'].map((p) => `docker ${k} ${p}`),
          )
          .sort(),
      );
      for (const c of document.cases) expect(c.stats.p50).toBeGreaterThan(0);
      expect(await leftoverLinks()).toEqual(before.links);
      expect(await hostLinkNames()).not.toContain(DOCKER_BENCH_BRIDGE);
      expect(folderState()).toEqual(etcDocker);
      expect(benchChildren()).toEqual([]);
      // dockerd, containerd and the shims name the run's directory, which is under this test's own dataRoot
      expect(processesNaming(dataRoot)).toEqual([]);
      expect((await readFile('/proc/self/mountinfo', 'utf8')).includes(dataRoot)).toBe(false);
      expect((await readdir(dataRoot)).filter((n) => n.startsWith('berth-netbench-'))).toEqual([]);
    },
  );
});

async function hostLinkNames(): Promise<string[]> {
  const r = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  return String(r.stdout)
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '');
}

async function execFileQuiet(cmd: string, args: string[]): Promise<void> {
  spawnSync(cmd, args, { stdio: 'ignore' });
}

/** Links attached to a bridge (none when it does not exist). */
function bridgePorts(bridge: string): string[] {
  const r = spawnSync('ip', ['-o', 'link', 'show', 'master', bridge], { encoding: 'utf8' });
  return String(r.stdout)
    .split('\n')
    .filter((l) => l.includes(': '))
    .map((l) => l.split(': ')[1]!.split('@')[0]!);
}
