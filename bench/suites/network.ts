// The `network` suite: what berth's networkdriver costs to set up and tear down
// per mode and concurrency (netlink vs `ip`, and the kernel floor of the same
// work), and what its bridge and published ports carry (TCP throughput and
// latency) next to loopback at the same MTU in the same run.
import { spawnSync } from 'node:child_process';
import { execa } from 'execa';
import { native } from '../../native/index.js';
import { scaled } from '../profiles.js';
import type { CaseDef, CaseInfo, DerivedCase, MeasuredCase, Suite, SuiteContext } from '../suite.js';
import { BRIDGE_GOAL_MS, CONCURRENCIES, FLOOR_GOAL_RATIO, setupCases, SUITE } from './network-setup.js';
import { DockerEnv, dockerUnavailable } from './network-docker.js';
import {
  latencyCase,
  LoopbackEnv,
  THROUGHPUT_GOAL_PERCENT,
  type IperfAmount,
  throughputCase,
  type ThroughputTool,
  TRAFFIC_PATHS,
  TrafficEnv,
  type TrafficTarget,
} from './network-traffic.js';
import { NetworkWorld } from './network-world.js';
import { ETHERNET_MTU } from '../../engine/networkdriver/host-routes.js';
import { LOCAL_MTU } from '../../engine/networkdriver/network-driver.js';
import { median } from '../stats.js';
import { deriveNetworkCrosschecks, networkCrosschecks } from './crosscheck-network.js';

/** Why the quick profile leaves Docker out (recorded as a run warning when docker is a target). */
export const DOCKER_QUICK_REASON =
  "target docker not measured in the quick profile: starting a private dockerd and interleaving its cases would not fit the profile's minute (run the default profile)";

async function has(cmd: string, args: string[]): Promise<boolean> {
  const r = await execa(cmd, args, { reject: false });
  return r.exitCode === 0;
}

/**
 * What one throughput sample sends, by profile. quick and default send 1 GiB;
 * smaller samples sat in TCP's ramp-up when measured (a lower loopback rate than
 * over 1 GiB) and biased the ratios to loopback. Ten interleaved paths of 1 s runs
 * would not fit the default profile's budget; full runs 3 s each.
 */
export function iperfAmount(ctx: SuiteContext): IperfAmount {
  return ctx.profile === 'full' ? { seconds: 3 } : { bytes: '1G' };
}

/** Concurrencies of the setup cases: quick leaves out 2 to fit its minute. */
export function setupConcurrencies(ctx: SuiteContext): readonly number[] {
  return ctx.profile === 'quick' ? [1, 4] : CONCURRENCIES;
}

/** Pairs sample i of a with sample i of b (up to the shorter); the cases interleaved, so neighbours in time pair up. */
function pairwise(a: readonly number[], b: readonly number[], f: (x: number, y: number) => number): number[] {
  const n = Math.min(a.length, b.length);
  return Array.from({ length: n }, (_, i) => f(a[i]!, b[i]!));
}

/**
 * Derived cases: each bridge path's throughput as a percent of loopback at the
 * same MTU and its added latency over loopback (pairwise), `ip` vs netlink setup
 * and berth's bridge setup vs the kernel floor per concurrency, with notes saying
 * whether the goals are met.
 */
