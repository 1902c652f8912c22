// The network bench's traffic cases: TCP throughput (iperf3) and request latency
// (a 64-byte ping-pong) host → container, container → container and over a port
// published on 127.0.0.1, each against the loopback reference in the same run,
// measured in a namespace of the bench's own whose lo has the containers' MTU.
import { execa } from 'execa';
import { workloadBinary } from '../../engine/execdriver/workload-rootfs.js';
import { ETHERNET_MTU } from '../../engine/networkdriver/host-routes.js';
import { LOCAL_MTU } from '../../engine/networkdriver/network-driver.js';
import { wrap } from '../../engine/errdefs/errors.js';
import { runSteps } from '../../engine/networkdriver/netlink-ops.js';
import type { Context } from '../../engine/trace/index.js';
import type { MacroCase } from '../suite.js';
import { BenchProcess, freeLoopbackPorts, PINGPONG_CLIENT, PINGPONG_SERVER } from './network-procs.js';
import { SUITE } from './network-setup.js';
import { SharedSetup } from './shared-setup.js';
import { createNetns, deleteNetns, type BenchNetns, type NetworkWorld } from './network-world.js';

export type TrafficPath = 'loopback' | 'host-to-container' | 'container-to-container' | 'published-port';
export const TRAFFIC_PATHS: readonly TrafficPath[] = [
  'loopback',
  'host-to-container',
  'container-to-container',
  'published-port',
];

/** Goal: every bridge path reaches at least this share of loopback throughput at the same MTU. */
export const THROUGHPUT_GOAL_PERCENT = 90;

/**
 * Ports inside container A (its own namespace, so fixed ports cannot collide with
 * the host's). One per path and tool, since the cases of a group run their
 * servers side by side; the published-port ones are what the engines publish.
 */
export const CONTAINER_PORTS: Record<Exclude<TrafficPath, 'loopback'>, { iperf: number; pingpong: number }> = {
  'host-to-container': { iperf: 5201, pingpong: 7001 },
  'container-to-container': { iperf: 5202, pingpong: 7002 },
  'published-port': { iperf: 5203, pingpong: 7003 },
};

const describePath: Record<TrafficPath, string> = {
  loopback:
    "server and client on 127.0.0.1 in a network namespace of the bench's own whose lo has the MTU of the paths it is the reference for",
  'host-to-container':
    "client in the host namespace, server in container A's namespace, to A's bridge address (veth + bridge)",
  'container-to-container':
    "client in container B's namespace, server in container A's, to A's address (veth → bridge → veth)",
  'published-port': 'client in the host namespace to 127.0.0.1:<published port>, which the engine forwards to A',
};

/** Where a path's server listens and its client runs. */
export interface Endpoints {
  serverNs: BenchNetns | undefined;
  clientNs: BenchNetns | undefined;
  /** Address and port the client connects to. */
  host: string;
  port: number;
  /** Address and port the server listens on. */
  listenHost: string;
  listenPort: number;
}

/** An engine whose containers the traffic cases measure: berth's networkdriver, or Docker's bridge. */
export interface TrafficTarget {
  readonly target: string;
  /** The paths it measures (Docker's: all but loopback, which is berth's same-run reference). */
  readonly paths: readonly TrafficPath[];
  /** A sentence on how its containers are networked, for the case's method. */
  readonly description: string;
  /** Link MTU of its containers' network, or lo's for the loopback reference (the throughput cases' `mtu`). */
  readonly mtu: number;
  /** Builds the containers on first use; counts users. */
  acquire(ctx: Context): Promise<void>;
  /** The last user removes everything it built. */
  release(ctx: Context): Promise<void>;
  endpoints(path: TrafficPath, tool: 'iperf' | 'pingpong'): Endpoints;
}

/** Fixed ports of the loopback reference (its namespace is the bench's own: nothing else listens there). */
const LOOPBACK_PORTS = { iperf: 5201, pingpong: 7001 };

