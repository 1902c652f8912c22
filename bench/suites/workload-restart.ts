// The workload suite's recovery cases: how soon a container that exits 1 runs again
// under `--restart on-failure` (berth, docker and podman), and how long berthd, a private
// dockerd and the podman service take to come back (SIGTERM, exit, start, /_ping, the
// containers listed) holding N containers.
import { ApiClient } from '../../engine/client/api-client.js';
import type { EventMessage } from '../../engine/api/types.js';
import { unavailable } from '../../engine/errdefs/errors.js';
import { tracedClient } from './daemon-spans.js';
import type { MacroCase } from '../suite.js';
import { removeContainer } from './workload-coldstart.js';
import { SERVICE_REPO } from './workload-images.js';
import { SUITE } from './workload-services.js';
import type { PrivateBerthd } from './private-berthd.js';
import type { PrivatePodman } from './workload-podman.js';
import type { PrivateDockerd } from './runtime-docker.js';
import type { DaemonHandle, WorkloadTarget, WorkloadWorld } from './workload-world.js';

/**
 * Creates a container whose command exits 1 (`/bin/probe exit:1`) under
 * on-failure:1, watches its events and starts it: resolves with the ms between its
 * first `die` and the next `start` (the daemon's timeNano of each event), once the
 * second run ended too. The container is left for the caller to remove.
 */
export async function restartOnce(
  host: string,
  image: string,
  timeoutMs = 60_000,
): Promise<{ ms: number; id: string }> {
  const client = new ApiClient(host);
  const { Id: id } = await client.containerCreate({
    Image: image,
    Cmd: ['/bin/probe', 'exit:1'],
    HostConfig: { NetworkMode: 'none', RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 1 } },
  } as Parameters<ApiClient['containerCreate']>[0]);
  const abort = new AbortController();
  const seen: EventMessage[] = [];
  let wake: () => void = () => undefined;
  const events = client
    .events({ filters: { container: [id], type: ['container'] }, signal: abort.signal }, (e) => {
      seen.push(e);
      wake();
    })
    .catch((err: unknown) => {
      if (!abort.signal.aborted) throw err;
    });
  events.catch(() => undefined);
  const actions = () => seen.map((e) => e.Action);
  const deadline = Date.now() + timeoutMs;
  try {
    // the stream is open once the daemon answered; give it a moment, then start
    await new Promise((r) => setTimeout(r, 50));
    await client.containerStart(id);
    for (;;) {
      const a = actions();
      const die = a.indexOf('die');
      if (die >= 0 && a.indexOf('start', die) >= 0 && a.indexOf('die', a.indexOf('start', die)) >= 0) break;
      if (Date.now() > deadline)
        throw unavailable(
          `container ${id}: no die, start, die within ${timeoutMs / 1000} s under on-failure:1 (events: ${a.join(', ') || 'none'})`,
        );
      await Promise.race([new Promise<void>((r) => (wake = r)), new Promise((r) => setTimeout(r, 200)), events]);
    }
  } catch (err) {
    throw Object.assign(err as Error, { containerId: id });
  } finally {
    abort.abort();
    await events.catch(() => undefined);
  }
  const die = seen.find((e) => e.Action === 'die')!;
  const start = seen.slice(seen.indexOf(die)).find((e) => e.Action === 'start')!;
  const exitCode = die.Actor.Attributes.exitCode;
  if (exitCode !== undefined && exitCode !== '1')
    throw unavailable(`container ${id}: first run ended with exit code ${exitCode}, expected 1`);
  return { ms: (start.timeNano - die.timeNano) / 1e6, id };
}

export function restartPolicyCase(world: WorkloadWorld, target: WorkloadTarget): MacroCase {
  let daemon: DaemonHandle | undefined;
  let id: string | undefined;
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'restart-on-failure',
    target,
    parameters: { level: 'api', policy: 'on-failure:1', image: SERVICE_REPO, network: 'none' },
    unit: 'ms',
    direction: 'lower-is-better',
    group: 'restart-on-failure',
    method:
      "Time in ms from a container's `die` event (`/bin/probe exit:1`, exit code 1) to its next `start` event under RestartPolicy on-failure with MaximumRetryCount 1, " +
      "both read from the daemon's event stream (difference of the events' timeNano, the daemon's clock). Created and started over the API; the sample ends once the restarted run died too; " +
      'the container is removed afterwards (untimed) and the daemon must list none.',
    notes: [
      "Includes the restart policy's back-off before the first restart (Docker's restart manager and berth both wait 100 ms first; podman restarts from its cleanup process once conmon reported the exit).",
    ],
    setup: async (ctx) => {
      await world.acquire(ctx);
      daemon = await world.daemon(ctx, target);
    },
    sample: async () => {
      try {
        const r = await restartOnce(daemon!.host, world.serviceImage);
        id = r.id;
        return r.ms;
      } catch (err) {
        id = (err as { containerId?: string }).containerId;
        throw err;
      }
    },
    afterSample: async () => {
      const client = new ApiClient(daemon!.host);
      if (id !== undefined) await removeContainer(client, id);
      id = undefined;
      const left = await daemon!.containers();
      if (left.length > 0) throw unavailable(`${target}: restart case left container(s) ${left.join(', ')}`);
    },
    teardown: (ctx) => world.release(ctx),
  };
}

