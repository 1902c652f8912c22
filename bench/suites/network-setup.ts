// The network bench's setup/teardown cases: what giving a container its network
// costs per mode (none, host, bridge, container) and concurrency, and for bridge
// the same veth plan through berth's netlink path vs iproute2's `ip -batch`;
// and a bridge container with one published port, userland proxy vs iptables;
// and the kernel floor of the bridge work (native/workloads/netns-floor.c).
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { workloadBinary } from '../../engine/execdriver/workload-rootfs.js';
import {
  bridgeInterfacePlan,
  runIpBatch,
  runSteps,
  stepSpan,
  type NetlinkOp,
  type NetnsRef,
} from '../../engine/networkdriver/index.js';
import { hostVethName, macFor, networkDriverBoundary, type NetworkDriver } from '../../engine/networkdriver/index.js';
import { formatIPv4, parseSubnet } from '../../engine/networkdriver/subnet.js';
import { instrument, type Context } from '../../engine/trace/index.js';
import type { MacroCase } from '../suite.js';
import { freeLoopbackPorts } from './network-procs.js';
import {
  createNetnsBatch,
  deleteNetnsBatch,
  planVethName,
  type BenchNetns,
  type NetworkWorld,
} from './network-world.js';

export const SUITE = 'network';

/**
 * The bare setup paths, instrumented like the driver: `networkdriver.netlink` with
 * each netlink step as a child span, and `networkdriver.ip.batch` per ip process.
 */
const plans = instrument(
  'networkdriver',
  { netlink: runSteps, 'ip.batch': runIpBatch },
  { steps: { netlink: (steps) => steps.map(stepSpan) } },
);

export type SetupMode = 'none' | 'host' | 'bridge' | 'container';
/**
 * driver: NetworkDriver.allocateInterface/releaseInterface; netlink/ip: the bare
 * veth plan through runSteps or `ip -batch`; ip-calls: one `ip` process per op;
 * floor: the same kernel work from a small C program (netns-floor), no engine.
 */
export type SetupPath = 'driver' | 'netlink' | 'ip' | 'ip-calls' | 'floor';

export const SETUP_MODES: readonly SetupMode[] = ['none', 'host', 'bridge', 'container'];
export const CONCURRENCIES: readonly number[] = [1, 2, 4];

/** Goals for berth's bridge setup + teardown through the driver: p50 in ms, by concurrency. */
export const BRIDGE_GOAL_MS: Readonly<Record<number, number>> = { 1: 2.5, 4: 4 };

/** Goal: berth's bridge setup + teardown within this factor of the kernel floor (p50 of the pairwise ratios). */
export const FLOOR_GOAL_RATIO = 1.5;

const describeMode: Record<SetupMode, string> = {
  none: 'network "none" (loopback up inside the namespace, from a cloned child)',
  host: 'network "host" (only the hosts/hostname/resolv.conf files)',
  bridge:
    'the default bridge network (address from IPAM, veth with its peer born in the namespace, host end on the bridge, address/route inside, etc files)',
  container:
    'network "container:<id>" (the namespace of another container, already set up; only checked, plus etc files)',
};

const describePath: Record<SetupPath, string> = {
  driver:
    'NetworkDriver.allocateInterface then releaseInterface (through instrument() with networkDriverBoundary, so its steps become phases); in bridge mode with netnsGone, ' +
    'as the engine releases a container whose namespace dies with it: the kernel removes the veth with the namespace, a reaper checks it later',
  netlink:
    "the bare bridge interface plan (bridgeInterfacePlan: 3 host ops, 4 ops in the namespace) through berth's rtnetlink runSteps, then one link.delete; no IPAM, no files",
  ip: 'the same bare plan as one `ip -batch` process on the host and one under `nsenter --net` in the namespace, then `ip link del` through `ip -batch`; no IPAM, no files',
  'ip-calls':
    'the same bare plan with one `ip` process per op (3 on the host, 4 under `nsenter --net`), then one `ip link del`, as shell scripts do it; no IPAM, no files',
  floor:
    'the kernel floor: native/workloads/netns-floor, a C program with one thread per container; each makes a fresh namespace (unshare, untimed here) and one rtnetlink socket in it, and through that socket alone creates the veth pair (host end born in the host namespace on the bridge and up, eth0 born in the new one) and, in one batch, lo up, the address, eth0 up and the default route; teardown closes the socket and leaves the namespace (the kernel removes it and the veth pair asynchronously, as for the driver path with netnsGone)',
};