/**
 * The loopback reference at one MTU: a network namespace of the bench's own
 * (`berthbench-<pid>-<n>`, made on first use, deleted by the last user) whose lo
 * is set to mtu and up, so a path at link MTU m is compared with loopback at m.
 */
export class LoopbackEnv implements TrafficTarget {
  readonly target = 'berth';
  readonly paths: readonly TrafficPath[] = ['loopback'];
  readonly description: string;
  private readonly shared = new SharedSetup(
    (ctx) => this.build(ctx),
    () => this.teardown(),
  );
  private ns: BenchNetns | undefined;

  constructor(readonly mtu: number) {
    this.description = `the loopback reference: lo at MTU ${mtu} in a network namespace of the bench's own`;
  }

  acquire(ctx: Context): Promise<void> {
    return this.shared.acquire(ctx);
  }

  private async build(ctx: Context): Promise<void> {
    this.ns = await createNetns();
    try {
      await runSteps(
        ctx,
        [
          { op: 'link.mtu', name: 'lo', mtu: this.mtu },
          { op: 'link.up', name: 'lo' },
        ],
        { path: this.ns.path },
      );
    } catch (err) {
      throw wrap(err, `network loopback reference at MTU ${this.mtu}`);
    }
  }

  /** One user done; the last one deletes the namespace. */
  release(ctx: Context): Promise<void> {
    return this.shared.release(ctx);
  }

  private async teardown(): Promise<void> {
    const ns = this.ns;
    this.ns = undefined;
    if (ns !== undefined) await deleteNetns(ns);
  }

  endpoints(_path: TrafficPath, tool: 'iperf' | 'pingpong'): Endpoints {
    const port = LOOPBACK_PORTS[tool];
    return { serverNs: this.ns, clientNs: this.ns, host: '127.0.0.1', port, listenHost: '127.0.0.1', listenPort: port };
  }
}

/**
 * Two containers A and B on the bench's bridge (driver-allocated interfaces in
 * namespaces of their own) and A's iperf3 and ping-pong ports published on
 * 127.0.0.1. Shared by the traffic cases of a group: acquire/release count users.
 */
export class TrafficEnv implements TrafficTarget {
  readonly target = 'berth';
  readonly paths: readonly TrafficPath[] = TRAFFIC_PATHS.filter((p) => p !== 'loopback');
  readonly description: string;
  readonly mtu: number;
  private readonly shared = new SharedSetup(
    (ctx) => this.build(ctx),
    (ctx) => this.teardown(ctx),
  );
  a: { id: string; ns: BenchNetns; address: string } | undefined;
  b: { id: string; ns: BenchNetns; address: string } | undefined;
  published = { iperf: 0, pingpong: 0 };
  private worldAcquired = false;

  /** mtu: the link MTU of world's network (LOCAL_MTU unless the world was opened with another). */
  constructor(
    private readonly world: NetworkWorld,
    opts: { mtu?: number } = {},
  ) {
    this.mtu = opts.mtu ?? LOCAL_MTU;
    this.description =
      `berth's networkdriver (default bridge network at link MTU ${this.mtu}` +
      (this.mtu > ETHERNET_MTU ? `, the host's uplink MTU on the containers' default route` : '') +
      ', driver-allocated veths; published ports via iptables DNAT or its userland proxy)';
  }

  acquire(ctx: Context): Promise<void> {
    return this.shared.acquire(ctx);
  }

  private async build(ctx: Context): Promise<void> {
    await this.world.acquire(ctx);
    this.worldAcquired = true;
    const d = this.world.driver;
    for (const which of ['a', 'b'] as const) {
      const ns = await createNetns();
      const id = this.world.nextContainerId();
      this[which] = { id, ns, address: '' };
      const r = await d.allocateInterface(ctx, {
        containerId: id,
        network: 'bridge',
        netns: { path: ns.path },
        hostname: which,
      });
      this[which]!.address = r.address!;
    }
    [this.published.iperf, this.published.pingpong] = await freeLoopbackPorts(2);
    await d.allocatePort(
      ctx,
      this.a!.id,
      `127.0.0.1:${this.published.iperf}:${CONTAINER_PORTS['published-port'].iperf}`,
    );
    await d.allocatePort(
      ctx,
      this.a!.id,
      `127.0.0.1:${this.published.pingpong}:${CONTAINER_PORTS['published-port'].pingpong}`,
    );
  }

