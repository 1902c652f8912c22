// The `workload` suite: what a user of a container engine waits for beyond one run —
// a service answering on its published port (ready time, then request latency and
// throughput), a cold start of a realistic image with its pull, a restart under
// on-failure and the daemon's own restart with containers on it. berth through a
// private berthd, docker through a private dockerd, podman through a private podman
// service (its services on a netavark bridge network of its own); each left out with its
// reason when absent.
import type { Profile } from '../results/document.js';
import type { CaseDef, DerivedCase, MacroCase, MeasuredCase, Suite, SuiteContext } from '../suite.js';
import { scaled } from '../profiles.js';
import { dockerMissing, DOCKER_BRIDGE } from './runtime-docker.js';
import { coldKey, COLD_PARTS, coldSplits, coldStartCase, type ColdPart, type ColdSplit } from './workload-coldstart.js';
import { COLD_IMAGES, SERVICE_REPO } from './workload-images.js';
import { netavarkMissing } from './podman-network.js';
import { podmanMissing } from './workload-podman.js';
import { daemonRestartCase, dockerRestartCase, podmanRestartCase, restartPolicyCase } from './workload-restart.js';
import { readyCase, requestKey, requestLatencies, requestsCase, SUITE, type RequestMode } from './workload-services.js';
import { WorkloadWorld, type WorkloadTarget } from './workload-world.js';

export { GOAL_READY_RATIO } from './workload-services.js';

const REQUEST_MODES: readonly RequestMode[] = ['keep-alive', 'new-connection'];

/** What the suite measures; tests shrink it. */
export interface WorkloadOptions {
  /** Requests per service-requests sample. */
  requests: number;
  /** The service-requests modes measured (none: no request cases). */
  requestModes: readonly RequestMode[];
  /** Corpus images cold start measures. */
  coldImages: readonly string[];
  /** Container counts of the daemon restart cases. */
  restartContainers: readonly number[];
  /**
   * Fewer warm-up runs and samples for the cases whose samples cost seconds (cold start, restart under on-failure,
   * daemon restart); the service-ready cases, which the goal is read from, keep the profile's.
   */
  costlySampling?: { warmup: number; minSamples: number };
}

/** quick: samples of the costly cases (cold start, restarts); 3 give a median that one outlier cannot move. */
export const QUICK_COSTLY_SAMPLING = { warmup: 1, minSamples: 3 } as const;

/**
 * The sizes of a profile. default and full: the whole matrix (1000 requests, scaled, in both modes; cold start of
 * every corpus image; daemon restart with 0, 10 and 50 containers). quick, for CI-like checks, keeps the goal's cases
 * (service ready time at the api and cli levels, the profile's samples) and one of each other workload: the cold
 * start of the Debian image only, restart under on-failure and daemon restart with 0 and 10 containers, those with
 * 1 warm-up run and 3 samples; no service-requests cases.
 */
export function workloadOptions(ctx: Pick<SuiteContext, 'settings' | 'profile'>): WorkloadOptions {
  if (ctx.profile === 'quick')
    return {
      requests: scaled(ctx.settings, 1000, 50),
      requestModes: [],
      coldImages: [COLD_IMAGES[0]],
      restartContainers: [0, 10],
      costlySampling: QUICK_COSTLY_SAMPLING,
    };
  return {
    requests: scaled(ctx.settings, 1000, 50),
    requestModes: REQUEST_MODES,
    coldImages: COLD_IMAGES,
    restartContainers: [0, 10, 50],
  };
}

/** Why podman's service cases are left out when netavark is missing (a warning then). */
export const PODMAN_SERVICES_LEFT_OUT =
  'podman: service cases left out: publishing a port needs its bridge network, and netavark is not installed (apt-get install netavark; the CNI plugins are not used: their portmap chains are shared by every CNI user on the host)';