/** The files the driver writes into a container's etc directory (made empty before each sample, as the engine does). */
const ETC_FILES = ['hosts', 'hostname', 'resolv.conf'] as const;

/** One container's network for a setup sample: its namespace and, for container mode, the owner's. */
interface Slot {
  /** The container set up in the timed part, and its directory for the etc files (made before, removed after). */
  id: string;
  etcDir: string;
  ns?: BenchNetns;
  owner?: { id: string; ns: BenchNetns };
}

/**
 * A macro case: each sample sets up `concurrency` containers' networks at once
 * (Promise.all), then tears them all down at once; the sample is the wall time of
 * both in ms. Namespaces (and, for container mode, the owning container's
 * interface) are made before the timed part and removed after it, every sample,
 * also when it failed.
 */
export function setupCase(world: NetworkWorld, mode: SetupMode, path: SetupPath, concurrency: number): MacroCase {
  let driver: NetworkDriver | undefined;
  let slots: Slot[] = [];
  /** Host veths the sample released with netnsGone: the kernel removes them with their namespaces. */
  let released: string[] = [];
  /** acquire() undoes itself when it fails: only a successful one is released. */
  let acquired = false;

  const prepare = async (ctx: Context): Promise<void> => {
    // The container's directory exists before its network is set up (the engine makes it
    // at create and removes it with the container), and so do its empty etc files (the
    // engine makes them for their bind mounts before it asks for the network, see
    // container-runtime.ts), so neither is part of the sample.
    const fresh = (): Slot => {
      const id = world.nextContainerId();
      return { id, etcDir: world.etcDir(id) };
    };
    slots = Array.from({ length: concurrency }, fresh);
    await Promise.all(
      slots.map(async (slot) => {
        await mkdir(slot.etcDir, { recursive: true });
        await Promise.all(ETC_FILES.map((f) => writeFile(join(slot.etcDir, f), '', { flag: 'a' })));
      }),
    );
    if (mode === 'host') return;
    const namespaces = await createNetnsBatch(concurrency, world.shell);
    slots.forEach((slot, i) => (slot.ns = namespaces[i]));
    if (mode !== 'container') return;
    for (const slot of slots) {
      const ns = slot.ns!;
      const id = world.nextContainerId();
      // recorded before the call, so dispose() releases it also when the allocation fails half-way
      slot.owner = { id, ns };
      await world.driver.allocateInterface(ctx, {
        containerId: id,
        network: 'bridge',
        netns: { path: ns.path },
        hostname: 'owner',
      });
    }
  };

  const dispose = async (ctx: Context): Promise<void> => {
    const taken = slots;
    slots = [];
    const left = released;
    released = [];
    const errors: unknown[] = [];
    for (const slot of taken) {
      if (slot.owner !== undefined) {
        await world.driver.releaseInterface(ctx, slot.owner.id).catch((e: unknown) => errors.push(e));
        world.forget(slot.owner.id);
      }
    }
    await deleteNetnsBatch(
      taken.flatMap((slot) => (slot.ns !== undefined ? [slot.ns] : [])),
      world.shell,
    );
    // as the floor case does after each sample: the kernel's removal of the namespaces and the veths they take with
    // them finishes before the next sample, whichever case it is, so no sample runs beside this one's teardown
    await waitLinksGone(() => linksAmong(left), `network setup ${mode} (concurrency ${concurrency})`).catch(
      (e: unknown) => errors.push(e),
    );
    await Promise.all(
      taken.map((slot) => rm(slot.etcDir, { recursive: true, force: true }).catch((e: unknown) => errors.push(e))),
    );
    if (errors.length > 0) throw errors[0];
  };

  const viaDriver = async (ctx: Context): Promise<void> => {
    const d = driver!;
    const ids = slots.map((slot) => slot.id);
    const network = mode === 'container' ? (i: number) => `container:${slots[i]!.owner!.id}` : () => mode;
    try {
      await settleAll(
        slots.map((slot, i) =>
          d.allocateInterface(ctx, {
            containerId: ids[i]!,
            network: network(i),
            ...(slot.ns !== undefined ? { netns: { path: slot.ns.path } } : {}),
            hostname: `c${i}`,
            etcDir: slot.etcDir,
          }),
        ),
      );
    } finally {
      // each sample's namespaces are deleted right after it (afterSample), as a container's
      // die with its last process: the host veth goes with them, as the engine releases it
      await Promise.all(ids.map((id) => d.releaseInterface(ctx, id, { netnsGone: mode === 'bridge' })));
      for (const id of ids) world.forget(id);
      if (mode === 'bridge') released = ids.map(hostVethName);
    }
  };

  const viaPlan = async (ctx: Context): Promise<void> => {
    const net = world.network;
    const subnet = parseSubnet(net.subnet);
    const run =
      path === 'netlink'
        ? plans.netlink
        : path === 'ip'
          ? plans['ip.batch']
          : async (c: Context, ops: readonly NetlinkOp[], ns?: NetnsRef) => {
              for (const op of ops) await plans['ip.batch'](c, [op], ns);
            };
    const made: string[] = [];
    try {
      await settleAll(
        slots.map(async (slot, i) => {
          const address = formatIPv4(subnet.base + 200 + i);
          const netns: NetnsRef = { path: slot.ns!.path };
          const hostVeth = planVethName(i);
          const plan = bridgeInterfacePlan({
            hostVeth,
            bridge: net.bridge,
            netns,
            address,
            prefix: subnet.prefix,
            gateway: net.gateway,
            mac: macFor(address),
            mtu: net.mtu,
          });
          made.push(hostVeth);
          await run(ctx, plan.host);
          await run(ctx, plan.netns, netns);
        }),
      );
    } finally {
      const del = (name: string): NetlinkOp => ({ op: 'link.delete', name, ifMissingOk: true });
      // `ip link del` fails on a veth that was never made: that one is retried as a netlink delete that tolerates a
      // missing link.
      await Promise.all(
        made.map((name) =>
          path === 'netlink'
            ? run(ctx, [del(name)])
            : run(ctx, [{ op: 'link.delete', name }]).catch(() => runSteps(ctx, [del(name)])),
        ),
      );
    }
  };

  return {
    kind: 'macro',
    suite: SUITE,
    case: 'setup-teardown',
    target: 'berth',
    parameters: { mode, path, concurrency },
    unit: 'ms',
    direction: 'lower-is-better',
    // the bare plans interleave among themselves: the `ip` paths fork this process in their samples, and the
    // copy-on-write faults that follow would land in the next sample, the driver's among them (see command-shell.ts)
    group: path === 'driver' ? `setup-teardown-${mode}-${concurrency}` : `setup-teardown-${mode}-plan-${concurrency}`,
    phases: true,
    method:
      `Wall time in ms to set up and then tear down the network of ${concurrency} container(s) at once (Promise.all) for ${describeMode[mode]}, via ${describePath[path]}. ` +
      `The driver's state files (under the run's data root) and the etc files are part of the driver path. Each container gets a fresh network namespace (\`ip -batch\` of \`netns add\`) and its container directory holding the empty etc files (the engine makes them for their bind mounts before it asks for the network) before the timed part, and loses both (\`netns del\`, rm) after it: neither is measured (the namespaces suite measures namespace creation). ` +
      (mode === 'bridge' && path === 'driver'
        ? "After a sample the bench waits until the kernel removed its host veths with the namespaces, as after a floor sample, so no sample runs beside an earlier one's namespace teardown. "
        : '') +
      `The \`ip\` commands around the samples (and the floor program) run in one long-lived shell, not as children of the bench process, so no sample pays the copy-on-write faults a fork of the bench process leaves behind; the driver path interleaves with the kernel floor only, the bare plans (whose \`ip\` paths fork in their samples) among themselves.`,
    notes:
      mode === 'bridge' && path === 'driver' && BRIDGE_GOAL_MS[concurrency] !== undefined
        ? [
            `Goals: p50 ≤ ${BRIDGE_GOAL_MS[concurrency]} ms for ${concurrency} container(s) at once, and ≤ ${FLOOR_GOAL_RATIO}× the kernel floor (path floor); the derived cases setup-teardown-ip-vs-netlink and setup-teardown-vs-floor say whether they are met.`,
          ]
        : [],
    setup: async (ctx) => {
      const opened = await world.acquire(ctx);
      acquired = true;
      driver = path === 'driver' ? instrument<NetworkDriver>('networkdriver', opened, networkDriverBoundary) : opened;
    },
    teardown: async (ctx) => {
      await dispose(ctx).catch(() => undefined);
      if (acquired) {
        acquired = false;
        await world.release(ctx);
      }
    },
    beforeSample: (ctx) => prepare(ctx),
    afterSample: (ctx) => dispose(ctx),
    sample: (ctx) => (path === 'driver' ? viaDriver(ctx) : viaPlan(ctx)),
  };
}