export function deriveNetwork(measured: readonly MeasuredCase[]): DerivedCase[] {
  const find = (name: string, params: Record<string, unknown>, target = 'berth') =>
    measured.find(
      (m) =>
        m.info.case === name &&
        m.info.target === target &&
        Object.entries(params).every(([k, v]) => m.info.parameters[k] === v),
    );
  const derived: DerivedCase[] = [];
  const base = (
    c: string,
    target: string,
    parameters: CaseInfo['parameters'],
    unit: CaseInfo['unit'],
    direction: CaseInfo['direction'],
    method: string,
    notes: string[],
  ): CaseInfo => ({
    suite: SUITE,
    case: c,
    target,
    parameters,
    unit,
    direction,
    method,
    notes,
  });

  const loopL = find('tcp-latency', { path: 'loopback' });
  for (const t of measured) {
    const { case: name, target, parameters } = t.info;
    const path = parameters.path;
    if (name !== 'tcp-throughput' || path === 'loopback') continue;
    // the reference is loopback at the same MTU, measured with the same tool: a ratio across MTUs or tools compares
    // those, not the path
    const loopT = find('tcp-throughput', {
      path: 'loopback',
      mtu: parameters.mtu,
      ...(parameters.tool !== undefined ? { tool: parameters.tool } : {}),
    });
    if (loopT === undefined) continue;
    const mtu = Number(parameters.mtu);
    const samples = pairwise(t.samples, loopT.samples, (x, y) => (100 * x) / y);
    if (samples.length === 0) continue;
    const p50 = median(samples);
    const spread = `${samples.length} pairs, range ${Math.min(...samples).toFixed(1)}–${Math.max(...samples).toFixed(1)}%`;
    const note =
      target === 'berth'
        ? `${p50 >= THROUGHPUT_GOAL_PERCENT ? 'meets the goal' : 'misses the goal'} at MTU ${mtu}: median ${p50.toFixed(1)}% of loopback at MTU ${mtu} (${spread}; goal ≥ ${THROUGHPUT_GOAL_PERCENT}%).`
        : `${target} at link MTU ${mtu}: median ${p50.toFixed(1)}% of loopback at MTU ${mtu} (${spread}; berth's goal: ≥ ${THROUGHPUT_GOAL_PERCENT}%).`;
    derived.push({
      ...base(
        'tcp-throughput-vs-loopback',
        target,
        { path: String(path), mtu, ...(parameters.tool !== undefined ? { tool: parameters.tool } : {}) },
        'percent',
        'higher-is-better',
        `Derived: Gbit/s of path ${String(path)} (${target}, link MTU ${mtu}) as a percent of the loopback reference at the same MTU (lo set to ${mtu} in a namespace of the bench's own), pairwise (sample i of each, taken interleaved); the stats are those of these percentages.`,
        [note],
      ),
      samples,
      derived: { from: [t.info, loopT.info], how: 'ratio', pairing: 'interleaved' },
    });
  }
  for (const target of ['berth', 'docker']) {
    for (const path of TRAFFIC_PATHS) {
      if (path === 'loopback') continue;
      const l = find('tcp-latency', { path }, target);
      if (loopL !== undefined && l !== undefined) {
        const samples = pairwise(l.samples, loopL.samples, (x, y) => x - y);
        if (samples.length > 0) {
          derived.push({
            ...base(
              'tcp-latency-overhead',
              target,
              { path },
              'us',
              'lower-is-better',
              `Derived: mean round trip of path ${path} (${target}) minus that of loopback, pairwise (sample i of each, taken interleaved), in µs.`,
              [],
            ),
            samples,
            derived: { from: [l.info, loopL.info], how: 'difference', pairing: 'interleaved' },
          });
        }
      }
    }
  }

  for (const concurrency of CONCURRENCIES) {
    const nl = find('setup-teardown', { mode: 'bridge', path: 'netlink', concurrency });
    const ip = find('setup-teardown', { mode: 'bridge', path: 'ip', concurrency });
    const drv = find('setup-teardown', { mode: 'bridge', path: 'driver', concurrency });
    if (nl === undefined || ip === undefined) continue;
    const samples = pairwise(ip.samples, nl.samples, (x, y) => x / y);
    if (samples.length === 0) continue;
    const notes = [
      `The bare plan through \`ip -batch\` took a median ${median(samples).toFixed(2)}× the time of the same plan through netlink.`,
    ];
    const calls = find('setup-teardown', { mode: 'bridge', path: 'ip-calls', concurrency });
    if (calls !== undefined && calls.samples.length > 0) {
      notes.push(
        `With one \`ip\` process per op it took a median ${median(pairwise(calls.samples, nl.samples, (x, y) => x / y)).toFixed(2)}× (p50 ${median(calls.samples).toFixed(1)} ms).`,
      );
    }
    const goal = BRIDGE_GOAL_MS[concurrency];
    if (drv !== undefined && goal !== undefined && drv.samples.length > 0) {
      const p50 = median(drv.samples);
      notes.push(
        `${p50 <= goal ? 'meets the goal' : 'misses the goal'}: berth's bridge setup + teardown through the driver at concurrency ${concurrency}, p50 ${p50.toFixed(2)} ms over ${drv.samples.length} samples (range ${Math.min(...drv.samples).toFixed(2)}–${Math.max(...drv.samples).toFixed(2)} ms; goal ≤ ${goal} ms).`,
      );
    }
    derived.push({
      ...base(
        'setup-teardown-ip-vs-netlink',
        'berth',
        { mode: 'bridge', concurrency },
        'ratio',
        'higher-is-better',
        `Derived: time of the bare bridge interface plan through \`ip -batch\` divided by the same plan through berth's netlink path, pairwise (interleaved samples), at concurrency ${concurrency}.`,
        notes,
      ),
      samples,
      derived: { from: [ip.info, nl.info], how: 'ratio', pairing: 'interleaved' },
    });
  }
  derived.push(...deriveNetworkCrosschecks(measured));
  for (const concurrency of CONCURRENCIES) {
    const drv = find('setup-teardown', { mode: 'bridge', path: 'driver', concurrency });
    const floor = find('setup-teardown', { mode: 'bridge', path: 'floor', concurrency });
    if (drv === undefined || floor === undefined) continue;
    const samples = pairwise(drv.samples, floor.samples, (x, y) => x / y);
    if (samples.length === 0) continue;
    const ratio = median(samples);
    derived.push({
      ...base(
        'setup-teardown-vs-floor',
        'berth',
        { mode: 'bridge', concurrency },
        'ratio',
        'lower-is-better',
        `Derived: time of berth's bridge setup + teardown through the driver divided by the kernel floor of the same work (netns-floor: one netlink socket, no engine), pairwise (interleaved samples), at concurrency ${concurrency}.`,
        [
          `${ratio <= FLOOR_GOAL_RATIO ? 'meets the goal' : 'misses the goal'}: berth took a median ${ratio.toFixed(2)}× the kernel floor over ${samples.length} pairs (range ${Math.min(...samples).toFixed(2)}–${Math.max(...samples).toFixed(2)}×; berth p50 ${median(drv.samples).toFixed(2)} ms, floor p50 ${median(floor.samples).toFixed(2)} ms; goal ≤ ${FLOOR_GOAL_RATIO}×).`,
        ],
      ),
      samples,
      derived: { from: [drv.info, floor.info], how: 'ratio', pairing: 'interleaved' },
    });
  }
  return derived;
}