  /** One user done; the last one releases A and B, deletes their namespaces and releases the world. */
  release(ctx: Context): Promise<void> {
    return this.shared.release(ctx);
  }

  private async teardown(ctx: Context): Promise<void> {
    const errors: unknown[] = [];
    for (const c of [this.a, this.b]) {
      if (c === undefined) continue;
      await this.world.driver.releaseInterface(ctx, c.id).catch((e: unknown) => errors.push(e));
      this.world.forget(c.id);
      await deleteNetns(c.ns);
    }
    this.a = this.b = undefined;
    if (this.worldAcquired) {
      this.worldAcquired = false;
      await this.world.release(ctx).catch((e: unknown) => errors.push(e));
    }
    if (errors.length > 0) throw errors[0];
  }

  endpoints(path: TrafficPath, tool: 'iperf' | 'pingpong'): Endpoints {
    if (path === 'loopback') throw new Error('network bench: the loopback reference is a LoopbackEnv');
    const inner = CONTAINER_PORTS[path][tool];
    switch (path) {
      case 'host-to-container':
        return {
          serverNs: this.a!.ns,
          clientNs: undefined,
          host: this.a!.address,
          port: inner,
          listenHost: '0.0.0.0',
          listenPort: inner,
        };
      case 'container-to-container':
        return {
          serverNs: this.a!.ns,
          clientNs: this.b!.ns,
          host: this.a!.address,
          port: inner,
          listenHost: '0.0.0.0',
          listenPort: inner,
        };
      case 'published-port':
        return {
          serverNs: this.a!.ns,
          clientNs: undefined,
          host: '127.0.0.1',
          port: this.published[tool],
          listenHost: '0.0.0.0',
          listenPort: inner,
        };
    }
  }
}

/** Parses iperf3 -J output: the receiver's bits per second, in Gbit/s. Fails naming the path when absent. */
export function iperfGbits(json: string, subject: string): number {
  let doc: { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
  try {
    doc = JSON.parse(json) as typeof doc;
  } catch (err) {
    throw wrap(err, `${subject}: iperf3 -J output`);
  }
  if (doc.error !== undefined) throw new Error(`${subject}: iperf3: ${doc.error}`);
  const bps = doc.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number' || !Number.isFinite(bps))
    throw new Error(`${subject}: iperf3 -J output has no end.sum_received.bits_per_second`);
  return bps / 1e9;
}

/** How much one iperf3 client run sends: for some seconds (`-t`) or a byte count (`-n`). */
export type IperfAmount = { seconds: number } | { bytes: string };

function amountArgs(a: IperfAmount): string[] {
  return 'seconds' in a ? ['-t', String(a.seconds)] : ['-n', a.bytes];
}

/**
 * What measures throughput: iperf3 when installed, else berth's static tcp-source → tcp-sink pair (native/workloads).
 */
export type ThroughputTool = 'iperf3' | 'tcp-sink';

/** Bytes one tcp-source run sends: the byte amount, or for a time amount ≈ that many seconds at 30 Gbit/s. */
export function sinkBytes(a: IperfAmount): number {
  if ('seconds' in a) return Math.round(a.seconds * 3.75e9);
  const m = /^(\d+)([KMG]?)$/.exec(a.bytes);
  if (m === null) throw new Error(`network throughput: byte amount ${a.bytes}: not <n>[K|M|G]`);
  return Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2] as '' | 'K' | 'M' | 'G'];
}

