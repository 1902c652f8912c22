// The `run` suite: one container run end to end through berth's Engine — the jobs
// create, wait, start and delete on an engine made by createEngine, the way berthd
// serves `docker run --rm` — per graphdriver (on tmpfs) and network mode, with
// phases from the jobs' and every module's spans.
import { isBerthError, unavailable } from '../../engine/errdefs/errors.js';
import type { Engine } from '../../engine/jobs/engine.js';
import type { Context } from '../../engine/trace/index.js';
import { call, leftoversOf, onPath } from '../peers/index.js';
import type { CaseDef, MacroCase, Suite, SuiteContext } from '../suite.js';
import { staticImageBerthd } from './run-berthd.js';
import { berthApiCase, berthCliCase, deriveLevels, dockerApiCase, type DaemonFigures } from './run-levels.js';
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
 * One `run --rm` through the Engine's jobs, as berthd runs it for a client:
 * create, wait (next-exit, armed before start), start, the exit, delete. The
 * delete runs also when a step failed; the first error is rethrown; a non-zero
 * exit of /bin/true fails it (UNAVAILABLE). Returns the container's id.
 */
export async function runOnce(ctx: Context, engine: Engine, network: RunNetwork): Promise<string> {
  const { Id: id } = await engine.job(ctx, 'create', {
    config: { Image: STATIC_IMAGE, Cmd: ['/bin/true'], Hostname: 'berth-run', HostConfig: { NetworkMode: network } },
  });
  let failure: unknown;
  const waiting = engine.job(ctx, 'wait', { id, condition: 'next-exit' });
  waiting.catch(() => undefined);
  try {
    await engine.job(ctx, 'start', { id });
    const { StatusCode } = await waiting;
    if (StatusCode !== 0) throw unavailable(`container ${id}: /bin/true ended with exit code ${StatusCode}`);
  } catch (err) {
    failure = err;
  }
  try {
    await engine.job(ctx, 'delete', { id, force: true });
  } catch (err) {
    if (!isBerthError(err, 'NOT_FOUND')) failure ??= err;
  }
  if (failure !== undefined) throw failure;
  return id;
}

function runCase(world: RunWorld, driver: RunGraphdriver, network: RunNetwork): MacroCase {
  let id: string | undefined;
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'run',
    target: 'berth',
    parameters: { level: 'in-process', graphdriver: driver, network, image: STATIC_IMAGE },
    unit: 'ms',
    direction: 'lower-is-better',
    group: 'run',
    phases: true,
    method:
      `Wall time in ms of one \`run --rm\` of ${STATIC_IMAGE} (two layers: the static /bin/true, sleep, probe) through berth's Engine, as berthd runs it ` +
      `for a client: jobs create (image lookup, Config merge, read-write layer on the ${driver} graphdriver, on a tmpfs of the suite's own), wait (next-exit), ` +
      `start (mount, user from the image, OCI spec with Docker's defaults and seccomp profile, ExecDriver.create with networkdriver.allocateInterface(${network}) ` +
      'while the child waits, etc files, start) and the exit handling (interface released, process deleted, unmount, state recorded), then delete (layer and record removed). ' +
      'One engine per graphdriver, opened before the samples; afterwards (untimed) no cgroup, process or mount of the container may be left.',
    notes:
      network === 'bridge'
        ? [
            "The engine's default network on a bridge of the suite's own (bnr<pid><o|v>, a free /24): veth created with its peer in the container's namespace, address and route set there, hosts/hostname/resolv.conf written and bind-mounted.",
          ]
        : [
            "network none: the container's own network namespace with only lo, brought up by the networkdriver; hosts/hostname/resolv.conf written and bind-mounted.",
          ],
    setup: async (ctx) => {
      await world.acquire(ctx);
      await world.engine(ctx, driver);
    },
    sample: async (ctx) => {
      id = await runOnce(ctx, (await world.engine(ctx, driver)).engine, network);
    },
    afterSample: async () => {
      const left = [
        ...(id === undefined ? [] : leftoversOf(id)),
        ...(await world.mountsLeft()).map((m) => `mount ${m}`),
      ];
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
    parameters: { level: 'cli', graphdriver: 'overlay2', network, image: STATIC_IMAGE },
    unit: 'ms',
    direction: 'lower-is-better',
    group: 'run-docker',
    method:
      `Wall time in ms from spawning \`docker run --rm --network ${network} ${STATIC_IMAGE} /bin/true\` to its exit, against a private dockerd ` +
      `(overlay2 on a tmpfs data root of its own, own exec root, pidfile and socket, bridge ${DOCKER_BRIDGE}, --iptables=false --ip-forward=false --ip-masq=false); ` +
      'the image is a `docker import` of a tar of the same static rootfs. After each sample (untimed) the daemon must list no container.',
    notes: [
      "Measured in a group of its own (the docker CLI and daemon round trips make a sample ≈10× berth's), so it is not interleaved with berth's run cases.",
      "Includes the docker CLI's start-up and its API calls (create, attach, start, wait, remove) over the unix socket.",
    ],
    setup: async () => {
      await dockerd.acquire();
    },
    sample: async () => {
      const r = await call(dockerd.cli(['run', '--rm', '--network', network, STATIC_IMAGE, '/bin/true']));
      if (r.code !== 0)
        throw unavailable(`docker run --rm ${STATIC_IMAGE}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
    },
    afterSample: async () => {
      const left = await dockerd.containers();
      if (left.length > 0) throw unavailable(`docker run --rm left container(s) ${left.join(', ')}`);
    },
    teardown: () => dockerd.release(),
  };
}

/** What the last buildCases() started beside its cases (the daemons whose RSS derive() reports). */
let figures: DaemonFigures = {};

function buildCases(ctx: SuiteContext): CaseDef[] {
  const world = new RunWorld(ctx.dataRoot);
  const cases: CaseDef[] = [];
  figures = {};
  if (ctx.targets.includes('berth')) {
    for (const driver of GRAPHDRIVERS) for (const network of NETWORKS) cases.push(runCase(world, driver, network));
    // api and cli levels through a private berthd (one group: one daemon for all four)
    const berthd = staticImageBerthd(ctx.dataRoot);
    figures.berthd = berthd;
    for (const network of NETWORKS) cases.push(berthApiCase(berthd, network));
    for (const network of NETWORKS) cases.push(berthCliCase(berthd, network));
  }
  if (ctx.targets.includes('docker')) {
    const missing = dockerMissing();
    if (missing !== undefined) ctx.warn(missing);
    else {
      const dockerd = new PrivateDockerd(ctx.dataRoot);
      ctx.warn(
        `docker: measured against a private dockerd (own data root on tmpfs, exec root, pidfile, socket, bridge ${DOCKER_BRIDGE}; ` +
          "--iptables=false --ip-forward=false --ip-masq=false, so no iptables chains or sysctls change); stopped and removed after the suite; its config and trust key are in its own folder, so the host's /etc/docker is never touched",
      );
      figures.dockerd = dockerd;
      for (const network of NETWORKS) cases.push(dockerApiCase(dockerd, network));
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
  description:
    "container create/start/wait end to end at three levels — in-process through the Engine, over the API socket, through the CLI — berth beside docker, with a per-phase breakdown and the daemons' RSS",
  targets: ['berth', 'docker', 'podman'],
  requires: requirements,
  cases: buildCases,
  derive: (measured) => deriveLevels(measured, figures),
};