/** Polls (every 5 ms, 60 s at most) until `list` gives `containers` ids; more is an error. */
async function untilListed(what: string, list: () => Promise<string[]>, containers: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const n = (await list()).length;
    if (n === containers) return;
    if (n > containers) throw unavailable(`${what} lists ${n} containers after its restart, expected ${containers}`);
    if (Date.now() > deadline)
      throw unavailable(`${what} lists ${n} of ${containers} containers 60 s after its restart`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Creates and starts `n` idle `/bin/sleep` containers (StopSignal SIGKILL, network none) over the API. */
async function startIdle(client: ApiClient, image: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const { Id } = await client.containerCreate({
      Image: image,
      Cmd: ['/bin/sleep'],
      StopSignal: 'SIGKILL',
      HostConfig: { NetworkMode: 'none' },
    } as Parameters<ApiClient['containerCreate']>[0]);
    await client.containerStart(Id);
  }
}

/** Removes every container of the podman service (force) and checks none is listed. */
async function podmanRemoveAll(p: PrivatePodman): Promise<void> {
  const client = new ApiClient(p.host);
  for (const id of await p.containers()) await removeContainer(client, id);
  const left = await p.containers();
  if (left.length > 0) throw unavailable(`podman: container(s) ${left.join(', ')} still listed after removal`);
}

/**
 * The podman service's restart with `containers` running containers: SIGTERM to `podman system service`, its exit
 * (the containers keep running under their conmon), a new service on the same roots, until /_ping answers and
 * GET /containers/json?all=1 lists them all.
 */
export function podmanRestartCase(world: WorkloadWorld, containers: number): MacroCase {
  let podman: PrivatePodman | undefined;
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'daemon-restart',
    target: 'podman',
    parameters: { containers, graphdriver: 'overlay', network: 'none' },
    unit: 'ms',
    direction: 'lower-is-better',
    group: `daemon-restart-${containers}`,
    phases: true,
    method:
      `Wall time in ms from SIGTERM to the private podman service holding ${containers} running container(s) (\`/bin/sleep\` with StopSignal SIGKILL; network none) to the moment a new ` +
      '`podman system service` on the same storage root, run root and config answers /_ping (polled every 5 ms) and lists all of them (GET /containers/json?all=1, polled). ' +
      "podman's containers do not depend on the service (each runs under its conmon), so they run on through the restart; before each sample (untimed) any that is not running is started again.",
    notes: [
      'Phases: client.stop (SIGTERM to exit), client.start (spawn to the first /_ping answer), client.list (until every container is listed).',
      "The service holds no container state in memory: its start opens podman's database and storage, and the listing reads them.",
    ],
    setup: async (ctx) => {
      await world.acquire(ctx);
      podman = await world.podman();
      if (podman.pid === undefined) await podman.restartService();
      await podmanRemoveAll(podman);
      await startIdle(new ApiClient(podman.host), world.serviceImage, containers);
    },
    beforeSample: async () => {
      const p = podman!;
      if (p.pid === undefined) await p.restartService();
      const client = new ApiClient(p.host);
      for (const c of await client.containerList({ all: true }))
        if (c.State !== 'running') await client.containerStart(c.Id);
    },
    sample: async (ctx) => {
      const p = podman!;
      const { step } = tracedClient(ctx, p.host, false);
      await step('stop', () => p.stopService());
      await step('start', () => p.restartService());
      await step('list', () => untilListed('podman service', () => p.containers(), containers));
    },
    teardown: async (ctx) => {
      try {
        if (podman !== undefined && podman.pid === undefined) await podman.restartService();
        if (podman !== undefined) await podmanRemoveAll(podman);
      } finally {
        await world.release(ctx);
      }
    },
  };
}

/** Starts every container of the daemon that is not running (the daemon's stop may have stopped them). */
async function startAll(b: PrivateBerthd): Promise<void> {
  if (b.pid === undefined) await b.startDaemon();
  const client = b.client();
  for (const c of await client.containerList({ all: true }))
    if (c.State !== 'running') await client.containerStart(c.Id);
}

/**
 * Daemon restart with `containers` running containers (`/bin/sleep`, network none):
 * SIGTERM to berthd, its exit, a new berthd on the same root, until /_ping answers
 * and GET /containers/json?all=1 lists them all.
 */