/** Parses tcp-sink's "BYTES SECONDS" line into Gbit/s; fails naming the path. */
export function sinkGbits(line: string, subject: string): number {
  const m = /^(\d+) (\d+\.\d+)$/.exec(line.trim());
  if (m === null || Number(m[2]) <= 0) throw new Error(`${subject}: tcp-sink printed ${JSON.stringify(line)}`);
  return (Number(m[1]) * 8) / Number(m[2]) / 1e9;
}

/**
 * Throughput of one path. With iperf3: an `iperf3 -s` server of the case's own
 * runs in the server's namespace (started by pid in setup, ready when it prints
 * "Server listening", restarted before a sample if it died, ended by pid in
 * teardown); per sample the client runs `iperf3 -c … <amount> -J` in its
 * namespace, and the sample is the receiver's rate in Gbit/s. With tcp-sink: a
 * fresh sink per sample (started untimed before it, it takes one connection),
 * `tcp-source` sends the amount, and the sample is the bytes the sink read over
 * the seconds from its accept to end of stream, in Gbit/s.
 */
export function throughputCase(
  env: TrafficTarget,
  path: TrafficPath,
  amount: IperfAmount,
  tool: ThroughputTool = 'iperf3',
): MacroCase {
  const transfer = 'seconds' in amount ? `${amount.seconds}s` : amount.bytes;
  let server: BenchProcess | undefined;
  /** acquire() undoes itself when it fails: only a successful one is released. */
  let acquired = false;
  const subject = `network throughput ${env.target} ${path}`;
  const startServer = async (): Promise<void> => {
    await server?.stop();
    const e = env.endpoints(path, 'iperf');
    server = undefined;
    if (tool === 'tcp-sink') {
      server = await BenchProcess.start(
        `${subject}: tcp-sink`,
        [workloadBinary('tcp-sink'), String(e.listenPort), e.listenHost],
        e.serverNs,
        /^listening \d+$/,
      );
      return;
    }
    const bind = e.listenHost === '0.0.0.0' ? [] : ['-B', e.listenHost];
    server = await BenchProcess.start(
      `${subject}: iperf3 server`,
      ['iperf3', '-s', '--forceflush', '-p', String(e.listenPort), ...bind],
      e.serverNs,
      /Server listening/,
    );
  };
  const nsText = ', inside the namespace via `nsenter --net`';
  const how =
    tool === 'iperf3'
      ? `iperf3 TCP, one stream, ${describePath[path]}: one server per case (\`iperf3 -s\`, started by pid${nsText}), ` +
        `per sample one client run \`iperf3 -c <addr> ${amountArgs(amount).join(' ')} -J\`; the sample is end.sum_received.bits_per_second in Gbit/s. `
      : `berth's static tcp-source → tcp-sink (iperf3 is not installed), TCP, one stream, ${describePath[path]}: per sample a fresh \`tcp-sink PORT ADDR\` (started untimed before it${nsText}) ` +
        `and one \`tcp-source <addr> PORT ${sinkBytes(amount)}\`; the sample is the bytes the sink read over the seconds from its accept to end of stream, in Gbit/s. `;
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'tcp-throughput',
    target: env.target,
    parameters: { path, transfer, mtu: env.mtu, tool },
    unit: 'Gbit/s',
    direction: 'higher-is-better',
    group: 'tcp-throughput',
    method:
      how +
      `Paths and engines interleave sample by sample, so loopback is the same-run reference. Containers: ${env.description}.`,
    notes:
      path === 'loopback' || env.target !== 'berth'
        ? []
        : [
            `Goal: ≥ ${THROUGHPUT_GOAL_PERCENT}% of loopback at the same MTU; the derived case tcp-throughput-vs-loopback says whether it is met.`,
          ],
    setup: async (ctx) => {
      await env.acquire(ctx);
      acquired = true;
      if (tool === 'iperf3') await startServer();
    },
    teardown: async (ctx) => {
      await server?.stop();
      server = undefined;
      if (acquired) {
        acquired = false;
        await env.release(ctx);
      }
    },
    beforeSample: async () => {
      if (tool === 'tcp-sink' || server === undefined || server.done) await startServer();
    },
    afterSample: async () => {
      if (tool === 'tcp-sink') {
        await server?.stop(2000);
        server = undefined;
      }
    },
    sample: async () => {
      const e = env.endpoints(path, 'iperf');
      const argv =
        tool === 'iperf3'
          ? ['iperf3', '-c', e.host, '-p', String(e.port), ...amountArgs(amount), '-J']
          : [workloadBinary('tcp-source'), e.host, String(e.port), String(sinkBytes(amount))];
      const full = e.clientNs === undefined ? argv : ['nsenter', `--net=${e.clientNs.path}`, ...argv];
      const r = await execa(full[0]!, full.slice(1), {
        reject: false,
        timeout: (('seconds' in amount ? amount.seconds : 10) + 20) * 1000,
      });
      if (tool === 'tcp-sink') {
        if (r.failed) throw new Error(`${subject}: tcp-source: ${String(r.stderr).trim() || r.shortMessage}`);
        return sinkGbits(await server!.nextLine(10_000), subject);
      }
      if (r.failed && String(r.stdout).trim() === '')
        throw new Error(`${subject}: iperf3 client: ${String(r.stderr).trim() || r.shortMessage}`);
      return iperfGbits(String(r.stdout), subject);
    },
  };
}

