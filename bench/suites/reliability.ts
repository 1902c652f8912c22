// The `reliability` suite: what many runs through one berthd do to the daemon and
// the host. A soak of N sequential create+start+wait+remove runs over the API
// (quick 50, default 1000, full 2000) records each run's latency, the drift of the
// last decile against the first, the daemon's RSS and open-fd growth, and what is
// left on the host afterwards (mounts, network namespaces, links, cgroups); load
// cases run many containers and pulls at once and report throughput and errors.
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ApiClient } from '../../engine/client/api-client.js';
import { unavailable } from '../../engine/errdefs/errors.js';
import { mountsUnder } from '../../engine/graphdriver/mountinfo.js';
import { blobOf, push } from '../../engine/registry/client/test-registry.js';
import { createRegistryServer, type RegistryServer } from '../../engine/registry/server/index.js';
import type { Context } from '../../engine/trace/index.js';
import { call } from '../peers/index.js';
import type { ProfileSettings } from '../profiles.js';
import { median } from '../stats.js';
import type { CaseDef, DerivedCase, MacroCase, MeasuredCase, Suite, SuiteContext } from '../suite.js';
import { rssReads } from './daemon-memory.js';
import type { PrivateBerthd } from './private-berthd.js';
import { BERTHD_BRIDGE, staticImageBerthd } from './run-berthd.js';
import { tracedClient } from './daemon-spans.js';
import { apiRunOnce } from './run-levels.js';
import { STATIC_IMAGE, staticImageConfig, staticImageLayers } from './runtime-image.js';

const SUITE = 'reliability';

export interface ReliabilitySizes {
  /** Sequential runs of the soak. */
  soakRuns: number;
  /** Containers run at once in one load sample. */
  concurrentRuns: number;
  /** Pulls at once in one load sample (half of one image, the rest of others sharing its layers). */
  concurrentPulls: number;
}

/** The sizes of a profile: the soak is 50 runs in quick, 1000 in default, 2000 in full. */
export function reliabilitySizes(settings: ProfileSettings): ReliabilitySizes {
  const soakRuns = settings.name === 'quick' ? 50 : settings.name === 'full' ? 2000 : 1000;
  return { soakRuns, concurrentRuns: 50, concurrentPulls: 8 };
}

/** Open file descriptors of `pid` (entries of /proc/<pid>/fd). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** What a berthd of `root` left on the host, by kind; `folder` holds its root and exec root. */
export async function hostLeftovers(
  folder: string,
  root: string,
): Promise<Record<'mounts' | 'netns' | 'links' | 'cgroups', string[]>> {
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
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`/${parent}/`))
        netns.add(readlinkSync(`/proc/${pid}/ns/net`));
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
  return { mounts, netns: [...netns], links, cgroups };
}

