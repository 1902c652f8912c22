// The `lifecycle` suite: container lifecycle throughput (N workers looping create ->
// start -> wait/stop -> remove, bucketbench-style) and density (the start of one more
// container against the number already running, with the daemon's RSS and PSS),
// berth through a private berthd beside docker through a private dockerd over their API
// socket with the same client (level api), and the same loop through each command line,
// podman's too (level cli), with podman's density steps over its API on a netavark
// bridge of its own; every ratio is between the same level.
import os from 'node:os';
import { ApiClient } from '../../engine/client/api-client.js';
import { isBerthError, unavailable } from '../../engine/errdefs/errors.js';
import { scaled } from '../profiles.js';
import { median } from '../stats.js';
import type { CaseDef, DerivedCase, MacroCase, MeasuredCase, Suite, SuiteContext } from '../suite.js';
import { memoryReads } from './daemon-memory.js';
import { createProbeContainer, DENSITY_NETWORK, IdleFleet, timedStart } from './lifecycle-density.js';
import {
  berthDaemon,
  dockerDaemon,
  podmanDaemon,
  SharedDaemon,
  type ApiDaemon,
  type LifecycleTarget,
} from './lifecycle-daemons.js';
import {
  apiLifecycle,
  cliLifecycle,
  endOpName,
  lifecycleRound,
  LOOP_NETWORK,
  OPS,
  WORKLOADS,
  type Op,
  type Workload,
} from './lifecycle-loop.js';
import { netavarkMissing } from './podman-network.js';
import { podmanMissing } from './workload-podman.js';
import { staticImageBerthd } from './run-berthd.js';
import { dockerMissing, PrivateDockerd } from './runtime-docker.js';
import { STATIC_IMAGE } from './runtime-image.js';

const SUITE = 'lifecycle';
const LEVEL = 'api';
export type Level = 'api' | 'cli';
/** Goals recorded in the notes. */
export const GOAL_THROUGHPUT_RATIO = 5;
export const GOAL_THROUGHPUT_CONCURRENCY = 4;
export const GOAL_DENSITY_RATIO = 1.2;
export const GOAL_DENSITY_RUNNING = 100;
export const GOAL_MEMORY_FRACTION = 0.25;
/** quick: no lifecycle starts after this many ms of a round (sizesFor). */
export const QUICK_ROUND_CAP_MS = 2_000;
/** At most this many latencies per operation case (evenly thinned in the order taken), so the bootstrap stays cheap. */
export const MAX_LATENCIES = 2000;

/** The sizes one run measures. */
export interface LifecycleSizes {
  /** Concurrencies and workloads of the api level. */
  concurrencies: readonly number[];
  workloads: readonly Workload[];
  /** Concurrencies and workloads of the cli level (a process per operation costs more). */
  cliConcurrencies: readonly number[];
  cliWorkloads: readonly Workload[];
  /** Lifecycles each worker runs per sample. */
  perWorker: number;
  /** When set, a worker starts no further lifecycle once its round has run this many ms (each runs one). */
  roundCapMs?: number;
  /** Idle containers running at each density step, ascending, starting at 0. */
  running: readonly number[];
  /** The targets whose density steps run (those whose daemon has them). */
  densityTargets: readonly LifecycleTarget[];
}

/**
 * The sizes of a profile. default and full: the whole matrix (both workloads at concurrency 1, 2, 4, 8 on both
 * levels; density 0, 10, 50, 100 on every target). quick, for CI-like checks, keeps what the goals are read from and
 * little more: the api level at concurrency 1 (the scaling reference) and 4 (the goal case) for both workloads, the
 * cli level of /bin/true at 4 only (podman's one case), 2 lifecycles per worker with no new one started after 2 s of
 * a round, and density 0 and 100 for berth and docker only.
 */