/**
 * Request latency of one path: a ping-pong server (Node, in the server's
 * namespace) and one client process (Node, in the client's namespace) with one
 * TCP connection, both started in setup and ended by pid in teardown. A sample
 * is the mean round trip in µs over `roundTrips` 64-byte request/response pairs.
 */
export function latencyCase(env: TrafficTarget, path: TrafficPath, roundTrips: number): MacroCase {
  let server: BenchProcess | undefined;
  let client: BenchProcess | undefined;
  let acquired = false;
  const subject = `network latency ${env.target} ${path}`;
  const stop = async () => {
    await client?.stop();
    await server?.stop();
    client = server = undefined;
  };
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'tcp-latency',
    target: env.target,
    parameters: { path, roundTrips },
    unit: 'us',
    direction: 'lower-is-better',
    group: 'tcp-latency',
    method:
      `Mean TCP round trip in µs over ${roundTrips} sequential 64-byte request/response pairs on one connection (TCP_NODELAY), ${describePath[path]}. ` +
      `Server and client are small Node processes (started once per case, inside the namespaces via \`nsenter --net\`); the client times its own loop with hrtime, ` +
      `so process start and IPC are not in the sample. Containers: ${env.description}. A Node ping-pong rather than \`iperf3 --udp\` because it measures request/response latency over TCP, as a service in a container sees it.`,
    setup: async (ctx) => {
      await env.acquire(ctx);
      acquired = true;
      try {
        const e = env.endpoints(path, 'pingpong');
        server = await BenchProcess.start(
          `${subject}: server`,
          [process.execPath, '-e', PINGPONG_SERVER, e.listenHost, String(e.listenPort)],
          e.serverNs,
          /^ready$/,
        );
        client = await BenchProcess.start(
          `${subject}: client`,
          [process.execPath, '-e', PINGPONG_CLIENT, e.host, String(e.port)],
          e.clientNs,
          /^ready$/,
        );
      } catch (err) {
        await stop();
        throw err;
      }
    },
    teardown: async (ctx) => {
      await stop();
      if (acquired) {
        acquired = false;
        await env.release(ctx);
      }
    },
    sample: async () => {
      const reply = await client!.ask(String(roundTrips));
      const ns = Number(reply);
      if (!Number.isFinite(ns) || ns <= 0) throw new Error(`${subject}: client answered ${JSON.stringify(reply)}`);
      return ns / roundTrips / 1e3;
    },
  };
}
