// The `reliability` suite: what many runs, crashes and bad requests do to one berthd
// and to the host. A soak of N sequential create+start+wait+remove runs over the API
// (quick 50, default 1000, full 2000) cycling the network modes none, bridge and host
// records each run's latency, the drift of the last decile against the first per mode,
// the daemon's RSS and open-fd growth, its failures and what is left on the host
// afterwards (mounts, network namespaces, veths, iptables rules, cgroups, processes);
// load cases run many containers and pulls at once and report throughput and errors;
// fault cases kill the daemon mid-pull, mid-apply, mid-start and mid-removal and check
// the restart (reliability-faults.ts); a fuzz case sends the e2e API fuzzer's requests
// while a client pings the daemon (reliability-fuzz.ts).
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ApiClient } from '../../engine/client/api-client.js';
import { unavailable } from '../../engine/errdefs/errors.js';
import { mountsUnder } from '../../engine/graphdriver/mountinfo.js';
import { blobOf, push } from '../../engine/registry/client/test-registry.js';
import { createRegistryServer, type RegistryServer } from '../../engine/registry/server/index.js';
import { call, onPath } from '../peers/index.js';
import type { ProfileSettings } from '../profiles.js';
import { median } from '../stats.js';
import type { CaseDef, DerivedCase, MacroCase, MeasuredCase, Suite, SuiteContext } from '../suite.js';
import { IDLE_READ_WAIT_MS, idleRssReads, rssReads } from './daemon-memory.js';
import type { PrivateBerthd } from './private-berthd.js';
import { BERTHD_BRIDGE, staticImageBerthd } from './run-berthd.js';
import { tracedClient } from './daemon-spans.js';
import { apiRunOnce } from './run-levels.js';
import { STATIC_IMAGE, staticImageConfig, staticImageLayers } from './runtime-image.js';
import { faultCases, FAULT_POINTS, type FaultOutcomes } from './reliability-faults.js';
import { fuzzApiCase, type FuzzOutcome } from './reliability-fuzz.js';

const SUITE = 'reliability';

export interface ReliabilitySizes {
  /** Sequential runs of the soak. */
  soakRuns: number;
  /** Containers run at once in one load sample. */
  concurrentRuns: number;
  /** Pulls at once in one load sample (half of one image, the rest of others sharing its layers). */
  concurrentPulls: number;
  /** Kills per fault point (each costs one or two daemon restarts). */
  faultSamples: number;
  /** Fuzz requests per sample of the fuzz case. */
  fuzzRequests: number;
}

/**
 * The sizes of a profile: the soak is 50 runs in quick, 1000 in default, 2000 in full; 2, 3 and 5 kills per fault
 * point; 100, 400 and 1000 fuzz requests per sample.
 */
export function reliabilitySizes(settings: ProfileSettings): ReliabilitySizes {
  const by = <T>(quick: T, dflt: T, full: T): T =>
    settings.name === 'quick' ? quick : settings.name === 'full' ? full : dflt;
  return {
    soakRuns: by(50, 1000, 2000),
    concurrentRuns: 50,
    concurrentPulls: 8,
    faultSamples: by(2, 3, 5),
    fuzzRequests: by(100, 400, 1000),
  };
}

/** The network modes the soak cycles through, run i taking SOAK_MODES[i % 3]. */
export const SOAK_MODES = ['none', 'bridge', 'host'] as const;

/** Open file descriptors of `pid` (entries of /proc/<pid>/fd). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The kinds of leftovers the soak and fault cases look for. */
export type LeftoverKind = 'mounts' | 'netns' | 'links' | 'iptables' | 'cgroups' | 'processes';

/** iptables rules (iptables-save lines) naming the private daemon's bridge or its owner tag (a hash of `root`). */
export async function iptablesRules(root: string): Promise<string[]> {
  if (onPath('iptables-save') === undefined) return [];
  const owner = createHash('sha256').update(root).digest('hex').slice(0, 12);
  const { stdout } = await call(['iptables-save'], { captureStdout: true });
  const bridge = new RegExp(`[ !]${BERTHD_BRIDGE}( |$)`);
  return String(stdout)
    .split('\n')
    .filter((l) => l.startsWith('-A ') && (bridge.test(l) || l.includes(`berth:${owner}:`)));
}

