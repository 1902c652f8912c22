// The `run` suite: one container run end to end with berth's modules composed in
// this process the way the Engine's create/start/wait jobs do it — rw layer on the
// image's chain from the Graph, mount, execdriver create/start/wait with the network
// given while the child waits, then release, delete, unmount and remove — per
// graphdriver (on tmpfs) and network mode, with phases from every module's spans.
import { isBerthError, unavailable } from '../../engine/errdefs/errors.js';
import { defaultSpec } from '../../engine/execdriver/spec/defaults.js';
import { validateSpec } from '../../engine/execdriver/spec/validate.js';
import type { Context } from '../../engine/trace/index.js';
import { call, leftoversOf, onPath } from '../peers/index.js';
import type { CaseDef, MacroCase, Suite, SuiteContext } from '../suite.js';
import { dockerMissing, DOCKER_BRIDGE, PrivateDockerd } from './runtime-docker.js';
import { STATIC_IMAGE } from './runtime-image.js';
import { RunWorld, type RunGraphdriver } from './runtime-run-world.js';

const SUITE = 'run';
export const GRAPHDRIVERS: readonly RunGraphdriver[] = ['overlay2', 'vfs'];
export const NETWORKS = ['none', 'bridge'] as const;
export type RunNetwork = (typeof NETWORKS)[number];

/** Why podman is not measured by this suite (recorded as a warning when asked for). */
export function podmanSkipReason(): string {
  if (onPath('podman') === undefined) return 'target podman left out: podman not installed (not on PATH)';
  return 'target podman left out: running podman with a private storage root, run root and network config that it cleans up is not built yet';
}

/**
 * One run of container `id`, as the engine's jobs compose it. Every step that
 * succeeded is undone, in reverse, also when a later one fails; the first error is
 * rethrown; a non-zero exit of /bin/true fails it (UNAVAILABLE).
 */
export async function runOnce(ctx: Context, world: RunWorld, driver: RunGraphdriver, network: RunNetwork, id: string): Promise<void> {
  const { graph } = await world.graph(ctx, driver);
  const undo: (() => Promise<unknown>)[] = [];
  let failure: unknown;
  try {
    await graph.createContainerLayer(ctx, id, STATIC_IMAGE);
    undo.push(() => graph.removeContainerLayer(ctx, id));
    const rootfs = await graph.layers.mountRW(ctx, id);
    undo.push(() => graph.layers.unmountRW(ctx, id));
    // Docker's seccomp profile, as docker run applies it: the comparison stays like for like
    const raw = defaultSpec({ args: ['/bin/true'], rootfs, hostname: 'berth-run', seccomp: true });
    raw.root!.readonly = false;
    const spec = validateSpec(raw, world.dir);
    let allocated = false;
    undo.push(async () => {
      if (!allocated) return;
      await world.net.releaseInterface(ctx, id);
      world.network.forget(id);
    });
    await world.exec.create(ctx, id, { dir: world.dir, spec }, {
      stdio: ['ignore', 'ignore', 'ignore'],
      beforeSetup: async (c, pid) => {
        allocated = true;
        await world.net.allocateInterface(c, { containerId: id, network, netns: { pid }, hostname: 'berth-run' });
      },
    });
    undo.push(() => world.exec.delete(ctx, id));
    await world.exec.start(ctx, id);
    const status = await world.exec.wait(ctx, id);
    if (status.exitCode !== 0) throw unavailable(`container ${id}: /bin/true ended with ${JSON.stringify(status)}`);
  } catch (err) {
    failure = err;
  }
  // release the interface, delete the container, unmount, remove the layer
  for (const step of undo.reverse()) {
    try {
      await step();
    } catch (err) {
      if (!isBerthError(err, 'NOT_FOUND')) failure ??= err;
    }
  }
  if (failure !== undefined) throw failure;
}