let floorRuns = 0;

/** Names of the host's links that start with prefix. */
async function linksNamed(prefix: string): Promise<string[]> {
  return (await readdir('/sys/class/net')).filter((n) => n.startsWith(prefix));
}

/** Those of names the host has as links. */
async function linksAmong(names: readonly string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const all = new Set(await readdir('/sys/class/net'));
  return names.filter((n) => all.has(n));
}

/**
 * Waits, with a generous deadline (30 s), until list() is empty: the kernel removed the links a
 * sample left to it (with their namespace). Fails naming them if not.
 */
async function waitLinksGone(list: () => Promise<string[]>, subject: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let left = await list();
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    left = await list();
  }
  if (left.length > 0) throw new Error(`${subject}: the kernel has not removed ${left.join(', ')} after 30 s`);
}

/**
 * The kernel floor of a bridge setup + teardown at a concurrency: per sample one
 * run of netns-floor (one iteration, `concurrency` threads) on the bench's
 * bridge, with addresses of the bench's subnet in namespaces of the program's
 * own; the sample is its link phase plus its release phase, in ms (the namespace's
 * creation, which the driver path does not time either, is left out). After each
 * sample it waits, with a generous deadline, until the kernel removed the host
 * ends (`bf<pid><run>…`, unique per run) and fails naming them if not; the driver's
 * bridge case waits for its host veths the same way.
 */