/** The cases for `ctx.targets` with `options`; warnings for targets left out. */
export function workloadCases(ctx: SuiteContext, options: WorkloadOptions): CaseDef[] {
  const world = new WorkloadWorld({ dataRoot: ctx.dataRoot, profile: ctx.profile as Profile, seed: ctx.seed });
  const targets: ('berth' | 'docker')[] = [];
  if (ctx.targets.includes('berth')) targets.push('berth');
  if (ctx.targets.includes('docker')) {
    const missing = dockerMissing();
    if (missing !== undefined) ctx.warn(missing);
    else {
      targets.push('docker');
      ctx.warn(
        `docker: measured against a private dockerd (own data root on tmpfs, exec root, pidfile, socket, bridge ${DOCKER_BRIDGE}; ` +
          '--iptables=false --ip-forward=false --ip-masq=false, so published ports go through docker-proxy and no iptables chains or sysctls change); stopped and removed after the suite',
      );
    }
  }
  const all: WorkloadTarget[] = [...targets];
  const served: WorkloadTarget[] = [...targets];
  if (ctx.targets.includes('podman')) {
    const missing = podmanMissing();
    if (missing !== undefined) ctx.warn(missing);
    else {
      all.push('podman');
      ctx.warn(
        'podman: measured through a private `podman system service` speaking the Docker API (storage root on tmpfs, own run root, tmpdir, socket, containers.conf, registries.conf and network config folder; ' +
          'cgroupfs, events backend file, runtime runc, ulimits nofile=20000:20000 nproc=4096:4096; network backend netavark with a bridge network of its own as the default, DNS off); ' +
          'stopped and removed after the suite, with its conmon processes, the libpod cgroups it made and what netavark left on the host for its network (firewall chains and rules, bridge, veths, netns files)',
      );
      if (netavarkMissing() === undefined) served.push('podman');
      else ctx.warn(PODMAN_SERVICES_LEFT_OUT);
    }
  }
  const cases: CaseDef[] = [];
  const costly: MacroCase[] = [];
  for (const level of ['api', 'cli'] as const) for (const t of served) cases.push(readyCase(world, t, level));
  for (const mode of options.requestModes)
    for (const t of served) cases.push(requestsCase(world, t, mode, options.requests));
  for (const image of options.coldImages)
    for (const t of all) costly.push(coldStartCase(world, t, image, options.coldImages));
  for (const t of all) costly.push(restartPolicyCase(world, t));
  for (const n of options.restartContainers) {
    if (targets.includes('berth')) costly.push(daemonRestartCase(world, n));
    if (targets.includes('docker')) costly.push(dockerRestartCase(world, n));
    if (all.includes('podman')) costly.push(podmanRestartCase(world, n));
  }
  const sampling = options.costlySampling;
  for (const c of costly) cases.push(sampling === undefined ? c : { ...c, sampling });
  const left = [
    ...(options.requestModes.length < REQUEST_MODES.length
      ? [
          `service-requests ${REQUEST_MODES.filter((m) => !options.requestModes.includes(m)).join(' and ')} (latency and throughput through the published port)`,
        ]
      : []),
    ...(options.coldImages.length < COLD_IMAGES.length
      ? [`cold start of ${COLD_IMAGES.filter((i) => !options.coldImages.includes(i)).join(' and ')}`]
      : []),
  ];
  ctx.warn(
    `workload sizes (${ctx.profile} profile): service ready at api and cli; ` +
      (options.requestModes.length > 0
        ? `${options.requests} requests per batch (${options.requestModes.join(', ')}); `
        : '') +
      `cold start of ${options.coldImages.join(', ')}; restart under on-failure; daemon restart with ${options.restartContainers.join(', ')} containers` +
      (sampling === undefined
        ? ''
        : `; cold start and restarts with ${sampling.warmup} warm-up run(s) and ${sampling.minSamples} samples (fewer than the profile's)`) +
      (left.length > 0 ? `. Left out in this profile (the default profile has them): ${left.join('; ')}` : ''),
  );
  world.expect(cases.length);
  return cases;
}

const PULL_PARTS: ReadonlySet<ColdPart> = new Set(['fetch', 'apply', 'register']);
const PART_TEXT: Record<ColdPart, string> = {
  fetch:
    "the pull's time with no layer being applied before the last apply ended (manifest, config, layer downloads not hidden behind an apply, waits).",
  apply:
    "the pull's time while some layer was being applied (berth: graphdriver applyDiff spans of berthd; docker: from a layer's Extracting to its Pull complete in the progress stream); downloads stream into the apply, so download time it hides counts here.",
  register:
    "the pull's time with no apply but the graph recording layers or the image (berth: graph spans of berthd), or after the last apply ended (records, references, the end of the progress stream).",
  pull: 'POST /images/create until its progress stream ended, not split further (the progress stream tells no apply apart).',
  create: 'the create call and the attach (stdout/stderr stream) set up before the start.',
  start: 'the start call.',
  'first-output': "from the start's answer to the container's first output line on the attach stream.",
};