export function sizesFor(ctx: Pick<SuiteContext, 'profile' | 'settings'>): LifecycleSizes {
  if (ctx.profile === 'quick')
    return {
      concurrencies: [1, GOAL_THROUGHPUT_CONCURRENCY],
      workloads: WORKLOADS,
      cliConcurrencies: [GOAL_THROUGHPUT_CONCURRENCY],
      cliWorkloads: ['true'],
      perWorker: scaled(ctx.settings, 8, 2),
      roundCapMs: QUICK_ROUND_CAP_MS,
      running: [0, GOAL_DENSITY_RUNNING],
      densityTargets: ['berth', 'docker'],
    };
  return {
    concurrencies: [1, 2, 4, 8],
    workloads: WORKLOADS,
    cliConcurrencies: [1, 2, 4, 8],
    cliWorkloads: WORKLOADS,
    perWorker: scaled(ctx.settings, 8, 2),
    running: [0, 10, 50, GOAL_DENSITY_RUNNING],
    densityTargets: ['berth', 'docker', 'podman'],
  };
}

interface ThroughputRecord {
  target: LifecycleTarget;
  level: Level;
  workload: Workload;
  concurrency: number;
  errors: number[];
  latencies: Record<Op, number[]>;
}

interface MemoryRecord {
  target: LifecycleTarget;
  running: number;
  rss: number[];
  pss: number[];
  processes: number;
}

/** What the cases recorded beside their samples, for derive(). */
interface Records {
  throughput: Map<MacroCase, ThroughputRecord>;
  memory: MemoryRecord[];
  cores: number;
}

export interface LifecycleOptions {
  /** The sizes (default: from the profile, sizesFor). */
  sizes?: (ctx: SuiteContext) => LifecycleSizes;
  /**
   * The client a throughput worker uses (default: the typed API client on the daemon's socket); tests inject failures
   * here.
   */
  client?: (daemon: ApiDaemon) => ApiClient;
}

const workloadText = (w: Workload) =>
  w === 'true'
    ? '/bin/true (waited for, next-exit armed before start)'
    : '/bin/sleep 3600 (stopped with timeout 0: SIGTERM, then SIGKILL)';

function throughputCase(
  shared: SharedDaemon,
  records: Records,
  options: LifecycleOptions,
  workload: Workload,
  concurrency: number,
  perWorker: number,
  roundCapMs: number | undefined,
  level: Level,
): MacroCase {
  const daemon = shared.daemon;
  const clientOf = options.client ?? ((d: ApiDaemon) => new ApiClient(d.host));
  const how =
    level === 'api'
      ? `sent with berth's typed API client (Docker Engine API v1.41) over the unix socket of ${daemon.description}`
      : `each operation one process of ${daemon.target}'s command line (${daemon.target === 'berth' ? '`berth -H unix://…`, node from its bundle' : daemon.target === 'docker' ? '`docker -H unix://…`' : '`podman --url unix://…`'}: create, start, ${endOpName(workload) === 'wait' ? 'wait (its printed status must be 0; started after the start returned)' : 'stop -t 0'}, rm), timed from spawn to exit, against ${daemon.description}`;
  const def: MacroCase = {
    kind: 'macro',
    suite: SUITE,
    case: 'throughput',
    target: daemon.target,
    parameters: { level, workload, concurrency, network: LOOP_NETWORK, image: STATIC_IMAGE },
    unit: 'ops/s',
    direction: 'higher-is-better',
    group: `throughput-${level}-${workload}-${concurrency}`,
    method:
      `Containers per second: ${concurrency} worker(s) each run ${perWorker} lifecycle(s) of ${STATIC_IMAGE} with ${workloadText(workload)} back to back` +
      (roundCapMs === undefined
        ? ''
        : ` (none started after ${roundCapMs / 1000} s of the round; each worker runs at least one)`) +
      ' — ' +
      `create (--network ${LOOP_NETWORK}), start, ${endOpName(workload)}, remove — ${how}; ` +
      'one sample = lifecycles completed over the wall time of the round. A failed lifecycle is counted (case `errors`), its container force-removed, and the worker goes on. ' +
      'After each sample (untimed) the daemon must list no container.',
    notes: [
      `The static sleep runs as pid 1 of its pid namespace without a SIGTERM handler, so the kernel drops the SIGTERM of the stop and the SIGKILL that follows at once (timeout 0) ends it, on both daemons alike.`,
      'Per-operation latencies of the same rounds: case `op-latency` (one per operation); failed lifecycles per round: case `errors`.',
    ],
    setup: (ctx) => shared.take(ctx),
    sample: async (_ctx, index) => {
      const round = await lifecycleRound(
        level === 'api'
          ? apiLifecycle(() => clientOf(daemon), workload)
          : cliLifecycle((args) => daemon.cli(args), daemon.image, workload),
        concurrency,
        perWorker,
        roundCapMs,
      );
      if (round.completed === 0)
        throw unavailable(
          `${daemon.target}: no lifecycle of ${workload} completed in the round (${round.errors} failed; first: ${round.firstError})`,
        );
      if (index >= 0) {
        let rec = records.throughput.get(def);
        if (rec === undefined)
          records.throughput.set(
            def,
            (rec = {
              target: daemon.target,
              level,
              workload,
              concurrency,
              errors: [],
              latencies: { create: [], start: [], end: [], remove: [] },
            }),
          );
        rec.errors.push(round.errors);
        for (const op of OPS) rec.latencies[op].push(...round.latencies[op]);
      }
      return round.completed / round.seconds;
    },
    afterSample: async () => {
      const client = shared.client;
      const left = (await client.containerList({ all: true })).map((c) => c.Id);
      if (left.length === 0) return;
      for (const id of left) {
        await client.containerRemove(id, { force: true }).catch((err: unknown) => {
          if (!isBerthError(err, 'NOT_FOUND'))
            throw unavailable(
              `${daemon.target}: container ${id} left by the round, not removable: ${(err as Error).message}`,
            );
        });
      }
      throw unavailable(`${daemon.target}: the round left container(s) ${left.join(', ')} (removed)`);
    },
    teardown: (ctx) => shared.giveBack(ctx),
  };
  return def;
}