/** What the soak measured, for derive(). */
interface SoakFigures {
  runs: number;
  latencies: number[];
  failures: string[];
  rssBefore: number[];
  rssAfter: number[];
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
      "with --network none through berth's API client on a private berthd (overlay2 on tmpfs, own bridge and /24), with the daemon's VmRSS and open fds read before and after " +
      'and the host searched for leftovers after. Each sample: one more such run, in ms, on the soaked daemon.',
    setup: async (ctx) => {
      await berthd.acquire(ctx);
      const pid = berthd.pid!;
      const soak: SoakFigures = {
        runs: sizes.soakRuns,
        latencies: [],
        failures: [],
        rssBefore: await rssReads([pid]),
        rssAfter: [],
        fdsBefore: fdCount(pid),
        fdsAfter: 0,
        leftovers: {},
      };
      figures.soak = soak;
      for (let i = 0; i < sizes.soakRuns; i++) {
        try {
          soak.latencies.push(await apiRunOnce(tracedClient(ctx, berthd.host), 'none'));
        } catch (err) {
          soak.failures.push(err instanceof Error ? err.message : String(err));
        }
      }
      soak.rssAfter = await rssReads([pid]);
      soak.fdsAfter = fdCount(pid);
      soak.leftovers = await hostLeftovers(berthd.folder!, berthd.rootDir!);
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

/** The soak's figures and the load cases' error counts as cases of their own. */
function deriveReliability(
  figures: { soak?: SoakFigures },
  errors: LoadErrors,
  measured: readonly MeasuredCase[],
): DerivedCase[] {
  const out: DerivedCase[] = [];
  const soak = figures.soak;
  const ran = measured.find((m) => m.info.case === 'run-after-soak');
  if (soak !== undefined && ran !== undefined && soak.latencies.length > 0) {
    const params = { level: 'api', network: 'none', soakRuns: soak.runs };
    const failures =
      soak.failures.length === 0
        ? []
        : [`${soak.failures.length} of ${soak.runs} runs failed; first: ${soak.failures[0]}`];
    out.push(
      derived(
        ran,
        'soak-latency',
        'ms',
        params,
        soak.latencies,
        `Each of the soak's ${soak.runs} sequential API runs (create -> wait -> start -> exit -> delete), in ms, in the order taken.`,
        failures,
      ),
    );
    const decile = Math.max(1, Math.floor(soak.latencies.length / 10));
    const first = median(soak.latencies.slice(0, decile));
    const last = median(soak.latencies.slice(-decile));
    out.push(
      derived(
        ran,
        'soak-drift',
        'ratio',
        params,
        [last / first],
        `Median latency of the soak's last decile of runs (${decile} runs) over that of its first decile: above 1 the daemon got slower as runs accumulated.`,
        [`First decile median ${first.toFixed(2)} ms, last decile median ${last.toFixed(2)} ms.`],
      ),
    );
    const rssGrowth = median(soak.rssAfter) - median(soak.rssBefore);
    out.push(
      derived(
        ran,
        'soak-rss-growth',
        'MiB',
        params,
        [rssGrowth],
        "The daemon's VmRSS after the soak minus before it (each the median of 5 reads 50 ms apart), in MiB.",
        [`Before ${median(soak.rssBefore).toFixed(1)} MiB, after ${median(soak.rssAfter).toFixed(1)} MiB.`],
      ),
    );
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
          leftoverMethod[kind] ?? kind,
          list.length === 0
            ? []
            : [`Left: ${list.slice(0, 5).join(', ')}${list.length > 5 ? ` and ${list.length - 5} more` : ''}.`],
        ),
      );
    }
  }
  for (const name of ['concurrent-runs', 'concurrent-pulls']) {
    const counts = errors.get(name);
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
  return out;
}

const leftoverMethod: Record<string, string> = {
  mounts:
    "Mounts under the private berthd's folder after the soak, its own tmpfs store excepted (container rootfs mounts, binds).",
  netns:
    "Network namespaces still held after the soak by a process in the daemon's cgroups or by an nsfs bind mount under its folder.",
  links: "Links still attached to the private berthd's bridge after the soak (host veths of containers).",
  cgroups: "Cgroups left under the daemon's parent cgroup (any hierarchy) after the soak.",
};

/** The suite with the given sizes (the registered one takes them from the profile). */
export function createReliabilitySuite(
  sizesFor: (settings: ProfileSettings) => ReliabilitySizes = reliabilitySizes,
): Suite {
  let figures: { soak?: SoakFigures } = {};
  let errors: LoadErrors = new Map();
  return {
    name: SUITE,
    description:
      "many runs through one berthd: a soak's latency drift, daemon RSS and fd growth and host leftovers; concurrent runs and pulls as throughput with error counts",
    targets: ['berth'],
    requires: async () => (process.getuid?.() !== 0 ? 'needs root (mounts, namespaces, cgroups, bridge)' : undefined),
    cases(ctx: SuiteContext): CaseDef[] {
      figures = {};
      errors = new Map();
      if (!ctx.targets.includes('berth')) return [];
      const sizes = sizesFor(ctx.settings);
      const berthd = staticImageBerthd(ctx.dataRoot);
      return [
        soakCase(berthd, sizes, figures),
        concurrentRunsCase(berthd, sizes, errors),
        concurrentPullsCase(berthd, sizes, errors),
      ];
    },
    derive: (measured) => deriveReliability(figures, errors, measured),
  };
}

export const reliabilitySuite: Suite = createReliabilitySuite();