/**
 * The derived cases: per-request latency of the service-requests cases (every
 * request of the measured batches, so the stats give p50/p95/p99), and the cold
 * starts' split into fetch, apply, register (or pull), create, start and first output
 * (ms; the parts of a sample add up to it) and the pull's share of the whole.
 */
export function deriveWorkload(measured: readonly MeasuredCase[]): DerivedCase[] {
  const out: DerivedCase[] = [];
  for (const m of measured) {
    const p = m.info.parameters;
    if (m.info.case === 'service-requests') {
      const batches = requestLatencies.get(requestKey(m.info.target, p.mode as RequestMode)) ?? [];
      const samples = batches.slice(-m.samples.length).flat();
      if (samples.length === 0) continue;
      out.push({
        suite: SUITE,
        case: 'service-request-latency',
        target: m.info.target,
        parameters: { mode: p.mode!, requests: p.requests!, image: SERVICE_REPO, publish: p.publish! },
        unit: 'us',
        direction: 'lower-is-better',
        method: `Round-trip time in µs of each GET / of the service-requests samples (${m.samples.length} batches of ${p.requests} sequential requests, ${p.mode}) through the port published on 127.0.0.1, from writing the request to reading the whole response.`,
        samples,
        derived: { from: [m.info], how: 'recorded-alongside', pairing: 'same-sample' },
      });
    }
    if (m.info.case === 'cold-start') {
      const splits = (coldSplits.get(coldKey(m.info.target, String(p.image))) ?? []).slice(-m.samples.length);
      if (splits.length === 0) continue;
      const base = {
        suite: SUITE,
        target: m.info.target,
        direction: 'lower-is-better' as const,
        derived: { from: [m.info], how: 'recorded-alongside' as const, pairing: 'same-sample' as const },
      };
      const pullOf = (x: ColdSplit) => x.pull ?? (x.fetch ?? 0) + (x.apply ?? 0) + (x.register ?? 0);
      const split = splits.every((x) => x.apply !== undefined);
      const parts = COLD_PARTS.filter((part) =>
        part === 'pull' ? !split : PULL_PARTS.has(part) ? split : splits.every((x) => x[part] !== undefined),
      );
      for (const part of parts) {
        out.push({
          ...base,
          case: 'cold-start-split',
          parameters: { level: 'api', image: p.image!, part },
          unit: 'ms',
          method: `The ${part} part of each cold-start sample of ${p.image}: ${PART_TEXT[part]}`,
          samples: splits.map((x) => (part === 'pull' ? pullOf(x) : x[part]!)),
        });
      }
      const share = splits.map((x) => (100 * pullOf(x)) / (pullOf(x) + x.create! + x.start! + x['first-output']!));
      const sorted = [...share].sort((a, b) => a - b);
      out.push({
        ...base,
        case: 'cold-start-pull-share',
        parameters: { level: 'api', image: p.image! },
        unit: 'percent',
        method: `The pull's share in % of each cold-start sample of ${p.image} (pull / (pull + create, attach, start, first output)).`,
        notes: [
          `Median pull share ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} % of the cold start (Slacker reports pulls as about three quarters of container start time for its images).`,
        ],
        samples: share,
      });
    }
  }
  return out;
}

async function requirements(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (a private berthd with mounts, cgroups, bridge and iptables)';
  return undefined;
}

export const workloadSuite: Suite = {
  name: SUITE,
  description:
    'services (ready time on a published port, request latency and throughput), cold start of realistic images with the pull split out, restart under on-failure and daemon restart with containers; berth beside docker and podman',
  targets: ['berth', 'docker', 'podman'],
  requires: requirements,
  cases: (ctx) => workloadCases(ctx, workloadOptions(ctx)),
  derive: deriveWorkload,
};