export const networkSuite: Suite = {
  name: SUITE,
  description:
    'networkdriver setup/teardown per mode and concurrency (netlink vs ip, vs the kernel floor), TCP throughput and latency into containers vs loopback at the same MTU',
  targets: ['berth', 'docker'],
  async requires() {
    if (process.getuid?.() !== 0) return 'needs root (network namespaces, veths, bridges)';
    try {
      native();
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
    if (!(await has('ip', ['-V']))) return 'iproute2 (ip) not installed';
    if (!(await has('nsenter', ['--version']))) return 'nsenter (util-linux) not installed';
    return undefined;
  },
  cases(ctx: SuiteContext): CaseDef[] {
    const cases: CaseDef[] = [];
    const tool: ThroughputTool = runsOk('iperf3', ['--version']) ? 'iperf3' : 'tcp-sink';
    if (tool !== 'iperf3')
      ctx.warn(
        "tcp-throughput measured with berth's static tcp-source/tcp-sink: iperf3 not installed (apt-get install iperf3), so no outside cross-check of it",
      );
    const roundTrips = scaled(ctx.settings, 2000, 200);
    const traffic: TrafficTarget[] = [];
    /** berth at Ethernet's MTU, as Docker configures its bridge: throughput only (latency does not depend on it). */
    let ethernet: TrafficTarget | undefined;
    /** The loopback reference at each MTU the containers use; the first one also serves latency. */
    const loopbacks: LoopbackEnv[] = [];
    if (ctx.targets.includes('berth')) {
      const world = new NetworkWorld(ctx.dataRoot);
      cases.push(...setupCases(world, setupConcurrencies(ctx)));
      traffic.push(new TrafficEnv(world));
      ethernet = new TrafficEnv(new NetworkWorld(ctx.dataRoot, { mtu: ETHERNET_MTU }), { mtu: ETHERNET_MTU });
      loopbacks.push(new LoopbackEnv(LOCAL_MTU), new LoopbackEnv(ETHERNET_MTU));
    }
    if (ctx.targets.includes('docker')) {
      const why = ctx.profile === 'quick' ? DOCKER_QUICK_REASON : dockerUnavailable();
      if (why === undefined) traffic.push(new DockerEnv(ctx.dataRoot));
      else ctx.warn(why.startsWith('target docker') ? why : `target docker not measured: ${why}`);
    }
    // every MTU a measured path uses has its loopback reference (docker's bridge is at Ethernet's MTU too)
    const all = ethernet !== undefined ? [...traffic, ethernet] : traffic;
    const references = loopbacks.filter((l) => all.some((t) => t.mtu === l.mtu));
    // one group per measure, so every engine's paths interleave with the loopback references
    for (const t of [...references, ...all])
      for (const path of t.paths) cases.push(throughputCase(t, path, iperfAmount(ctx), tool));
    if (tool === 'iperf3' && traffic[0]?.target === 'berth')
      for (const env of [...references.slice(0, 1), traffic[0]])
        cases.push(...networkCrosschecks(env, iperfAmount(ctx)));
    for (const t of [...references.slice(0, 1), ...traffic])
      for (const path of t.paths) cases.push(latencyCase(t, path, roundTrips));
    return cases;
  },
  derive: deriveNetwork,
};

/** True when the command runs and exits 0 (cases() is synchronous). */
function runsOk(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}
