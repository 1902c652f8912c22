// The workload suite's service cases: how long after `run -d -p 127.0.0.1::8080` the
// static http-server answers on its published port (ready time), at the api and cli
// levels on berth, docker and podman (on its netavark bridge network); then request latency and throughput through the
// published port, over one kept-alive connection and one connection per request.
import { ApiClient } from '../../engine/client/api-client.js';
import { unavailable } from '../../engine/errdefs/errors.js';
import type { Context } from '../../engine/trace/index.js';
import { call } from '../peers/index.js';
import type { FinalResult, MacroCase } from '../suite.js';
import { pollReady, requestLoop } from './workload-http.js';
import { SERVICE_PORT, SERVICE_REPO } from './workload-images.js';
import type { DaemonHandle, WorkloadTarget, WorkloadWorld } from './workload-world.js';

export const SUITE = 'workload';
export type Level = 'api' | 'cli';
export type RequestMode = 'keep-alive' | 'new-connection';
/** Goal: berth's ready time at most this times docker's (same level). */
export const GOAL_READY_RATIO = 0.2;

const PORT_KEY = `${SERVICE_PORT}/tcp`;

/** The host port the daemon published for the service port of container `id` (inspect over the API). */
export async function publishedPort(host: string, id: string): Promise<number> {
  const info = (await new ApiClient(host).containerInspect(id)) as unknown as {
    NetworkSettings?: { Ports?: Record<string, { HostIp?: string; HostPort?: string }[] | null> };
  };
  const bindings = info.NetworkSettings?.Ports?.[PORT_KEY] ?? [];
  const b = bindings.find((x) => x.HostIp === '127.0.0.1') ?? bindings[0];
  const port = Number(b?.HostPort);
  if (b === undefined || !Number.isInteger(port) || port <= 0)
    throw unavailable(`container ${id}: no host port published for ${PORT_KEY} (${JSON.stringify(bindings)})`);
  if (b.HostIp !== '127.0.0.1')
    throw unavailable(`container ${id}: ${PORT_KEY} published on ${b.HostIp}, expected 127.0.0.1`);
  return port;
}

