// The `pull` suite: cold and warm pulls of the corpus images from berth's embedded
// registry on 127.0.0.1, per compression and layer concurrency, with a per-phase
// breakdown, side by side with skopeo, dockerd and podman on the same registry and
// with the physical reference (read + sha256 + decompress + tar -x of the same blobs).
import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import { execa } from 'execa';
import { join } from 'node:path';
import { native } from '../../native/index.js';
import type { Context } from '../../engine/trace/index.js';
import type { Compression } from '../corpus/index.js';
import type { Profile } from '../results/document.js';
import type { CaseDef, CaseInfo, DerivedCase, MacroCase, MeasuredCase, Suite, SuiteContext } from '../suite.js';
import {
  benchClient,
  berthPull,
  LAYER_PHASES,
  openBenchGraph,
  PHASE_SPANS,
  type BenchGraph,
  type PullDriver,
} from './pull-berth.js';
import { BenchDockerd, DOCKERD, peerUnavailable, skopeoCopy, toolVersion, writePolicy } from './pull-peers.js';
import {
  PARALLEL_REFERENCE_METHOD,
  REFERENCE_METHOD,
  referenceExtract,
  referenceFetchParallel,
} from './pull-reference.js';
import { PrivatePodman } from './workload-podman.js';
import { zstdDecoderInfo } from '../../engine/archive/tar-compression.js';
import {
  corpusImage,
  PULL_BACKINGS,
  PullWorld,
  REPOSITORY_PREFIX,
  scratchDir,
  type OpenWorld,
  type PullBacking,
} from './pull-world.js';
import { median } from '../stats.js';
import { derivePullCrosschecks, PROCESS_CASE, pullCrosschecks } from './crosscheck-pull.js';

const SUITE = 'pull';
const MiB = 1024 * 1024;

/** The layer concurrency of berth's comparison cases (docker's max-concurrent-downloads default is 3 too). */
export const DEFAULT_CONCURRENCY = 3;

/**
 * Goals, judged in the derived cases' notes (never asserted): berth's cold pull time at most `dockerTime`× docker's
 * and at most `parallelReferenceTime`× the parallel reference's (the host's limit); its throughput at least
 * `referenceThroughput`× the one-core reference's.
 */
export const GOALS = { dockerTime: 0.35, parallelReferenceTime: 1.2, referenceThroughput: 0.7 } as const;

/** What a profile measures. */
export interface PullPlan {
  images: readonly string[];
  /**
   * Cold comparison groups: image × compression; `peers: false` measures berth and the references only (saves the
   * profile's time).
   */
  cold: readonly { image: string; compression: Compression; peers?: boolean }[];
  /** Images pulled warm (gzip). */
  warm: readonly string[];
  /** Layer concurrency sweep: image (gzip) × concurrencies. */
  concurrency: readonly { image: string; levels: readonly number[] }[];
  /** Peers measured in this profile. */
  peers: readonly ('skopeo' | 'docker' | 'podman')[];
  /** tmpfs size (MiB). */
  storeMiB: number;
}

/**
 * quick: tiny + the small app image, berth + reference + skopeo; default: tiny, app and deep with every peer on tiny
 * and app; full: all four generated images.
 */
export function pullPlan(profile: Profile): PullPlan {
  if (profile === 'quick') {
    return {
      images: ['tiny', 'app'],
      cold: [
        { image: 'tiny', compression: 'gzip' },
        { image: 'app', compression: 'gzip' },
        { image: 'app', compression: 'zstd' },
      ],
      warm: ['tiny', 'app'],
      concurrency: [{ image: 'app', levels: [1, 8] }],
      peers: ['skopeo'],
      storeMiB: 1024,
    };
  }
  const full = profile === 'full';
  // default: the peers on tiny, app and deep (gzip), gzip vs zstd and the concurrency sweep on deep (48 layers) against
  // the references; full adds many-small-files and the rest
  return {
    images: full ? ['tiny', 'many-small-files', 'app', 'deep'] : ['tiny', 'app', 'deep'],
    cold: [
      { image: 'tiny', compression: 'gzip' },
      { image: 'app', compression: 'gzip' },
      { image: 'deep', compression: 'gzip' },
      { image: 'deep', compression: 'zstd', peers: full },
      ...(full
        ? [
            { image: 'many-small-files', compression: 'gzip' as const },
            { image: 'many-small-files', compression: 'zstd' as const },
            { image: 'app', compression: 'zstd' as const },
          ]
        : []),
    ],
    warm: ['tiny', 'app', 'deep'],
    concurrency: [{ image: 'deep', levels: [1, 2, 4, 8] }, ...(full ? [{ image: 'app', levels: [1, 2, 4, 8] }] : [])],
    peers: ['skopeo', 'docker', 'podman'],
    storeMiB: 4096,
  };
}