export function daemonRestartCase(world: WorkloadWorld, containers: number): MacroCase {
  let berthd: PrivateBerthd | undefined;
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'daemon-restart',
    target: 'berth',
    parameters: { containers, graphdriver: 'overlay2', network: 'none' },
    unit: 'ms',
    direction: 'lower-is-better',
    group: `daemon-restart-${containers}`,
    phases: true,
    method:
      `Wall time in ms from SIGTERM to the private berthd holding ${containers} running container(s) (\`/bin/sleep\` with StopSignal SIGKILL, so the daemon's stop of them at shutdown waits for no timeout; network none) to the moment a new berthd on the same root ` +
      'answers /_ping (polled every 5 ms) and lists all of them (GET /containers/json?all=1, polled). Before each sample (untimed) every container not running is started again.',
    notes: [
      'Phases: client.stop (SIGTERM to exit), client.start (spawn to the first /_ping answer), client.list (until every container is listed).',
    ],
    setup: async (ctx) => {
      await world.acquire(ctx);
      berthd = await world.berth(ctx);
      if (berthd.pid === undefined) await berthd.startDaemon();
      await berthd.removeAll();
      await startIdle(berthd.client(), world.serviceImage, containers);
    },
    beforeSample: async () => {
      await startAll(berthd!);
    },
    sample: async (ctx) => {
      const b = berthd!;
      // the daemon restarts under the steps: their spans are the client's alone
      const { step } = tracedClient(ctx, b.host, false);
      await step('stop', () => b.stopDaemon());
      await step('start', () => b.startDaemon());
      await step('list', () => untilListed('berthd', () => b.containers(), containers));
    },
    teardown: async (ctx) => {
      try {
        if (berthd !== undefined && berthd.pid !== undefined) await berthd.removeAll();
      } finally {
        await world.release(ctx);
      }
    },
  };
}

/** Force-removes every container of the private dockerd and checks none is listed. */
async function dockerRemoveAll(d: PrivateDockerd): Promise<void> {
  const client = new ApiClient(`unix://${d.socket}`);
  for (const id of await d.containers()) await removeContainer(client, id);
  const left = await d.containers();
  if (left.length > 0) throw unavailable(`docker: container(s) ${left.join(', ')} still listed after removal`);
}

/**
 * The private dockerd's restart with `containers` containers recorded (`/bin/sleep`, StopSignal SIGKILL, network
 * none): SIGTERM to dockerd (live restore off, so it stops them and its containerd), its exit, a new dockerd on the
 * same data root, exec root, pidfile and socket, until /_ping answers and GET /containers/json?all=1 lists them all.
 */
export function dockerRestartCase(world: WorkloadWorld, containers: number): MacroCase {
  let dockerd: PrivateDockerd | undefined;
  const host = () => `unix://${dockerd!.socket}`;
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'daemon-restart',
    target: 'docker',
    parameters: { containers, graphdriver: 'overlay2', network: 'none' },
    unit: 'ms',
    direction: 'lower-is-better',
    group: `daemon-restart-${containers}`,
    phases: true,
    method:
      `Wall time in ms from SIGTERM to the private dockerd holding ${containers} running container(s) (\`/bin/sleep\` with StopSignal SIGKILL; network none; --live-restore=false, so dockerd stops them and its containerd at shutdown, as berthd does) ` +
      'to the moment a new dockerd on the same data root, exec root, pidfile and socket (its own managed containerd) answers /_ping (polled every 5 ms) and lists all of them ' +
      '(GET /containers/json?all=1, polled). Before each sample (untimed) every container not running is started again.',
    notes: [
      'Phases: client.stop (SIGTERM to the exit of dockerd and its containerd), client.start (spawn to the first /_ping answer), client.list (until every container is listed).',
    ],
    setup: async (ctx) => {
      await world.acquire(ctx);
      dockerd = await world.docker();
      if (dockerd.pid === undefined) await dockerd.startDaemon();
      await dockerRemoveAll(dockerd);
      await startIdle(new ApiClient(host()), world.serviceImage, containers);
    },
    beforeSample: async () => {
      const d = dockerd!;
      if (d.pid === undefined) await d.startDaemon();
      const client = new ApiClient(host());
      for (const c of await client.containerList({ all: true }))
        if (c.State !== 'running') await client.containerStart(c.Id);
    },
    sample: async (ctx) => {
      const d = dockerd!;
      const { step } = tracedClient(ctx, host(), false);
      await step('stop', () => d.stopDaemon());
      await step('start', () => d.startDaemon());
      // listed over the API, as berthd's and podman's containers are (not through the docker command line)
      const client = new ApiClient(host());
      await step('list', () =>
        untilListed('dockerd', async () => (await client.containerList({ all: true })).map((c) => c.Id), containers),
      );
    },
    teardown: async (ctx) => {
      try {
        if (dockerd !== undefined && dockerd.pid === undefined && world.dockerOpen) await dockerd.startDaemon();
        if (dockerd !== undefined && dockerd.pid !== undefined) await dockerRemoveAll(dockerd);
      } finally {
        await world.release(ctx);
      }
    },
  };
}