function densityCase(shared: SharedDaemon, fleet: IdleFleet, records: Records, running: number): MacroCase {
  const daemon = shared.daemon;
  let probe: string | undefined;
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'density-start',
    target: daemon.target,
    parameters: { level: LEVEL, running, network: DENSITY_NETWORK, image: STATIC_IMAGE },
    unit: 'ms',
    direction: 'lower-is-better',
    // a group per target and step: one daemon's fleet is gone before the other's grows
    group: `density-${daemon.target}-${running}`,
    phases: daemon.traced,
    method:
      `Wall time in ms of the start call (POST /containers/{id}/start) of one more /bin/sleep container on the ${DENSITY_NETWORK} network while ${running} idle sleep container(s) ` +
      `run on the same daemon (${daemon.description}), sent with berth's typed API client. Before each sample (untimed) the container is created; after it, it is force-removed. ` +
      "The idle fleet is grown to this step in the case's setup (4 at a time), and the daemon's RSS and PSS are read there (case `daemon-memory`).",
    notes: daemon.traced
      ? [
          "Phases: the client's start span with berthd's request, job, driver and native spans beneath (the request carries a traceparent; berthd's spans are fetched after the timing).",
        ]
      : [],
    setup: async (ctx) => {
      await shared.take(ctx);
      await fleet.growTo(running);
      const m = await memoryReads(() => daemon.processes());
      records.memory.push({ target: daemon.target, running, rss: m.rss, pss: m.pss, processes: m.processes });
    },
    beforeSample: async () => {
      probe = await createProbeContainer(daemon);
    },
    sample: (ctx) => {
      if (probe === undefined) throw unavailable(`${daemon.target}: no container created for the sample`);
      return timedStart(ctx, daemon, probe);
    },
    afterSample: async () => {
      const id = probe;
      probe = undefined;
      if (id !== undefined) await shared.client.containerRemove(id, { force: true });
    },
    teardown: (ctx) => shared.giveBack(ctx),
  };
}