/** The backing store from BERTH_BENCH_PULL_BACKING (tmpfs by default). */
export function backingFromEnv(value: string | undefined = process.env.BERTH_BENCH_PULL_BACKING): PullBacking {
  if (value === undefined || value === '') return 'tmpfs';
  if ((PULL_BACKINGS as readonly string[]).includes(value)) return value as PullBacking;
  throw new Error(`BERTH_BENCH_PULL_BACKING ${JSON.stringify(value)}: expected one of ${PULL_BACKINGS.join(', ')}`);
}

export interface PullSuiteOptions {
  backing?: PullBacking;
  driver?: PullDriver;
  /** What to measure, instead of the profile's plan (experiments, tests). */
  plan?: PullPlan;
}

/** An image variant's corpus totals. */
export interface ImageSize {
  compressed: number;
  uncompressed: number;
  layers: number;
  files: number;
}

/** Corpus totals by `image/compression`, filled when the world opens; derive() reads them. */
const sizes = new Map<string, ImageSize>();

function backingText(backing: PullBacking): string {
  return backing === 'tmpfs'
    ? 'a fresh tmpfs (the default backing store)'
    : 'a folder on the data root (BERTH_BENCH_PULL_BACKING=host)';
}

export function createPullSuite(options: PullSuiteOptions = {}): Suite {
  const driver: PullDriver = options.driver ?? 'overlay2';
  return {
    name: SUITE,
    description:
      'image pull from the embedded registry: cold/warm, gzip/zstd, layer concurrency, phases; skopeo, docker, podman and the physical reference side by side',
    targets: ['berth', 'reference', 'parallel-reference', 'skopeo', 'docker', 'podman'],
    async requires() {
      if (process.getuid?.() !== 0) return 'needs root (tmpfs backing store, overlay2 layers)';
      try {
        native();
      } catch (err) {
        return `needs the native core: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (spawnSync('tar', ['--version'], { stdio: 'ignore' }).status !== 0)
        return 'GNU tar not installed (the physical reference extracts with it)';
      return undefined;
    },
    cases(ctx: SuiteContext): CaseDef[] {
      const backing = options.backing ?? backingFromEnv();
      const plan = options.plan ?? pullPlan(ctx.profile);
      const zstd = spawnSync('zstd', ['--version'], { stdio: 'ignore' }).status === 0;
      if (!zstd) ctx.warn('zstd cases not measured: the zstd command is not installed (apt-get install zstd)');
      const compressions: Compression[] = zstd ? ['gzip', 'zstd', 'none'] : ['gzip', 'none'];
      const world = new PullWorld({
        dataRoot: ctx.dataRoot,
        profile: ctx.profile,
        seed: ctx.seed,
        images: plan.images,
        compressions,
        backing,
        storeMiB: plan.storeMiB,
      });
      const wants = (t: string) => ctx.targets.includes(t);
      const peers = plan.peers.filter((p) => {
        if (!wants(p)) return false;
        const why = peerUnavailable(p);
        if (why !== undefined) ctx.warn(`target ${p} not measured: ${why}`);
        return why === undefined;
      });
      if (wants('docker') && !plan.peers.includes('docker')) {
        ctx.warn(
          `target docker not measured in the ${ctx.profile} profile (dockerd start-up and its pulls do not fit its budget); run the default profile`,
        );
      }
      const env: Env = { world, backing, driver, dockerd: undefined, podman: undefined };
      let dockerZstd: string | undefined;
      let warnedZstd = false;
      const common = { backing, driver };
      const cases: MacroCase[] = [];
      for (const { image, compression, peers: withPeers } of plan.cold.filter(
        (c) => zstd || c.compression !== 'zstd',
      )) {
        const params = { image, compression, ...common };
        const group = `cold/${image}/${compression}`;
        if (wants('berth')) cases.push(berthCold(env, params, DEFAULT_CONCURRENCY, group));
        if (wants('reference')) cases.push(referenceCase(env, params, group));
        if (wants('parallel-reference')) cases.push(parallelReferenceCase(env, params, group));
        if (withPeers === false) continue;
        if (peers.includes('skopeo')) cases.push(skopeoCase(env, params, group));
        if (peers.includes('docker')) {
          const why = compression === 'zstd' ? (dockerZstd ??= dockerZstdUnavailable() ?? '') : '';
          if (why === '') cases.push(dockerCase(env, params, group));
          else if (!warnedZstd) {
            warnedZstd = true;
            ctx.warn(`target docker not measured on zstd: ${why}`);
          }
        }
        if (peers.includes('podman')) cases.push(podmanCase(env, params, group));
      }
      if (wants('berth')) {
        for (const { image, levels } of plan.concurrency) {
          for (const c of levels) {
            if (c === DEFAULT_CONCURRENCY) continue; // measured in the cold comparison group
            cases.push(berthCold(env, { image, compression: 'gzip', ...common }, c, `concurrency/${image}`));
          }
        }
        for (const image of plan.warm) cases.push(berthWarm(env, { image, compression: 'gzip', ...common }));
        cases.push(...crosscheckCases(env, plan, common, ctx.warn));
      }
      world.expect(cases.length);
      return cases.map(withForkSettle);
    },
    derive: (measured) => [...derivePull(measured), ...derivePullCrosschecks(measured)],
  };
}

/**
 * Why the installed dockerd cannot pull zstd layers, or undefined when it can (or its version is not known). moby
 * before 23 hands a zstd layer to its tar reader undecompressed: dockerd 20.10 here fails the pull with "failed to
 * register layer: Error processing tar file(exit status 1): archive/tar: invalid tar header".
 */
export function dockerZstdUnavailable(version: string | undefined = toolVersion(DOCKERD)): string | undefined {
  const m = /version (\d+)\.(\d+)/i.exec(version ?? '');
  if (m === null || Number(m[1]) >= 23) return undefined;
  return `dockerd ${m[1]}.${m[2]} cannot pull zstd layers (moby reads them from 23.0 on; this one fails with "archive/tar: invalid tar header")`;
}

/** The settling step's sentence, appended to every case's method. */
export const FORK_SETTLE_METHOD =
  'After every sample of every case of this suite (untimed), the bench process starts `true` and waits for it: ' +
  "a child started from the bench process (the references' tar, the peers' CLIs) leaves the bench's whole memory " +
  'copy-on-write, and the next in-process sample pays a page fault on each page it writes (docs/host-notes.md, ' +
  '"A pull after a fork"), so every sample starts after a fork, whichever case came before it.';

/**
 * `c` with the suite's settling step after each sample: the bench process forks and execs `true` (untimed), so
 * each sample starts in the same state however the group interleaves (see FORK_SETTLE_METHOD).
 */
export function withForkSettle(c: MacroCase): MacroCase {
  const after = c.afterSample;
  return {
    ...c,
    method: `${c.method} ${FORK_SETTLE_METHOD}`,
    async afterSample(ctx: Context, index: number) {
      try {
        await after?.(ctx, index);
      } finally {
        forkSettle();
      }
    },
  };
}

/** Starts `true` from this process and waits for it; throws naming it when it cannot run. */
export function forkSettle(): void {
  const r = spawnSync('true', [], { stdio: 'ignore' });
  if (r.error !== undefined || r.status !== 0)
    throw new Error(`pull bench: settling step \`true\`: ${r.error?.message ?? `exit ${r.status ?? r.signal}`}`);
}

/** The outside cross-check of the headline cold pull (app, gzip, or the first cold group). */
function crosscheckCases(
  env: Env,
  plan: PullPlan,
  common: Pick<Params, 'backing' | 'driver'>,
  warn: (m: string) => void,
): MacroCase[] {
  const head = plan.cold.find((c) => c.image === 'app' && c.compression === 'gzip') ?? plan.cold[0];
  if (head === undefined) return [];
  const params: Params = { image: head.image, compression: head.compression, ...common };
  return pullCrosschecks(
    {
      parameters: { ...params, ...decoderParameter(params) },
      concurrency: DEFAULT_CONCURRENCY,
      group: `cold/${head.image}/${head.compression}`,
      open: () => acquire(env, params),
      close: () => env.world.release(),
      reference: (w) => refOf(w, params),
      notes: info(params, 'berth', PROCESS_CASE, '-', '-').notes ?? [],
    },
    warn,
  );
}

interface Env {
  world: PullWorld;
  backing: PullBacking;
  driver: PullDriver;
  dockerd: Promise<BenchDockerd> | undefined;
  podman: Promise<PrivatePodman> | undefined;
}

type Params = { image: string; compression: Compression; backing: PullBacking; driver: PullDriver };

function refOf(w: OpenWorld, p: Params): string {
  return `${w.registryHost}/${REPOSITORY_PREFIX}/${p.image}:${p.compression}`;
}

/** Opens the world and records the image's sizes for derive(). */
async function acquire(env: Env, p: Params): Promise<OpenWorld> {
  const w = await env.world.acquire();
  const image = corpusImage(w.corpus, p.image);
  const compressed = image.totals.compressedBytes[p.compression];
  if (compressed === undefined) throw new Error(`pull bench: image ${p.image} has no ${p.compression} variant`);
  sizes.set(`${p.image}/${p.compression}`, {
    compressed,
    uncompressed: image.totals.uncompressedBytes,
    layers: image.totals.layers,
    files: image.totals.files,
  });
  return w;
}

function info(
  p: Params,
  target: string,
  caseName: string,
  method: string,
  group: string,
  extra: Record<string, number | string> = {},
  notes: string[] = [],
): CaseInfo {
  return {
    suite: SUITE,
    case: caseName,
    target,
    parameters: { ...p, ...extra },
    unit: 'ms',
    direction: 'lower-is-better',
    method,
    group,
    notes: [
      `The graph roots and peer folders live on ${backingText(p.backing)}; the registry serves from the data root over 127.0.0.1.`,
      ...notes,
    ],
  };
}

/**
 * The `decoder` parameter of berth's zstd cases: which implementation decoded (libzstd or
 * fzstd), so compare never matches a run of one against the other; {} for other compressions.
 */
export function decoderParameter(p: Pick<Params, 'compression'>): { decoder?: 'libzstd' | 'fzstd' } {
  return p.compression === 'zstd' ? { decoder: zstdDecoderInfo().kind } : {};
}

/** Which zstd decoder berth used in this run (libzstd through the native core, or the JS fallback and why). */
function zstdNote(): string {
  const z = zstdDecoderInfo();
  return z.kind === 'libzstd'
    ? "zstd decoded by the system's libzstd (libzstd.so.1) through berth's native core."
    : `zstd decoded by fzstd (pure JS, ≈3× slower): ${z.why ?? 'libzstd not usable'}.`;
}

/**
 * Untimed pulls of an image (per compression) the bench process makes before berth's first sample of it: a fresh
 * process's first pull of an image costs about twice the CPU of a later one and the next few still fall as V8
 * optimizes the pull's code, so with the quick profile's one warm-up run the samples sat on that slope and their
 * median moved from run to run.
 */
export const PROCESS_WARMUP_PULLS = 3;

/** Pulls made in this process, per `image/compression` (warm-up, samples and setups alike). */
const pullsMade = new Map<string, number>();

/** berth's cold pulls of an image this process has made (setups, warm-up runs and samples alike). */
export function berthPullsMade(image: string, compression: Compression): number {
  return pullsMade.get(`${image}/${compression}`) ?? 0;
}

function berthCold(env: Env, p: Params, concurrency: number, group: string): MacroCase {
  let world: OpenWorld | undefined;
  let graph: BenchGraph | undefined;
  const client = benchClient();
  return {
    ...info(
      p,
      'berth',
      'cold-pull',
      `One sample: berth's pull(ctx, graph, ref, {concurrency: ${concurrency}}) of the image into a graph (${p.driver}) opened on a fresh root just before (untimed), ` +
        'from manifest request to image stored; the graph root is deleted after the sample (untimed). ' +
        `Before its first sample the bench process has pulled the image ${PROCESS_WARMUP_PULLS} times (untimed, in the setup when no earlier case did), so the samples time pulls of code V8 has optimized, as a running berthd's.`,
      group,
      { concurrency, ...decoderParameter(p) },
      [
        `Phases (span → phase): ${PHASE_SPANS.map((s) => `${s.phase}: ${s.spans}`).join('; ')}. Fetch, decompress and apply overlap (one streaming pipeline per layer), so phase times add up to more than the pull.`,
        `Per layer (phase: spans, what they time): ${LAYER_PHASES.map((l) => `${l.phase}: ${l.spans.join(' + ')}, ${l.what}`).join('; ')}.`,
        'berth keeps each compressed layer blob in its content store besides applying it (as containerd does; dockerd keeps only the extracted layer), so it writes the compressed bytes once more than docker.',
        'The registry is berth-registry in a process of its own (as a remote registry would be), serving every target alike.',
        ...(p.compression === 'zstd' ? [zstdNote()] : []),
      ],
    ),
    kind: 'macro',
    phases: true,
    async setup(ctx: Context) {
      world = await acquire(env, p);
      const key = `${p.image}/${p.compression}`;
      while ((pullsMade.get(key) ?? 0) < PROCESS_WARMUP_PULLS) {
        const g = await openBenchGraph(ctx, await scratchDir(world, 'graph-warm-up'), p.driver);
        try {
          await berthPull(ctx, g, client, refOf(world, p), concurrency);
        } finally {
          await g.close(ctx);
        }
        pullsMade.set(key, (pullsMade.get(key) ?? 0) + 1);
      }
    },
    async beforeSample(ctx: Context) {
      graph = await openBenchGraph(ctx, await scratchDir(world!, 'graph'), p.driver);
    },
    async sample(ctx: Context) {
      const key = `${p.image}/${p.compression}`;
      pullsMade.set(key, (pullsMade.get(key) ?? 0) + 1);
      const r = await berthPull(ctx, graph!, client, refOf(world!, p), concurrency);
      if (r.layers.some((l) => l.skipped || !l.downloaded))
        throw new Error(`cold pull of ${p.image} found layers already present`);
    },
    async afterSample(ctx: Context) {
      await graph?.close(ctx);
      graph = undefined;
    },
    async teardown(ctx: Context) {
      await graph?.close(ctx).catch(() => undefined);
      await env.world.release();
    },
  };
}

function berthWarm(env: Env, p: Params): MacroCase {
  let world: OpenWorld | undefined;
  let graph: BenchGraph | undefined;
  const client = benchClient();
  return {
    ...info(
      p,
      'berth',
      'warm-pull',
      `One sample: berth's pull of an image the graph (${p.driver}) already holds (pulled once in the setup): manifest and config resolution, every layer found present, references re-pointed.`,
      `warm/${p.image}`,
      { concurrency: DEFAULT_CONCURRENCY, ...decoderParameter(p) },
    ),
    kind: 'macro',
    phases: true,
    async setup(ctx: Context) {
      world = await acquire(env, p);
      graph = await openBenchGraph(ctx, await scratchDir(world, 'graph-warm'), p.driver);
      await berthPull(ctx, graph, client, refOf(world, p), DEFAULT_CONCURRENCY);
    },
    async sample(ctx: Context) {
      const r = await berthPull(ctx, graph!, client, refOf(world!, p), DEFAULT_CONCURRENCY);
      if (r.layers.some((l) => !l.skipped)) throw new Error(`warm pull of ${p.image} applied a layer`);
    },
    async teardown(ctx: Context) {
      try {
        await graph?.close(ctx);
      } finally {
        graph = undefined;
        await env.world.release();
      }
    },
  };
}

/** A case whose sample extracts the image into a fresh scratch folder (`label`), removed after each sample. */
function scratchExtractCase(
  env: Env,
  p: Params,
  meta: CaseInfo,
  label: string,
  extract: (world: OpenWorld, dir: string) => Promise<void>,
): MacroCase {
  let world: OpenWorld | undefined;
  let dir: string | undefined;
  const removeDir = async (): Promise<void> => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  };
  return {
    ...meta,
    kind: 'macro',
    async setup() {
      world = await acquire(env, p);
    },
    async beforeSample() {
      dir = await scratchDir(world!, label);
    },
    async sample() {
      await extract(world!, dir!);
    },
    afterSample: removeDir,
    async teardown() {
      await removeDir();
      await env.world.release();
    },
  };
}

function referenceCase(env: Env, p: Params, group: string): MacroCase {
  return scratchExtractCase(
    env,
    p,
    info(p, 'reference', 'cold-pull', REFERENCE_METHOD, group),
    'reference',
    (world, dir) => referenceExtract(world.corpusDir, corpusImage(world.corpus, p.image), p.compression, dir),
  );
}

function parallelReferenceCase(env: Env, p: Params, group: string): MacroCase {
  const cores = os.availableParallelism();
  return scratchExtractCase(
    env,
    p,
    info(p, 'parallel-reference', 'cold-pull', PARALLEL_REFERENCE_METHOD, group, { pipelines: cores }),
    'parallel-reference',
    (world, dir) =>
      referenceFetchParallel(
        world.registry.url,
        `${REPOSITORY_PREFIX}/${p.image}`,
        corpusImage(world.corpus, p.image),
        p.compression,
        dir,
        cores,
      ),
  );
}

function podmanCase(env: Env, p: Params, group: string): MacroCase {
  let world: OpenWorld | undefined;
  let podman: PrivatePodman | undefined;
  return {
    ...info(
      p,
      'podman',
      'cold-pull',
      `One sample: \`podman --url unix://SOCK pull -q 127.0.0.1:PORT/${REPOSITORY_PREFIX}/${p.image}:${p.compression}\` against a private \`podman system service\` the suite started ` +
        '(overlay storage on a tmpfs of its own, its own run root, containers.conf and registries.conf naming the registry insecure); after each sample (untimed) ' +
        "`podman rmi -f` and `podman image prune -a -f` leave it empty. The time includes the remote CLI's process start.",
      group,
      {},
      ["podman's storage root is a tmpfs of its own (the private service's), not the suite's backing store."],
    ),
    kind: 'macro',
    async setup() {
      world = await acquire(env, p);
      if (env.podman === undefined) {
        const service = new PrivatePodman(world.scratch);
        const starting = service.start(world.registryHost).then(() => service);
        env.podman = starting;
        env.world.onClose('podman', async () => {
          env.podman = undefined;
          await starting.catch(() => undefined);
          await service.stop();
        });
      }
      podman = await env.podman;
      await podmanForget(podman, refOf(world, p));
    },
    async sample() {
      await podmanRun(podman!, ['pull', '-q', refOf(world!, p)]);
    },
    async afterSample() {
      await podmanForget(podman!, refOf(world!, p));
    },
    async teardown() {
      await env.world.release();
    },
  };
}

/** Runs the podman remote CLI against the private service; throws naming the command with its stderr. */
async function podmanRun(podman: PrivatePodman, args: string[]): Promise<void> {
  const [cmd, ...rest] = podman.cli(args);
  const r = await execa(cmd!, rest, { reject: false, stdin: 'ignore', timeout: 300_000 });
  if (r.failed) throw new Error(`podman ${args[0]}: ${String(r.stderr || r.shortMessage).trim()}`);
}

/** Removes the image and prunes every unused one, so the next pull is cold. */
async function podmanForget(podman: PrivatePodman, ref: string): Promise<void> {
  await podmanRun(podman, ['rmi', '-f', ref]).catch(() => undefined);
  await podmanRun(podman, ['image', 'prune', '-a', '-f']);
}

function skopeoCase(env: Env, p: Params, group: string): MacroCase {
  let world: OpenWorld | undefined;
  let dir: string | undefined;
  let policy = '';
  return {
    ...info(
      p,
      'skopeo',
      'cold-pull',
      `One sample: \`skopeo copy -q --src-tls-verify=false docker://127.0.0.1:PORT/${REPOSITORY_PREFIX}/${p.image}:${p.compression} oci:DIR:${p.compression}\` into a fresh folder (deleted after the sample, untimed); ` +
        'skopeo fetches and verifies the blobs but neither decompresses nor extracts them, and the time includes its process start.',
      group,
    ),
    kind: 'macro',
    async setup() {
      world = await acquire(env, p);
      policy = await writePolicy(await scratchDir(world, 'skopeo-policy'));
    },
    async beforeSample() {
      dir = join(await scratchDir(world!, 'skopeo'), 'layout');
    },
    async sample() {
      await skopeoCopy(
        policy,
        `${world!.registryHost}/${REPOSITORY_PREFIX}/${p.image}:${p.compression}`,
        dir!,
        p.compression,
      );
    },
    async afterSample() {
      if (dir !== undefined) await rm(join(dir, '..'), { recursive: true, force: true });
      dir = undefined;
    },
    async teardown() {
      if (dir !== undefined) await rm(join(dir, '..'), { recursive: true, force: true });
      await env.world.release();
    },
  };
}

function dockerCase(env: Env, p: Params, group: string): MacroCase {
  let world: OpenWorld | undefined;
  let dockerd: BenchDockerd | undefined;
  return {
    ...info(
      p,
      'docker',
      'cold-pull',
      `One sample: \`docker pull -q 127.0.0.1:PORT/${REPOSITORY_PREFIX}/${p.image}:${p.compression}\` against a dockerd the suite started (storage driver ${p.driver}, its data root on the same backing store, ` +
        "max-concurrent-downloads 3 by default); after each sample (untimed) `docker rmi -f` and `docker image prune -a -f` leave it empty. The time includes the CLI's process start.",
      group,
    ),
    kind: 'macro',
    async setup() {
      world = await acquire(env, p);
      if (env.dockerd === undefined) {
        const w = world;
        const starting = scratchDir(w, 'docker').then((dir) =>
          BenchDockerd.start(join(dir, 'data'), w.registryHost, p.driver),
        );
        env.dockerd = starting;
        env.world.onClose('dockerd', async () => {
          env.dockerd = undefined;
          const d = await starting.catch(() => undefined);
          await d?.stop();
        });
      }
      dockerd = await env.dockerd;
      await dockerd.forget(refOf(world, p));
    },
    async sample() {
      await dockerd!.pull(refOf(world!, p));
    },
    async afterSample() {
      await dockerd?.forget(refOf(world!, p));
    },
    async teardown() {
      await env.world.release();
    },
  };
}

/** What berth's cold pull is compared with, and the goal judged on each (none: the ratio is reported only). */
const COMPARISONS: readonly { target: string; goal?: { kind: 'time' | 'throughput'; factor: number } }[] = [
  { target: 'docker', goal: { kind: 'time', factor: GOALS.dockerTime } },
  { target: 'podman' },
  { target: 'parallel-reference', goal: { kind: 'time', factor: GOALS.parallelReferenceTime } },
  { target: 'reference', goal: { kind: 'throughput', factor: GOALS.referenceThroughput } },
];

function goalText(c: (typeof COMPARISONS)[number]): string {
  const g = c.goal!;
  return g.kind === 'time'
    ? `Goal berth time ≤ ${g.factor}× ${c.target}'s`
    : `Goal berth ≥ ${g.factor}× ${c.target} throughput`;
}

/**
 * Throughput of every cold pull (compressed and uncompressed MiB/s, from the
 * image's corpus sizes and each sample's time), berth against docker, podman and
 * the two physical references (paired samples: the targets of a group interleave,
 * so sample i of each was taken in the same round), and the goals.
 * Reads the corpus sizes without consuming anything: repeated calls give the same cases.
 */
export function derivePull(
  measured: readonly MeasuredCase[],
  sizeTable: ReadonlyMap<string, ImageSize> = sizes,
): DerivedCase[] {
  const out: DerivedCase[] = [];
  const cold = measured.filter((m) => m.info.case === 'cold-pull');
  for (const m of cold) {
    const p = m.info.parameters;
    const size = sizeTable.get(`${String(p.image)}/${String(p.compression)}`);
    if (size === undefined) continue;
    for (const kind of ['compressed', 'uncompressed'] as const) {
      const bytes = size[kind];
      out.push({
        ...m.info,
        case: 'cold-pull-throughput',
        parameters: { ...p, bytes: kind, imageBytes: bytes },
        unit: 'MiB/s',
        direction: 'higher-is-better',
        method: `Derived from cold-pull: the image's ${kind} size (${bytes} bytes over ${size.layers} layers, from corpus.json) divided by each sample's time.`,
        notes: [...(m.notes ?? m.info.notes ?? [])],
        samples: m.samples.map((ms) => bytes / MiB / (ms / 1000)),
        derived: { from: [m.info], how: 'throughput', pairing: 'same-sample' },
      });
    }
  }
  // comparisons per cold group: berth at the default concurrency vs docker and the reference
  const groups = new Map<string, MeasuredCase[]>();
  for (const m of cold) {
    const key = m.info.group ?? '';
    if (!key.startsWith('cold/')) continue;
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  for (const members of groups.values()) {
    const berth = members.find((m) => m.info.target === 'berth');
    if (berth === undefined) continue;
    const goals: string[] = [];
    for (const c of COMPARISONS) {
      const other = members.find((m) => m.info.target === c.target);
      if (other === undefined || other.samples.length === 0 || berth.samples.length === 0) {
        if (c.goal !== undefined) goals.push(`${goalText(c)}: not judged (${c.target} not measured in this run).`);
        continue;
      }
      const n = Math.min(berth.samples.length, other.samples.length);
      const ratios = Array.from({ length: n }, (_, i) => other.samples[i]! / berth.samples[i]!);
      const timeShare = median(berth.samples) / median(other.samples);
      const measured =
        c.goal?.kind === 'throughput'
          ? `median ${c.target} time / median berth time = ${(1 / timeShare).toFixed(2)}`
          : `median berth time / median ${c.target} time = ${timeShare.toFixed(2)}`;
      if (c.goal === undefined) goals.push(`berth against ${c.target} (no goal set): ${measured}.`);
      else {
        const met = c.goal.kind === 'time' ? timeShare <= c.goal.factor : 1 / timeShare >= c.goal.factor;
        goals.push(`${goalText(c)}: ${met ? 'met' : 'NOT met'} (${measured}).`);
      }
      if (n > 0) {
        out.push({
          ...berth.info,
          case: `cold-pull-vs-${c.target}`,
          unit: 'ratio',
          direction: 'higher-is-better',
          method: `Derived from cold-pull: ${c.target}'s sample time divided by berth's sample of the same interleaved round (> 1: berth is faster; equal to the throughput ratio on the same bytes).`,
          notes: [],
          samples: ratios,
          derived: { from: [other.info, berth.info], how: 'ratio', pairing: 'interleaved' },
        });
      }
    }
    for (const d of out) {
      if (
        d.target === 'berth' &&
        d.group === berth.info.group &&
        (d.case === 'cold-pull-throughput' || d.case.startsWith('cold-pull-vs-'))
      )
        d.notes = [...(d.notes ?? []), ...goals];
    }
  }
  return out;
}

/** The suite as registered: graph roots on tmpfs unless BERTH_BENCH_PULL_BACKING=host. */
export const pullSuite: Suite = createPullSuite();