/**
 * What a berthd of `root` left on the host, by kind; `folder` holds its root and exec root. iptables rules count
 * when not among `rulesBefore` (the bridge's own rules, taken before the runs).
 */
export async function hostLeftovers(
  folder: string,
  root: string,
  rulesBefore: readonly string[],
): Promise<Record<LeftoverKind, string[]>> {
  const parent = `berth/${createHash('sha256').update(root).digest('hex').slice(0, 12)}`;
  const cgroups: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', h, parent);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) cgroups.push(join(dir, e.name));
  }
  // Network namespaces berth's containers made outlive them only through a process
  // (in the daemon's cgroups) or a bind mount (under its folder).
  const netns = new Set<string>();
  const processes: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const inCgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`/${parent}/`);
      if (inCgroup || readlinkSync(`/proc/${pid}/root`).startsWith(`${folder}/`)) {
        processes.push(`${pid} ${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()}`);
        netns.add(readlinkSync(`/proc/${pid}/ns/net`));
      }
    } catch {
      // gone meanwhile
    }
  }
  // The daemon's own tmpfs store is no leftover.
  const mounts = (await mountsUnder(folder).catch(() => [] as string[])).filter((m) => m !== join(folder, 'store'));
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4]?.startsWith(`${folder}/`) && line.includes(' - nsfs ')) netns.add(`nsfs ${f[4]}`);
  }
  const links = String(
    (await call(['ip', '-o', 'link', 'show', 'master', BERTHD_BRIDGE], { captureStdout: true })).stdout,
  )
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
    .filter((n) => n !== '');
  const iptables = (await iptablesRules(root)).filter((r) => !rulesBefore.includes(r));
  return { mounts, netns: [...netns], links, iptables, cgroups, processes };
}

/** What the soak measured, for derive(). */
interface SoakFigures {
  runs: number;
  /** Per network mode, the latencies of its runs that succeeded, in the order taken. */
  latencies: Record<(typeof SOAK_MODES)[number], number[]>;
  failures: string[];
  rssBefore: number[];
  rssAfter: number[];
  /** VmRSS reads once the daemon idled past its allocator trim, after the soak. */
  rssAfterIdle: number[];
  fdsBefore: number;
  fdsAfter: number;
  leftovers: Record<string, string[]>;
}

/** Error counts of the load cases, one per sample, by case name. */
type LoadErrors = Map<string, number[]>;