function buildCases(ctx: SuiteContext, options: LifecycleOptions, records: Records): CaseDef[] {
  const sizes = (options.sizes ?? sizesFor)(ctx);
  const daemons: ApiDaemon[] = [];
  if (ctx.targets.includes('berth')) daemons.push(berthDaemon(staticImageBerthd(ctx.dataRoot)));
  if (ctx.targets.includes('docker')) {
    const missing = dockerMissing();
    if (missing !== undefined) ctx.warn(missing);
    else daemons.push(dockerDaemon(new PrivateDockerd(ctx.dataRoot)));
  }
  if (ctx.targets.includes('podman')) {
    const missing = podmanMissing();
    if (missing !== undefined) ctx.warn(missing);
    else {
      const network = netavarkMissing();
      daemons.push(podmanDaemon(ctx.dataRoot, network === undefined));
      ctx.warn(
        'podman: throughput measured at the cli level only (the remote client against a private podman service); ' +
          (network !== undefined
            ? `its density steps left out: ${network}`
            : sizes.densityTargets.includes('podman')
              ? "its density steps over the service's API socket, on a netavark bridge network of its own (its default), RSS/PSS of the service and every conmon"
              : `its density steps left out in the ${ctx.profile} profile`),
      );
    }
  }
  const hasDensity = (d: ApiDaemon) => d.density && sizes.densityTargets.includes(d.target);
  const casesOf = (d: ApiDaemon) =>
    (d.levels.includes('api') ? sizes.workloads.length * sizes.concurrencies.length : 0) +
    (d.levels.includes('cli') ? sizes.cliWorkloads.length * sizes.cliConcurrencies.length : 0) +
    (hasDensity(d) ? sizes.running.length : 0);
  const shared = daemons.map((d) => {
    const s = new SharedDaemon(d, casesOf(d));
    const fleet = new IdleFleet(d);
    s.beforeStop = () => fleet.clear();
    return { s, fleet };
  });
  const cases: CaseDef[] = [];
  // throughput: one group per level, workload and concurrency, the targets interleaved in it
  for (const level of ['api', 'cli'] as const) {
    for (const workload of level === 'api' ? sizes.workloads : sizes.cliWorkloads) {
      for (const c of level === 'api' ? sizes.concurrencies : sizes.cliConcurrencies)
        for (const { s } of shared)
          if (s.daemon.levels.includes(level))
            cases.push(throughputCase(s, records, options, workload, c, sizes.perWorker, sizes.roundCapMs, level));
    }
  }
  // density: each step alone (the fleet only grows), one daemon's steps after the other's
  for (const { s, fleet } of shared)
    if (hasDensity(s.daemon)) for (const n of sizes.running) cases.push(densityCase(s, fleet, records, n));
  const left = daemons.filter((d) => d.density && !hasDensity(d)).map((d) => d.target);
  ctx.warn(
    `lifecycle levels: api (berth's typed client on each daemon's unix socket) and cli (each operation a process of the target's command line); ratios only between the same level. ` +
      `Sizes (${ctx.profile} profile): api ${sizes.workloads.join(' and ')} at concurrency ${sizes.concurrencies.join(', ')}; cli ${sizes.cliWorkloads.join(' and ')} at ${sizes.cliConcurrencies.join(', ')}; ` +
      `${sizes.perWorker} lifecycle(s) per worker per sample${sizes.roundCapMs === undefined ? '' : ` (none started after ${sizes.roundCapMs / 1000} s of a round)`}; ` +
      `density steps ${sizes.running.join(', ')} running${left.length > 0 ? ` (not for ${left.join(', ')} in this profile)` : ''}; host with ${records.cores} CPU(s)`,
  );
  return cases;
}

// ---- derived cases -------------------------------------------------------------------

function thin(xs: readonly number[], max: number): number[] {
  if (xs.length <= max) return [...xs];
  const step = xs.length / max;
  return Array.from({ length: max }, (_, i) => xs[Math.floor(i * step)]);
}

const fmt = (x: number, d = 1) => x.toFixed(d);
const metOr = (ok: boolean) => (ok ? 'met' : 'not met');

interface Throughput {
  m: MeasuredCase;
  target: string;
  level: Level;
  workload: Workload;
  concurrency: number;
}