function runCase(world: RunWorld, driver: RunGraphdriver, network: RunNetwork): MacroCase {
  let id: string | undefined;
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'run',
    target: 'berth',
    parameters: { graphdriver: driver, network, image: STATIC_IMAGE },
    unit: 'ms',
    direction: 'lower-is-better',
    group: 'run',
    phases: true,
    method:
      `Wall time in ms of one \`run --rm\` of ${STATIC_IMAGE} (two layers: the static /bin/true, sleep, probe) composed in-process as the Engine does: ` +
      `Graph.createContainerLayer on the image's layer chain (${driver} graphdriver on a tmpfs of the suite's own), mountRW, OCI spec (berth's defaultSpec, ` +
      `read-write root) validated, ExecDriver.create with networkdriver.allocateInterface(${network}) run with the child's pid while it waits, start, wait, ` +
      'then releaseInterface, ExecDriver.delete, unmountRW and removeContainerLayer. Unique container id per sample; afterwards (untimed) no cgroup, process or mount of it may be left.',
    notes:
      network === 'bridge'
        ? ['The bridge is the network bench\'s own (bnb<pid>, a free /24): veth created with its peer in the container\'s namespace, address and route set there. No etc files are written (nothing mounts them into this container).']
        : ['network none: the container\'s own network namespace with only lo, brought up by the networkdriver.'],
    setup: async (ctx) => {
      await world.acquire(ctx);
      await world.graph(ctx, driver);
    },
    beforeSample: () => {
      id = world.network.nextContainerId();
    },
    sample: (ctx) => runOnce(ctx, world, driver, network, id!),
    afterSample: async () => {
      const left = [...leftoversOf(id!), ...(await world.mountsLeft()).map((m) => `mount ${m}`)];
      if (left.length > 0) throw unavailable(`container ${id}: left behind: ${left.join(', ')}`);
    },
    teardown: (ctx) => world.release(ctx),
  };
}

/** `docker run --rm` of the same image on a private dockerd (see PrivateDockerd), timed from spawn to exit. */
function dockerCase(dockerd: PrivateDockerd, network: RunNetwork): MacroCase {
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'run',
    target: 'docker',
    parameters: { graphdriver: 'overlay2', network, image: STATIC_IMAGE },
    unit: 'ms',
    direction: 'lower-is-better',
    group: 'run-docker',
    method:
      `Wall time in ms from spawning \`docker run --rm --network ${network} ${STATIC_IMAGE} /bin/true\` to its exit, against a private dockerd ` +
      `(overlay2 on a tmpfs data root of its own, own exec root, pidfile and socket, bridge ${DOCKER_BRIDGE}, --iptables=false --ip-forward=false --ip-masq=false); ` +
      'the image is a `docker import` of a tar of the same static rootfs. After each sample (untimed) the daemon must list no container.',
    notes: [
      'Measured in a group of its own (the docker CLI and daemon round trips make a sample ≈10× berth\'s), so it is not interleaved with berth\'s run cases.',
      'Includes the docker CLI\'s start-up and its API calls (create, attach, start, wait, remove) over the unix socket.',
    ],
    setup: async () => {
      await dockerd.acquire();
    },
    sample: async () => {
      const r = await call(dockerd.cli(['run', '--rm', '--network', network, STATIC_IMAGE, '/bin/true']));
      if (r.code !== 0) throw unavailable(`docker run --rm ${STATIC_IMAGE}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
    },
    afterSample: async () => {
      const left = await dockerd.containers();
      if (left.length > 0) throw unavailable(`docker run --rm left container(s) ${left.join(', ')}`);
    },
    teardown: () => dockerd.release(),
  };
}

function buildCases(ctx: SuiteContext): CaseDef[] {
  const world = new RunWorld(ctx.dataRoot);
  const cases: CaseDef[] = [];
  if (ctx.targets.includes('berth')) {
    for (const driver of GRAPHDRIVERS) for (const network of NETWORKS) cases.push(runCase(world, driver, network));
  }
  if (ctx.targets.includes('docker')) {
    const missing = dockerMissing();
    if (missing !== undefined) ctx.warn(missing);
    else {
      const dockerd = new PrivateDockerd(ctx.dataRoot);
      ctx.warn(
        `docker: measured against a private dockerd (own data root on tmpfs, exec root, pidfile, socket, bridge ${DOCKER_BRIDGE}; ` +
          '--iptables=false --ip-forward=false --ip-masq=false, so no iptables chains or sysctls change); stopped and removed after the suite, /etc/docker/key.json removed if it did not exist before',
      );
      for (const network of NETWORKS) cases.push(dockerCase(dockerd, network));
    }
  }
  if (ctx.targets.includes('podman')) ctx.warn(podmanSkipReason());
  return cases;
}

async function requirements(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (mounts, namespaces, cgroups, bridge)';
  return undefined;
}

export const runSuite: Suite = {
  name: SUITE,
  description: 'container create/start/wait end to end (graph, graphdriver, execdriver, networkdriver composed in-process) with a per-phase breakdown',
  targets: ['berth', 'docker', 'podman'],
  requires: requirements,
  cases: buildCases,
};