function soakCase(berthd: PrivateBerthd, sizes: ReliabilitySizes, figures: { soak?: SoakFigures }): MacroCase {
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'run-after-soak',
    target: 'berth',
    parameters: { level: 'api', network: 'none', soakRuns: sizes.soakRuns, image: STATIC_IMAGE },
    unit: 'ms',
    direction: 'lower-is-better',
    group: 'reliability-soak',
    method:
      `Set-up (untimed here, reported by the soak-* cases): ${sizes.soakRuns} sequential create -> wait (next-exit) -> start -> exit -> delete runs of ${STATIC_IMAGE} /bin/true ` +
      `through berth's API client on a private berthd (overlay2 on tmpfs, own bridge and /24), cycling the network modes ${SOAK_MODES.join(', ')}, ` +
      "with the daemon's VmRSS and open fds read before and after and the host searched for leftovers after. Each sample: one more such run " +
      '(--network none), in ms, on the soaked daemon.',
    setup: async (ctx) => {
      await berthd.acquire(ctx);
      const pid = berthd.pid!;
      const soak: SoakFigures = {
        runs: sizes.soakRuns,
        latencies: { none: [], bridge: [], host: [] },
        failures: [],
        rssBefore: await idleRssReads(pid),
        rssAfter: [],
        rssAfterIdle: [],
        fdsBefore: fdCount(pid),
        fdsAfter: 0,
        leftovers: {},
      };
      figures.soak = soak;
      const rulesBefore = await iptablesRules(berthd.rootDir!);
      for (let i = 0; i < sizes.soakRuns; i++) {
        const mode = SOAK_MODES[i % SOAK_MODES.length]!;
        try {
          soak.latencies[mode].push(await apiRunOnce(tracedClient(ctx, berthd.host), mode));
        } catch (err) {
          soak.failures.push(`run ${i} (${mode}): ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      soak.rssAfter = await rssReads([pid]);
      soak.fdsAfter = fdCount(pid);
      soak.rssAfterIdle = await idleRssReads(pid);
      soak.leftovers = await hostLeftovers(berthd.folder!, berthd.rootDir!, rulesBefore);
    },
    sample: (ctx) => apiRunOnce(tracedClient(ctx, berthd.host), 'none'),
    afterSample: async () => {
      const left = await berthd.containers();
      if (left.length > 0) throw unavailable(`berthd: the run left container(s) ${left.join(', ')}`);
    },
    teardown: (ctx) => berthd.release(ctx),
  };
}

function concurrentRunsCase(berthd: PrivateBerthd, sizes: ReliabilitySizes, errors: LoadErrors): MacroCase {
  const name = 'concurrent-runs';
  return {
    kind: 'macro',
    suite: SUITE,
    case: name,
    target: 'berth',
    parameters: { level: 'api', network: 'none', concurrency: sizes.concurrentRuns, image: STATIC_IMAGE },
    unit: 'ops/s',
    direction: 'higher-is-better',
    group: 'reliability-load',
    method:
      `${sizes.concurrentRuns} create -> wait -> start -> exit -> delete runs of ${STATIC_IMAGE} /bin/true started at once over the API of the private berthd; ` +
      'a sample is the runs that succeeded over the wall time until the last one ended, per second. Failed runs are counted per sample (the concurrent-runs-errors case); ' +
      'after each sample the daemon must list no container.',
    setup: (ctx) => berthd.acquire(ctx),
    sample: async (ctx) => {
      const t0 = process.hrtime.bigint();
      const results = await Promise.allSettled(
        Array.from({ length: sizes.concurrentRuns }, () => apiRunOnce(tracedClient(ctx, berthd.host), 'none')),
      );
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const failed = results.filter((r) => r.status === 'rejected').length;
      errors.set(name, [...(errors.get(name) ?? []), failed]);
      return (sizes.concurrentRuns - failed) / seconds;
    },
    afterSample: async () => {
      const left = await berthd.containers();
      if (left.length > 0) throw unavailable(`berthd: the concurrent runs left container(s) ${left.join(', ')}`);
    },
    teardown: (ctx) => berthd.release(ctx),
  };
}

function concurrentPullsCase(berthd: PrivateBerthd, sizes: ReliabilitySizes, errors: LoadErrors): MacroCase {
  const name = 'concurrent-pulls';
  let registry: RegistryServer | undefined;
  let refs: string[] = [];
  return {
    kind: 'macro',
    suite: SUITE,
    case: name,
    target: 'berth',
    parameters: { level: 'api', concurrency: sizes.concurrentPulls, image: STATIC_IMAGE },
    unit: 'ops/s',
    direction: 'higher-is-better',
    group: 'reliability-load',
    method:
      `${sizes.concurrentPulls} pulls started at once over the API of the private berthd from an embedded registry on 127.0.0.1: half of them of one image, ` +
      `the others of images that differ only in their config (so they share the layers of ${STATIC_IMAGE}, which the daemon holds already). ` +
      'A sample is the pulls that succeeded per second of wall time; failed pulls are counted per sample (concurrent-pulls-errors). The pulled images are removed after each sample (untimed).',
    setup: async (ctx) => {
      await berthd.acquire(ctx);
      registry = await createRegistryServer({
        root: join(berthd.folder!, `reliability-registry-${process.pid}`),
        addr: '127.0.0.1:0',
      });
      const layers = await staticImageLayers();
      const layerBlobs = layers.map((b) => blobOf('application/vnd.oci.image.layer.v1.tar', b));
      const distinct = Math.max(1, Math.floor(sizes.concurrentPulls / 2));
      const mt = 'application/vnd.oci.image.manifest.v1+json';
      const desc = (b: { mediaType: string; digest: string; size: number }) => ({
        mediaType: b.mediaType,
        digest: b.digest,
        size: b.size,
      });
      const pushed: string[] = [];
      for (let i = 0; i <= distinct; i++) {
        const config = JSON.parse(staticImageConfig(layers)) as { config?: Record<string, unknown> };
        config.config = { ...(config.config ?? {}), Labels: { 'berth.bench.reliability': String(i) } };
        const configBlob = blobOf('application/vnd.oci.image.config.v1+json', JSON.stringify(config));
        const manifest = blobOf(
          mt,
          JSON.stringify({ schemaVersion: 2, mediaType: mt, config: desc(configBlob), layers: layerBlobs.map(desc) }),
        );
        await push(registry.url, `reliability/img${i}`, [configBlob, ...layerBlobs], manifest, 'v1');
        pushed.push(`${registry.host}/reliability/img${i}:v1`);
      }
      refs = Array.from({ length: sizes.concurrentPulls }, (_, i) =>
        i < sizes.concurrentPulls / 2 ? pushed[0]! : pushed[1 + (i % distinct)]!,
      );
    },
    sample: async () => {
      const client = new ApiClient(berthd.host);
      const t0 = process.hrtime.bigint();
      const results = await Promise.allSettled(refs.map((ref) => client.pull(ref)));
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const failed = results.filter((r) => r.status === 'rejected').length;
      errors.set(name, [...(errors.get(name) ?? []), failed]);
      return (refs.length - failed) / seconds;
    },
    afterSample: async () => {
      const client = new ApiClient(berthd.host);
      for (const ref of new Set(refs)) await client.imageRemove(ref).catch(() => undefined);
    },
    teardown: async (ctx) => {
      await registry?.close().catch(() => undefined);
      registry = undefined;
      await berthd.release(ctx);
    },
  };
}

/** A figure recorded while the measured case `from` ran (not a measurement of its own to regress on). */
function derived(
  from: MeasuredCase,
  caseName: string,
  unit: DerivedCase['unit'],
  parameters: DerivedCase['parameters'],
  samples: number[],
  method: string,
  notes: string[] = [],
): DerivedCase {
  return {
    suite: SUITE,
    case: caseName,
    target: 'berth',
    parameters,
    unit,
    direction: 'lower-is-better',
    method,
    notes,
    samples,
    derived: { from: [from.info], how: 'recorded-alongside', pairing: 'same-sample' },
  };
}

/** The first few of `lines`, for a note. */
function firstOf(lines: readonly string[], n = 5): string {
  return `${lines.slice(0, n).join('; ')}${lines.length > n ? ` and ${lines.length - n} more` : ''}`;
}

/** What the suite measured beside its samples, for derive(). */
interface Figures {
  soak?: SoakFigures;
  errors: LoadErrors;
  faults: FaultOutcomes;
  fuzz: FuzzOutcome[];
}

/** The soak's figures, the load cases' error counts, the faults' and the fuzz's findings as cases of their own. */
function deriveReliability(figures: Figures, measured: readonly MeasuredCase[]): DerivedCase[] {
  const out: DerivedCase[] = [];
  const soak = figures.soak;
  const ran = measured.find((m) => m.info.case === 'run-after-soak');
  if (soak !== undefined && ran !== undefined) {
    const params = { level: 'api', network: SOAK_MODES.join(','), soakRuns: soak.runs };
    out.push(
      derived(
        ran,
        'soak-failures',
        'count',
        params,
        [soak.failures.length],
        `Runs of the soak's ${soak.runs} (create -> wait -> start -> exit -> delete, network modes cycled) that failed.`,
        soak.failures.length === 0 ? [] : [`First: ${firstOf(soak.failures, 3)}.`],
      ),
    );
    for (const mode of SOAK_MODES) {
      const latencies = soak.latencies[mode];
      if (latencies.length === 0) continue;
      const modeParams = { ...params, network: mode };
      out.push(
        derived(
          ran,
          'soak-latency',
          'ms',
          modeParams,
          latencies,
          `Each successful run of the soak with --network ${mode} (every ${SOAK_MODES.length}th of its ${soak.runs} sequential API runs), in ms, in the order taken.`,
        ),
      );
      const decile = Math.max(1, Math.floor(latencies.length / 10));
      const first = median(latencies.slice(0, decile));
      const last = median(latencies.slice(-decile));
      out.push(
        derived(
          ran,
          'soak-drift',
          'ratio',
          modeParams,
          [last / first],
          `Median latency of the last decile of the soak's --network ${mode} runs (${decile} runs) over that of their first decile: above 1 the daemon got slower as runs accumulated.`,
          [`First decile median ${first.toFixed(2)} ms, last decile median ${last.toFixed(2)} ms.`],
        ),
      );
    }
    const before = median(soak.rssBefore);
    for (const [read, after, when] of [
      [
        'idle',
        soak.rssAfterIdle,
        `after it, once the daemon idled ${IDLE_READ_WAIT_MS / 1000} s (past its allocator trim)`,
      ],
      ['at-end', soak.rssAfter, 'right after its last run'],
    ] as const) {
      out.push(
        derived(
          ran,
          'soak-rss-growth',
          'MiB',
          { ...params, read },
          [median(after) - before],
          `The daemon's VmRSS ${when} minus before the soak (idle ${IDLE_READ_WAIT_MS / 1000} s too), each the median of 5 reads 50 ms apart, in MiB.`,
          [`Before ${before.toFixed(1)} MiB, after ${median(after).toFixed(1)} MiB.`],
        ),
      );
    }
    out.push(
      derived(
        ran,
        'soak-fd-growth',
        'count',
        params,
        [soak.fdsAfter - soak.fdsBefore],
        "The daemon's open file descriptors (/proc/<pid>/fd) after the soak minus before it.",
        [`Before ${soak.fdsBefore}, after ${soak.fdsAfter}.`],
      ),
    );
    for (const [kind, list] of Object.entries(soak.leftovers)) {
      out.push(
        derived(
          ran,
          'soak-leftovers',
          'count',
          { ...params, kind },
          [list.length],
          leftoverMethod[kind as LeftoverKind],
          list.length === 0 ? [] : [`Left: ${firstOf(list)}.`],
        ),
      );
    }
  }
  for (const name of ['concurrent-runs', 'concurrent-pulls']) {
    const counts = figures.errors.get(name);
    const m = measured.find((c) => c.info.case === name);
    if (counts === undefined || m === undefined) continue;
    // The warm-up's samples come first; the recorded samples are the last ones.
    const recorded = counts.slice(-m.samples.length);
    out.push(
      derived(
        m,
        `${name}-errors`,
        'count',
        m.info.parameters,
        recorded,
        `Operations of one ${name} sample that failed (a refusal or a fault), per sample.`,
      ),
    );
  }
  for (const point of FAULT_POINTS) {
    const m = measured.find((c) => c.info.case === 'fault-recovery' && c.info.parameters.point === point);
    const outcomes = (figures.faults.get(point) ?? []).slice(-(m?.samples.length ?? 0));
    if (m === undefined || outcomes.length === 0) continue;
    const problems = outcomes.flatMap((o) => o.problems);
    const left = outcomes.flatMap((o) => o.leftovers);
    out.push(
      derived(
        m,
        'fault-problems',
        'count',
        m.info.parameters,
        outcomes.map((o) => o.problems.length),
        'Checks that failed after one kill and restart, per sample: the interrupted call succeeding, an image listed without its layers, a container shown running, the operation refused when done again.',
        problems.length === 0 ? [] : [`Found: ${firstOf(problems, 3)}.`],
      ),
      derived(
        m,
        'fault-leftovers',
        'count',
        m.info.parameters,
        outcomes.map((o) => o.leftovers.length),
        "What was left once the sample's image or container was removed, per sample: mounts, network namespaces, veths, iptables rules, cgroups, processes, containers, and layers the static image does not have (polled up to 30 s).",
        left.length === 0 ? [] : [`Left: ${firstOf(left)}.`],
      ),
    );
  }
  const fuzz = measured.find((c) => c.info.case === 'ping-under-fuzz');
  const batches = figures.fuzz.slice(-(fuzz?.samples.length ?? 0));
  if (fuzz !== undefined && batches.length > 0) {
    const failures = batches.flatMap((b) => b.failures);
    out.push(
      derived(
        fuzz,
        'fuzz-failures',
        'count',
        fuzz.info.parameters,
        batches.map((b) => b.failures.length),
        'Per fuzz batch: answers judged wrong (a hang past 15 s, no reply, a malformed status line, a 5xx, a refusal without a JSON message) and failed pings.',
        [
          `${batches.reduce((n, b) => n + b.requests, 0)} fuzz requests and ${batches.reduce((n, b) => n + b.pings, 0)} pings in ${batches.length} batches.`,
          ...(failures.length === 0 ? [] : [`Found: ${firstOf(failures, 3)}.`]),
        ],
      ),
    );
  }
  return out;
}

const leftoverMethod: Record<LeftoverKind, string> = {
  mounts:
    "Mounts under the private berthd's folder after the soak, its own tmpfs store excepted (container rootfs mounts, binds).",
  netns:
    "Network namespaces still held after the soak by a process in the daemon's cgroups or by an nsfs bind mount under its folder.",
  links: "Links still attached to the private berthd's bridge after the soak (host veths of containers).",
  iptables:
    "iptables rules naming the private berthd's bridge or carrying its owner tag after the soak that were not there before it.",
  cgroups: "Cgroups left under the daemon's parent cgroup (any hierarchy) after the soak.",
  processes: "Processes in the daemon's cgroups or with their root under its folder after the soak.",
};

/** The suite with the given sizes (the registered one takes them from the profile). */
export function createReliabilitySuite(
  sizesFor: (settings: ProfileSettings) => ReliabilitySizes = reliabilitySizes,
): Suite {
  let figures: Figures = { errors: new Map(), faults: new Map(), fuzz: [] };
  return {
    name: SUITE,
    description:
      "many runs through one berthd: a soak's latency drift, daemon RSS and fd growth and host leftovers; concurrent runs and pulls; kills mid-pull, apply, start and removal; an API fuzz",
    targets: ['berth'],
    requires: async () => (process.getuid?.() !== 0 ? 'needs root (mounts, namespaces, cgroups, bridge)' : undefined),
    cases(ctx: SuiteContext): CaseDef[] {
      figures = { errors: new Map(), faults: new Map(), fuzz: [] };
      if (!ctx.targets.includes('berth')) return [];
      const sizes = sizesFor(ctx.settings);
      const berthd = staticImageBerthd(ctx.dataRoot);
      const leftovers = async () => {
        const found = await hostLeftovers(berthd.folder!, berthd.rootDir!, bridgeRules);
        return Object.entries(found).flatMap(([kind, list]) => list.map((l) => `${kind} ${l}`));
      };
      // the bridge's own rules, read once the daemon runs (the fault group's set-up)
      let bridgeRules: string[] = [];
      const faults = faultCases(SUITE, berthd, sizes.faultSamples, figures.faults, leftovers);
      const setup = faults[0]!.setup!;
      faults[0]!.setup = async (c) => {
        await setup(c);
        bridgeRules = await iptablesRules(berthd.rootDir!);
      };
      return [
        soakCase(berthd, sizes, figures),
        concurrentRunsCase(berthd, sizes, figures.errors),
        concurrentPullsCase(berthd, sizes, figures.errors),
        ...faults,
        fuzzApiCase(SUITE, berthd, sizes.fuzzRequests, ctx.seed, figures.fuzz),
      ];
    },
    derive: (measured) => deriveReliability(figures, measured),
  };
}

export const reliabilitySuite: Suite = createReliabilitySuite();