function throughputs(measured: readonly MeasuredCase[]): Throughput[] {
  return measured
    .filter((m) => m.info.suite === SUITE && m.info.case === 'throughput')
    .map((m) => ({
      m,
      target: m.info.target,
      level: (m.info.parameters.level ?? LEVEL) as Level,
      workload: m.info.parameters.workload as Workload,
      concurrency: Number(m.info.parameters.concurrency),
    }));
}

/** Where throughput stops growing: the first concurrency whose next step gains less than 10 %. */
function saturationNote(series: readonly Throughput[], cores: number): string {
  const sorted = [...series].sort((a, b) => a.concurrency - b.concurrency);
  const medians = sorted.map((t) => median(t.m.samples));
  const text = sorted.map((t, i) => `${t.concurrency}: ${fmt(medians[i])}/s`).join(', ');
  for (let i = 0; i + 1 < sorted.length; i++) {
    if (medians[i + 1] < medians[i] * 1.1) {
      return `Saturation (${cores} CPU(s)): throughput stops growing at concurrency ${sorted[i].concurrency} (concurrency ${sorted[i + 1].concurrency} adds less than 10 %); medians ${text}.`;
    }
  }
  return `Saturation (${cores} CPU(s)): still growing by 10 % or more up to concurrency ${sorted[sorted.length - 1]?.concurrency}; medians ${text}.`;
}

function deriveThroughput(measured: readonly MeasuredCase[], records: Records): DerivedCase[] {
  const out: DerivedCase[] = [];
  const all = throughputs(measured);
  for (const t of all) {
    const rec = records.throughput.get(t.m.info as MacroCase);
    if (rec === undefined) continue;
    const base = {
      level: t.level,
      workload: t.workload,
      concurrency: t.concurrency,
      network: LOOP_NETWORK,
      image: STATIC_IMAGE,
    };
    for (const op of OPS) {
      const lat = rec.latencies[op];
      if (lat.length === 0) continue;
      const name = op === 'end' ? endOpName(t.workload) : op;
      out.push({
        suite: SUITE,
        case: 'op-latency',
        target: t.target,
        parameters: { ...base, op: name },
        unit: 'ms',
        direction: 'lower-is-better',
        method:
          `ms of each successful ${name} ${t.level === 'cli' ? `command (spawn to exit)` : `call (${name === 'wait' ? 'arming the next-exit wait before start plus the wait for the exit after it' : `the API call`})`} during the ${t.level}-level throughput rounds ` +
          `of ${t.workload} at concurrency ${t.concurrency} (case throughput), ${lat.length > MAX_LATENCIES ? `${MAX_LATENCIES} of ${lat.length} taken evenly in the order measured` : 'every one'}; percentiles are the stats' p50/p95/p99.`,
        notes: [],
        samples: thin(lat, MAX_LATENCIES),
        derived: { from: [t.m.info], how: 'recorded-alongside', pairing: 'same-sample' },
      });
    }
    const errors = rec.errors.reduce((a, b) => a + b, 0);
    out.push({
      suite: SUITE,
      case: 'errors',
      target: t.target,
      parameters: base,
      unit: 'count',
      direction: 'lower-is-better',
      method: `Failed lifecycles per throughput round of ${t.workload} at concurrency ${t.concurrency} (one sample per round of case throughput); each was counted, its container force-removed, and the round went on.`,
      notes: [`${errors} failed lifecycle(s) in ${rec.errors.length} round(s).`],
      samples: [...rec.errors],
      derived: { from: [t.m.info], how: 'recorded-alongside', pairing: 'same-sample' },
    });
  }
  // scaling and saturation per target, level and workload
  for (const target of new Set(all.map((t) => t.target))) {
    for (const [level, workload] of (['api', 'cli'] as const).flatMap((l) => WORKLOADS.map((w) => [l, w] as const))) {
      const series = all.filter((t) => t.target === target && t.level === level && t.workload === workload);
      const one = series.find((t) => t.concurrency === 1);
      if (one === undefined || series.length < 2) continue;
      const ref = median(one.m.samples);
      const top = Math.max(...series.map((t) => t.concurrency));
      for (const t of series) {
        if (t.concurrency === 1) continue;
        out.push({
          suite: SUITE,
          case: 'scaling',
          target,
          parameters: { level, workload, concurrency: t.concurrency, reference: 'concurrency 1' },
          unit: 'ratio',
          direction: 'higher-is-better',
          method: `Each throughput sample of ${workload} at concurrency ${t.concurrency} over the median at concurrency 1 (same target and level).`,
          notes: t.concurrency === top ? [saturationNote(series, records.cores)] : [],
          samples: t.m.samples.map((x) => x / ref),
          derived: { from: [t.m.info, one.m.info], how: 'ratio', pairing: 'reference-median' },
        });
      }
    }
  }
  // berth over docker (and podman), same level, workload and concurrency
  for (const b of all.filter((t) => t.target === 'berth'))
    for (const peer of ['docker', 'podman']) {
      const d = all.find(
        (t) => t.target === peer && t.level === b.level && t.workload === b.workload && t.concurrency === b.concurrency,
      );
      if (d === undefined) continue;
      const ref = median(d.m.samples);
      const ratio = median(b.m.samples) / ref;
      out.push({
        suite: SUITE,
        case: 'throughput-ratio',
        target: 'berth',
        parameters: { level: b.level, workload: b.workload, concurrency: b.concurrency, reference: peer },
        unit: 'ratio',
        direction: 'higher-is-better',
        method: `Each ${b.level}-level berth throughput sample (${b.workload}, concurrency ${b.concurrency}) over the median of ${peer}'s ${b.level}-level samples of the same case.`,
        notes:
          b.concurrency === GOAL_THROUGHPUT_CONCURRENCY && peer === 'docker'
            ? [
                `Goal: lifecycle throughput at concurrency ${GOAL_THROUGHPUT_CONCURRENCY} >= ${GOAL_THROUGHPUT_RATIO}x docker's (${b.workload}${b.level === 'api' ? '' : `, ${b.level} level`}): ${metOr(ratio >= GOAL_THROUGHPUT_RATIO)} ` +
                  `(ratio of medians ${fmt(ratio, 2)}: berth ${fmt(median(b.m.samples))}/s, docker ${fmt(ref)}/s).`,
              ]
            : [],
        samples: b.m.samples.map((x) => x / ref),
        derived: { from: [b.m.info, d.m.info], how: 'ratio', pairing: 'reference-median' },
      });
    }
  return out;
}