/** Creates and starts the service over the API with 8080 published on 127.0.0.1 (any free port); its id. */
export async function startServiceApi(host: string, image: string): Promise<string> {
  const client = new ApiClient(host);
  const { Id: id } = await client.containerCreate({
    Image: image,
    Cmd: ['/bin/http-server', String(SERVICE_PORT)],
    ExposedPorts: { [PORT_KEY]: {} },
    HostConfig: { PortBindings: { [PORT_KEY]: [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  } as Parameters<ApiClient['containerCreate']>[0]);
  try {
    await client.containerStart(id);
  } catch (err) {
    await client.containerRemove(id, { force: true }).catch(() => undefined);
    throw err;
  }
  return id;
}

/** `<cli> run -d -p 127.0.0.1::8080 image /bin/http-server 8080`; the id it printed. */
export async function startServiceCli(daemon: DaemonHandle, image: string): Promise<string> {
  const argv = ['run', '-d', '-p', `127.0.0.1::${SERVICE_PORT}`, image, '/bin/http-server', String(SERVICE_PORT)];
  const r = await call(daemon.cli(argv), { captureStdout: true });
  if (r.code !== 0)
    throw unavailable(`${daemon.target} ${argv.join(' ')}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  const id = r.stdout.trim().split('\n').pop()?.trim() ?? '';
  if (!/^[0-9a-f]{12,64}$/.test(id))
    throw unavailable(`${daemon.target} run -d: printed ${JSON.stringify(r.stdout.trim())}, not a container id`);
  return id;
}

async function removeAll(daemon: DaemonHandle): Promise<void> {
  const client = new ApiClient(daemon.host);
  for (const id of await daemon.containers()) await client.containerRemove(id, { force: true });
  const left = await daemon.containers();
  if (left.length > 0)
    throw unavailable(`${daemon.target}: container(s) ${left.join(', ')} still listed after removal`);
}

function ratioNote(result: FinalResult, group: readonly FinalResult[]): string[] {
  if (result.info.target !== 'berth') return [];
  const docker = group.find(
    (g) =>
      g.info.target === 'docker' &&
      g.info.case === result.info.case &&
      g.info.parameters.level === result.info.parameters.level,
  );
  if (docker === undefined)
    return [
      `Goal: ready time <= ${GOAL_READY_RATIO}x docker's: not measured (no docker ${result.info.parameters.level}-level result in this run).`,
    ];
  const ratio = result.stats.p50 / docker.stats.p50;
  return [
    `Goal: ready time <= ${GOAL_READY_RATIO}x docker's (${result.info.parameters.level} level): ${ratio <= GOAL_READY_RATIO ? 'met' : 'not met'} ` +
      `(median ${result.stats.p50.toFixed(1)} ms vs docker ${docker.stats.p50.toFixed(1)} ms, ratio ${ratio.toFixed(3)}).`,
  ];
}

const DAEMON_TEXT: Record<WorkloadTarget, string> = {
  berth:
    "a private berthd (own process from its bundle, overlay2 on tmpfs, own socket, bridge and /24; ports published with iptables DNAT in berth's own chain and route_localnet on its bridge)",
  docker:
    'a private dockerd (overlay2 on tmpfs, own socket and bridge, --iptables=false, so the published port is served by docker-proxy)',
  podman:
    "a private podman service (overlay on tmpfs, runc; its default network a netavark bridge of its own with its own /24 and DNS off; the published port served by netavark's DNAT rules, podman holding the host port open)",
};

const CLI_TEXT: Record<WorkloadTarget, string> = {
  berth: 'berth -H unix://…',
  docker: 'docker -H unix://…',
  podman: 'podman --url unix://…',
};

/** Ready time: from `run -d -p 127.0.0.1::8080` (api: create + start) to the first 200 on the published port. */
export function readyCase(world: WorkloadWorld, target: WorkloadTarget, level: Level): MacroCase {
  let id: string | undefined;
  let daemon: DaemonHandle | undefined;
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'service-ready',
    target,
    parameters: { level, network: 'bridge', image: SERVICE_REPO, publish: `127.0.0.1::${SERVICE_PORT}` },
    unit: 'ms',
    direction: 'lower-is-better',
    group: 'service-ready',
    method:
      (level === 'cli'
        ? `Wall time in ms from spawning \`${CLI_TEXT[target]} run -d -p 127.0.0.1::${SERVICE_PORT} ${SERVICE_REPO} /bin/http-server ${SERVICE_PORT}\` `
        : `Wall time in ms from the API create (port ${SERVICE_PORT}/tcp bound to 127.0.0.1 with an empty host port) and start of ${SERVICE_REPO} `) +
      `to the first 200 answer to GET / on the published port (read with one container inspect over the API, then polled on 127.0.0.1 every 2 ms, a new connection per attempt), against ${DAEMON_TEXT[target]}. ` +
      'The image (static http-server in one layer) was pulled by the daemon from a registry on 127.0.0.1 before the samples. After each sample (untimed) the container is force-removed and the daemon must list none.',
    notes: [
      level === 'cli'
        ? "Includes the CLI's start-up (node and the berth bundle, the docker binary, or podman's remote client) and its create/start calls."
        : 'The typed API client over the unix socket: create, start, inspect.',
    ],
    setup: async (ctx) => {
      await world.acquire(ctx);
      daemon = await world.daemon(ctx, target);
    },
    sample: async () => {
      const t0 = process.hrtime.bigint();
      id =
        level === 'cli'
          ? await startServiceCli(daemon!, world.serviceImage)
          : await startServiceApi(daemon!.host, world.serviceImage);
      await pollReady(await publishedPort(daemon!.host, id));
      return Number(process.hrtime.bigint() - t0) / 1e6;
    },
    afterSample: async () => {
      id = undefined;
      await removeAll(daemon!);
    },
    resultNotes: ratioNote,
    teardown: async (ctx) => {
      try {
        if (daemon !== undefined) await removeAll(daemon);
      } finally {
        await world.release(ctx);
      }
    },
  };
}

/** Per-request latencies (µs) of each measured batch, by case label, for derive(). */
export const requestLatencies = new Map<string, number[][]>();

export function requestKey(target: string, mode: RequestMode): string {
  return `${target}/${mode}`;
}

/**
 * Throughput through the published port: one sample is `requests` sequential GET /
 * (a bounded loop) to one running service; the latency of every request is kept for
 * the derived percentile case.
 */
export function requestsCase(
  world: WorkloadWorld,
  target: WorkloadTarget,
  mode: RequestMode,
  requests: number,
): MacroCase {
  let daemon: DaemonHandle | undefined;
  let port = 0;
  const key = requestKey(target, mode);
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'service-requests',
    target,
    parameters: { mode, requests, image: SERVICE_REPO, publish: `127.0.0.1::${SERVICE_PORT}` },
    unit: 'ops/s',
    direction: 'higher-is-better',
    group: `service-requests-${mode}`,
    method:
      `Requests per second over ${requests} sequential GET / (2-byte body) to one running http-server container through its port published on 127.0.0.1, ` +
      (mode === 'keep-alive' ? 'all on one kept-alive connection' : 'each on a new connection (Connection: close)') +
      `, against ${DAEMON_TEXT[target]}. The container is started over the API and polled ready in the setup (untimed).`,
    notes: [
      "One request at a time (no concurrency): the figure is the inverse of the mean round trip through the daemon's port publishing.",
    ],
    setup: async (ctx) => {
      requestLatencies.set(key, []);
      await world.acquire(ctx);
      daemon = await world.daemon(ctx, target);
      const id = await startServiceApi(daemon.host, world.serviceImage);
      port = await publishedPort(daemon.host, id);
      await pollReady(port);
    },
    sample: async (_ctx: Context, index: number) => {
      const t0 = process.hrtime.bigint();
      const lat = await requestLoop(port, requests, mode);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      if (index >= 0) requestLatencies.get(key)!.push(lat);
      return requests / s;
    },
    teardown: async (ctx) => {
      try {
        if (daemon !== undefined) await removeAll(daemon);
      } finally {
        await world.release(ctx);
      }
    },
  };
}