export function floorCase(world: NetworkWorld, concurrency: number): MacroCase {
  let acquired = false;
  let prefix = '';
  const subject = `network setup floor (concurrency ${concurrency})`;
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'setup-teardown',
    target: 'berth',
    parameters: { mode: 'bridge', path: 'floor', concurrency },
    unit: 'ms',
    direction: 'lower-is-better',
    group: `setup-teardown-bridge-${concurrency}`,
    method:
      `Wall time in ms to set up and then tear down the bridge network of ${concurrency} container(s) at once via ${describePath.floor}. ` +
      "Threads start each phase together (barriers) and read CLOCK_MONOTONIC around it; a phase is its first start to its last end across the threads. The sample is the link phase plus the release phase of one iteration; the program runs once per sample (its start is not timed), started by the bench's long-lived shell. " +
      "Like the driver path it times neither the namespace's creation nor the kernel's asynchronous removal of the namespace and its veth pair (the driver releases with netnsGone); it writes no state or etc files.",
    notes: [],
    setup: async (ctx) => {
      await world.acquire(ctx);
      acquired = true;
    },
    teardown: async (ctx) => {
      if (acquired) {
        acquired = false;
        await world.release(ctx);
      }
    },
    sample: async () => {
      const net = world.network;
      const subnet = parseSubnet(net.subnet);
      prefix = `bf${process.pid.toString(36)}${(floorRuns++ % 1296).toString(36)}`;
      // run by the world's shell, as the namespaces are: this process does not fork between samples
      const r = await world.shell.runArgv([
        workloadBinary('netns-floor'),
        '1',
        String(concurrency),
        prefix,
        net.bridge,
        `${formatIPv4(subnet.base + 230)}/${subnet.prefix}`,
        net.gateway,
        String(net.mtu),
      ]);
      if (r.exitCode !== 0) throw new Error(`${subject}: ${r.output.trim() || `exit ${r.exitCode}`}`);
      const parts = r.output.trim().split(' ').map(Number);
      if (parts.length !== 3 || parts.some((x) => !Number.isFinite(x)))
        throw new Error(`${subject}: netns-floor printed ${JSON.stringify(r.output)}`);
      return (parts[1]! + parts[2]!) / 1e6;
    },
    afterSample: () => waitLinksGone(() => linksNamed(prefix), subject),
  };
}