function deriveDensity(measured: readonly MeasuredCase[], records: Records): DerivedCase[] {
  const out: DerivedCase[] = [];
  const starts = measured.filter((m) => m.info.suite === SUITE && m.info.case === 'density-start');
  for (const target of new Set(starts.map((m) => m.info.target))) {
    const mine = starts.filter((m) => m.info.target === target);
    const zero = mine.find((m) => m.info.parameters.running === 0);
    if (zero === undefined) continue;
    const ref = median(zero.samples);
    const top = Math.max(...mine.map((m) => Number(m.info.parameters.running)));
    for (const m of mine) {
      const running = Number(m.info.parameters.running);
      if (running === 0) continue;
      const ratio = median(m.samples) / ref;
      const notes: string[] = [];
      if (target === 'berth' && running === top) {
        notes.push(
          running === GOAL_DENSITY_RUNNING
            ? `Goal: berth start latency at ${GOAL_DENSITY_RUNNING} running within ${GOAL_DENSITY_RATIO}x of at 0: ${metOr(ratio <= GOAL_DENSITY_RATIO)} (ratio of medians ${fmt(ratio, 2)}: ${fmt(median(m.samples), 2)} ms vs ${fmt(ref, 2)} ms).`
            : `Goal: berth start latency at ${GOAL_DENSITY_RUNNING} running within ${GOAL_DENSITY_RATIO}x of at 0: not evaluated, this run went to ${running} running (ratio there ${fmt(ratio, 2)}: ${fmt(median(m.samples), 2)} ms vs ${fmt(ref, 2)} ms).`,
        );
      }
      out.push({
        suite: SUITE,
        case: 'density-ratio',
        target,
        parameters: { level: LEVEL, running, network: DENSITY_NETWORK, reference: 'running 0' },
        unit: 'ratio',
        direction: 'lower-is-better',
        method: `Each start sample with ${running} idle containers running over the median start with none running (same target, level and network).`,
        notes,
        samples: m.samples.map((x) => x / ref),
        derived: { from: [m.info, zero.info], how: 'ratio', pairing: 'reference-median' },
      });
    }
  }
  const topRunning = Math.max(-1, ...records.memory.map((r) => r.running));
  for (const r of records.memory) {
    const docker = records.memory.find((d) => d.target === 'docker' && d.running === r.running);
    for (const metric of ['rss', 'pss'] as const) {
      const notes = [`${r.processes} process(es) counted at the last read.`];
      if (r.target === 'berth' && metric === 'rss' && r.running === topRunning) {
        const b = median(r.rss);
        const cmp = docker === undefined ? undefined : median(docker.rss);
        const figure =
          cmp === undefined
            ? `berthd ${fmt(b)} MiB, docker not measured`
            : `berthd ${fmt(b)} MiB, docker ${fmt(cmp)} MiB (/4 = ${fmt(cmp * GOAL_MEMORY_FRACTION)} MiB)`;
        notes.push(
          r.running === GOAL_DENSITY_RUNNING && cmp !== undefined
            ? `Goal: berthd RSS with ${GOAL_DENSITY_RUNNING} idle containers <= docker's (dockerd + containerd + shims) / 4: ${metOr(b <= cmp * GOAL_MEMORY_FRACTION)} (${figure}).`
            : `Goal: berthd RSS with ${GOAL_DENSITY_RUNNING} idle containers <= docker's (dockerd + containerd + shims) / 4: not evaluated, this run went to ${r.running} running${cmp === undefined ? ' without docker' : ''} (${figure}).`,
        );
      }
      out.push({
        suite: SUITE,
        case: 'daemon-memory',
        target: r.target,
        parameters: { level: 'daemon', running: r.running, metric },
        unit: 'MiB',
        direction: 'lower-is-better',
        method:
          `${metric === 'rss' ? 'Rss' : 'Pss'} from /proc/<pid>/smaps_rollup summed over ${MEMORY_TEXT[r.target]}, ` +
          `read 5 times 50 ms apart with ${r.running} idle sleep container(s) running (the density step's setup, before its samples); the containers' own processes are not counted.`,
        notes,
        samples: metric === 'rss' ? [...r.rss] : [...r.pss],
        // read in the setup of the density step at this count of running containers
        derived: {
          from: starts
            .filter((m) => m.info.target === r.target && Number(m.info.parameters.running) === r.running)
            .map((m) => m.info),
          how: 'recorded-alongside',
          pairing: 'same-sample',
        },
      });
    }
  }
  return out;
}

const MEMORY_TEXT: Record<LifecycleTarget, string> = {
  berth: 'berthd',
  docker:
    "dockerd, its containerd and every containerd-shim (found by name and a command line naming the private daemon's directory)",
  podman:
    "the podman service and every conmon (one per running container, found by name and a command line naming the service's storage or run root)",
};

/** The suite with its options (tests give tiny sizes and a failing client); `lifecycleSuite` is the registered one. */
export function makeLifecycleSuite(options: LifecycleOptions = {}): Suite {
  let records: Records = { throughput: new Map(), memory: [], cores: os.cpus().length };
  return {
    name: SUITE,
    description:
      'container lifecycle throughput (create/start/wait or stop/remove at concurrency 1-8, over the API socket and through the command line) and density (start latency and daemon RSS/PSS against containers running), berth beside docker and podman (throughput at cli level; density over its API)',
    targets: ['berth', 'docker', 'podman'],
    requires: async () => (process.getuid?.() !== 0 ? 'needs root (mounts, namespaces, cgroups, bridge)' : undefined),
    cases: (ctx) => {
      records = { throughput: new Map(), memory: [], cores: os.cpus().length };
      return buildCases(ctx, options, records);
    },
    derive: (measured) => [...deriveThroughput(measured, records), ...deriveDensity(measured, records)],
  };
}

export const lifecycleSuite: Suite = makeLifecycleSuite();