/** Waits for every promise (so undo never races a setup still running), then throws the first failure. */
async function settleAll(promises: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

/** How a publish case publishes its port. */
export type PublishPort = 'proxy' | 'iptables';

/** The container port the publish cases publish (nothing listens: only the publishing is measured). */
const PUBLISHED_CONTAINER_PORT = 80;

/**
 * A macro case: each sample gives `concurrency` containers the bridge network,
 * publishes one 127.0.0.1 port of each (`port`: berth's userland proxy, or
 * iptables DNAT), then releases them all with netnsGone (the namespaces are
 * deleted right after the sample, so the kernel removes the veths); the sample
 * is the wall time in ms. Namespaces and free host ports are taken before the
 * timed part; namespaces are removed after it, also when it failed, and the bench
 * waits (30 s at most) until the kernel removed the sample's host veths with them.
 */
export function publishCase(world: NetworkWorld, port: PublishPort, concurrency: number): MacroCase {
  let driver: NetworkDriver | undefined;
  let slots: { ns: BenchNetns; hostPort: number }[] = [];
  /** Host veths the sample released with netnsGone: the kernel removes them with their namespaces. */
  let released: string[] = [];
  let acquired = false;
  const subject = `network setup publish ${port} (concurrency ${concurrency})`;

  const dispose = async (): Promise<void> => {
    const taken = slots;
    slots = [];
    const left = released;
    released = [];
    await deleteNetnsBatch(
      taken.map((slot) => slot.ns),
      world.shell,
    );
    // as the bridge and floor cases do: the kernel's removal of the namespaces and their veths finishes before the
    // next sample, so no sample runs beside this one's teardown
    await waitLinksGone(() => linksAmong(left), subject);
  };

  return {
    kind: 'macro',
    suite: SUITE,
    case: 'setup-teardown-publish',
    target: 'berth',
    parameters: { mode: 'bridge', path: 'driver', port, concurrency },
    unit: 'ms',
    direction: 'lower-is-better',
    group: `setup-teardown-publish-${concurrency}`,
    phases: true,
    method:
      `Wall time in ms to give ${concurrency} container(s) at once the default bridge network (NetworkDriver.allocateInterface), publish one 127.0.0.1 host port of each ` +
      `(allocatePort via ${port === 'proxy' ? "berth's userland proxy (a listening socket in the engine process)" : 'iptables DNAT (one iptables-restore transaction per port)'}), ` +
      'then release them (releaseInterface with netnsGone: the namespace is deleted right after, so the host veth is left to the kernel). ' +
      'Fresh namespaces and free host ports are taken before the timed part; namespace deletion is not measured. ' +
      "After a sample the bench waits until the kernel removed its host veths with the namespaces, as after a bridge or floor sample, so no sample runs beside an earlier one's namespace teardown.",
    notes: [],
    setup: async (ctx) => {
      const opened = await world.acquire(ctx);
      acquired = true;
      driver = instrument<NetworkDriver>('networkdriver', opened, networkDriverBoundary);
    },
    teardown: async (ctx) => {
      await dispose().catch(() => undefined);
      if (acquired) {
        acquired = false;
        await world.release(ctx);
      }
    },
    beforeSample: async () => {
      const namespaces = await createNetnsBatch(concurrency, world.shell);
      const ports = await freeLoopbackPorts(namespaces.length);
      slots = namespaces.map((ns, i) => ({ ns, hostPort: ports[i]! }));
    },
    afterSample: () => dispose(),
    sample: async (ctx) => {
      const d = driver!;
      const ids = slots.map(() => world.nextContainerId());
      try {
        await settleAll(
          slots.map(async (slot, i) => {
            await d.allocateInterface(ctx, {
              containerId: ids[i]!,
              network: 'bridge',
              netns: { path: slot.ns.path },
              hostname: `p${i}`,
            });
            await d.allocatePort(ctx, ids[i]!, `127.0.0.1:${slot.hostPort}:${PUBLISHED_CONTAINER_PORT}`, { via: port });
          }),
        );
      } finally {
        await Promise.all(ids.map((id) => d.releaseInterface(ctx, id, { netnsGone: true })));
        for (const id of ids) world.forget(id);
        released = ids.map(hostVethName);
      }
    },
  };
}

/** True when iptables can read the nat table here (cases() is synchronous). */
function iptablesUsable(): boolean {
  return spawnSync('iptables', ['-w', '-t', 'nat', '-S', 'OUTPUT'], { stdio: 'ignore' }).status === 0;
}

/**
 * Every setup case: each mode through the driver, the bridge plan through
 * netlink and ip, the kernel floor, and the publish cases (proxy, and iptables when usable), at each concurrency.
 */
export function setupCases(world: NetworkWorld, concurrencies: readonly number[] = CONCURRENCIES): MacroCase[] {
  const cases: MacroCase[] = [];
  const ports: PublishPort[] = iptablesUsable() ? ['proxy', 'iptables'] : ['proxy'];
  for (const concurrency of concurrencies) {
    for (const port of ports) cases.push(publishCase(world, port, concurrency));
    for (const mode of SETUP_MODES) {
      cases.push(setupCase(world, mode, 'driver', concurrency));
      if (mode === 'bridge') {
        cases.push(setupCase(world, mode, 'netlink', concurrency));
        cases.push(setupCase(world, mode, 'ip', concurrency));
        // the one-process-per-op reference is slow and gains nothing from concurrency: measured once
        if (concurrency === 1) cases.push(setupCase(world, mode, 'ip-calls', concurrency));
        cases.push(floorCase(world, concurrency));
      }
    }
  }
  return cases;
}
