// Tests of the `pull` suite: its plan per profile, the derived throughput and goal
// notes, the physical reference, and its cases end to end through the runner
// (root, overlay2, tmpfs; docker only where docker.io is installed), leaving nothing behind.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderState } from '../../testkit/dockerd.js';
import { isBerthError } from '../../engine/errdefs/errors.js';
import { background } from '../../engine/trace/index.js';
import { onPath } from '../../engine/fsutil/on-path.js';
import type { CorpusImage } from '../corpus/index.js';
import { collectHostInfo } from '../host.js';
import { profiles, type ProfileSettings } from '../profiles.js';
import type { HostInfo, ResultDocument } from '../results/document.js';
import { validateResult } from '../results/validate.js';
import { runBenchmarks } from '../runner.js';
import type { MacroCase, MeasuredCase, SuiteContext } from '../suite.js';
import { findSuite } from './index.js';
import {
  backingFromEnv,
  berthPullsMade,
  createPullSuite,
  PROCESS_WARMUP_PULLS,
  DEFAULT_CONCURRENCY,
  derivePull,
  dockerZstdUnavailable,
  FORK_SETTLE_METHOD,
  withForkSettle,
  pullPlan,
  pullSuite,
  type ImageSize,
} from './pull.js';
import { mountsUnder, peerUnavailable } from './pull-peers.js';
import { LAYER_PHASES } from './pull-berth.js';
import { referenceExtract, referenceFetchParallel } from './pull-reference.js';
import { removeLeftovers } from './pull-world.js';
import { native } from '../../native/index.js';
import { needs, root } from '../../testkit/needs.js';

const haveZstd = spawnSync('zstd', ['--version'], { stdio: 'ignore' }).status === 0;
const haveSkopeo = peerUnavailable('skopeo') === undefined;
const haveDocker = peerUnavailable('docker') === undefined;
const havePodman = peerUnavailable('podman') === undefined;

/** Tiny sample counts: the point is that every case runs and the document is valid. */
const tiny: ProfileSettings = { ...profiles.quick, macro: { warmup: 1, minSamples: 2, maxSamples: 2, maxTimeMs: 1 } };

const suiteCtx = (over: Partial<SuiteContext> = {}): SuiteContext => ({
  profile: 'quick',
  settings: profiles.quick,
  targets: ['berth', 'reference', 'parallel-reference', 'skopeo', 'docker', 'podman'],
  dataRoot: os.tmpdir(),
  seed: 1,
  warn: () => undefined,
  ...over,
});

/** Processes whose command line mentions `needle` (e.g. a folder only this test made). */
function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

/** Children of this process (zombies included). */
function children(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

describe('pull suite: plan and cases', () => {
  it('is registered as built and loads this suite', async () => {
    const registered = findSuite('pull');
    expect(registered?.load).toBeDefined();
    expect(await registered!.load!()).toBe(pullSuite);
  });

  it('quick measures tiny and app with berth, both references and skopeo, and says why docker is left out', () => {
    const warnings: string[] = [];
    const cases = createPullSuite({ backing: 'tmpfs' }).cases(
      suiteCtx({ warn: (m) => warnings.push(m) }),
    ) as MacroCase[];
    expect(new Set(cases.map((c) => c.parameters.image))).toEqual(new Set(['tiny', 'app']));
    expect(cases.some((c) => c.target === 'docker')).toBe(false);
    expect(warnings.join('\n')).toContain('target docker not measured in the quick profile');
    const cold = cases.filter((c) => c.case === 'cold-pull' && c.group === 'cold/app/gzip');
    expect(cold.map((c) => c.target).sort()).toEqual(
      haveSkopeo
        ? ['berth', 'parallel-reference', 'reference', 'skopeo']
        : ['berth', 'parallel-reference', 'reference'],
    );
    expect(cold.find((c) => c.target === 'parallel-reference')!.parameters.pipelines).toBe(os.availableParallelism());
    expect(cold.find((c) => c.target === 'berth')!.parameters.concurrency).toBe(DEFAULT_CONCURRENCY);
    expect(cases.filter((c) => c.group === 'cold/app/zstd')).toHaveLength(haveZstd ? cold.length : 0);
    expect(cases.filter((c) => c.group === 'concurrency/app').map((c) => c.parameters.concurrency)).toEqual([1, 8]);
    expect(cases.filter((c) => c.case === 'warm-pull').map((c) => c.parameters.image)).toEqual(['tiny', 'app']);
    for (const c of cases) {
      expect(c.unit).toBe('ms');
      expect(c.parameters.backing).toBe('tmpfs');
      expect(c.method).toMatch(/^One sample: /);
      expect(c.method).toContain(FORK_SETTLE_METHOD);
      // berth's cases are traced, except the outside cross-check's processes (a `tool` parameter)
      expect(c.phases === true).toBe(c.target === 'berth' && c.parameters.tool === undefined);
    }
  });

  it('default adds the other images, the full concurrency sweep and every installed peer', () => {
    const warnings: string[] = [];
    const cases = createPullSuite().cases(
      suiteCtx({ profile: 'default', settings: profiles.default, warn: (m) => warnings.push(m) }),
    ) as MacroCase[];
    expect(new Set(cases.map((c) => c.parameters.image))).toEqual(new Set(['tiny', 'app', 'deep']));
    expect(
      cases
        .filter((c) => c.target === 'berth' && c.case === 'cold-pull' && c.parameters.image === 'deep')
        .map((c) => c.parameters.compression)
        .sort(),
    ).toEqual(haveZstd ? ['gzip', 'gzip', 'gzip', 'gzip', 'gzip', 'zstd'] : ['gzip', 'gzip', 'gzip', 'gzip', 'gzip']);
    // app and deep (gzip) are compared with every peer; deep zstd only with the references
    const appGzip = cases.filter((c) => c.group === 'cold/app/gzip');
    const everyone = [
      'berth',
      'reference',
      'parallel-reference',
      ...(haveSkopeo ? ['skopeo'] : []),
      ...(haveDocker ? ['docker'] : []),
      ...(havePodman ? ['podman'] : []),
    ];
    expect(appGzip.filter((c) => c.parameters.tool === undefined).map((c) => c.target)).toEqual(everyone);
    expect(cases.filter((c) => c.group === 'cold/deep/gzip').map((c) => c.target)).toEqual(everyone);
    if (haveZstd)
      expect(cases.filter((c) => c.group === 'cold/deep/zstd').map((c) => c.target)).toEqual([
        'berth',
        'reference',
        'parallel-reference',
      ]);
    // the outside cross-check: a process pulling twice and one pulling once, timed by hyperfine
    expect(appGzip.filter((c) => c.parameters.tool === 'hyperfine').map((c) => c.case)).toEqual(
      onPath('hyperfine') !== undefined ? ['pull-process-second', 'pull-process-first'] : [],
    );
    expect(cases.filter((c) => c.group === 'concurrency/deep').map((c) => c.parameters.concurrency)).toEqual([
      1, 2, 4, 8,
    ]);
    expect(cases.some((c) => c.target === 'docker')).toBe(haveDocker);
    if (!haveDocker) expect(warnings.join('\n')).toContain('target docker not measured');
    // a host without podman skips it with the reason
    if (!havePodman) expect(warnings.join('\n')).toContain('target podman not measured: podman not installed');
    expect(pullPlan('default').peers).toEqual(['skopeo', 'docker', 'podman']);
    expect(pullPlan('full').images).toEqual(['tiny', 'many-small-files', 'app', 'deep']);
  });

  it('leaves docker out of the zstd groups when the installed dockerd cannot pull zstd layers, saying why', () => {
    expect(dockerZstdUnavailable('Docker version 20.10.24+dfsg1, build 5d6db84')).toBe(
      'dockerd 20.10 cannot pull zstd layers (moby reads them from 23.0 on; this one fails with "archive/tar: invalid tar header")',
    );
    expect(dockerZstdUnavailable('Docker version 23.0.0, build e92dd87')).toBeUndefined();
    expect(dockerZstdUnavailable('Docker version 28.2.2, build e6534b4')).toBeUndefined();
    expect(dockerZstdUnavailable('')).toBeUndefined();
    const warnings: string[] = [];
    const cases = createPullSuite().cases(
      suiteCtx({ profile: 'full', settings: profiles.full, warn: (m) => warnings.push(m) }),
    ) as MacroCase[];
    const zstdDocker = cases.filter((c) => c.target === 'docker' && c.parameters.compression === 'zstd');
    const why = dockerZstdUnavailable();
    if (!haveDocker || !haveZstd) return;
    expect(cases.some((c) => c.target === 'docker' && c.parameters.compression === 'gzip')).toBe(true);
    if (why === undefined) expect(zstdDocker.length).toBeGreaterThan(0);
    else {
      expect(zstdDocker).toEqual([]);
      expect(warnings.filter((w) => w === `target docker not measured on zstd: ${why}`)).toHaveLength(1);
    }
  });

  it('only builds cases for the targets asked for', () => {
    const cases = createPullSuite().cases(suiteCtx({ targets: ['berth'] }));
    expect(new Set(cases.map((c) => c.target))).toEqual(new Set(['berth']));
  });

  it('takes the backing store from BERTH_BENCH_PULL_BACKING and rejects unknown ones by name', () => {
    expect(backingFromEnv(undefined)).toBe('tmpfs');
    expect(backingFromEnv('')).toBe('tmpfs');
    expect(backingFromEnv('host')).toBe('host');
    expect(() => backingFromEnv('nfs')).toThrow('BERTH_BENCH_PULL_BACKING "nfs": expected one of tmpfs, host');
  });
});

describe('withForkSettle', () => {
  // the settling step forks: afterwards the pages of this process are copy-on-write, so writing a buffer that was
  // already faulted in faults again on each of its pages (without a fork it does not)
  const refaults = async (buf: Buffer, step: () => Promise<void> | void): Promise<number> => {
    buf.fill(1);
    await step();
    const before = process.resourceUsage().minorPageFault;
    buf.fill(2);
    return process.resourceUsage().minorPageFault - before;
  };

  it("runs the case's own afterSample, then leaves the process as a fork does", async () => {
    const buf = Buffer.alloc(32 * 1024 * 1024);
    const pages = buf.length / 4096;
    let ran = 0;
    const c = withForkSettle({
      ...({} as MacroCase),
      method: 'One sample: x.',
      afterSample: () => {
        ran++;
      },
      sample: () => undefined,
    });
    expect(c.method).toBe(`One sample: x. ${FORK_SETTLE_METHOD}`);
    expect(await refaults(buf, () => undefined)).toBeLessThan(pages / 4);
    expect(await refaults(buf, () => c.afterSample!(background(), 0))).toBeGreaterThan(pages / 2);
    expect(ran).toBe(1);
  });
});

describe('derivePull', () => {
  const info = (target: string, extra: Record<string, number> = {}) => ({
    suite: 'pull',
    case: 'cold-pull',
    target,
    parameters: { image: 'app', compression: 'gzip', backing: 'tmpfs', driver: 'overlay2', ...extra },
    unit: 'ms' as const,
    direction: 'lower-is-better' as const,
    method: 'x',
    group: 'cold/app/gzip',
    notes: [],
  });
  const measured = (target: string, samples: number[], extra?: Record<string, number>): MeasuredCase => ({
    info: info(target, extra),
    samples,
    rounds: [samples],
  });
  const sizes = new Map<string, ImageSize>([
    ['app/gzip', { compressed: 10 * 1024 * 1024, uncompressed: 20 * 1024 * 1024, layers: 5, files: 100 }],
  ]);

  it('turns times into compressed and uncompressed MiB/s, pairs berth with the peers and references, and judges the goals in notes', () => {
    const out = derivePull(
      [
        measured('berth', [100, 200], { concurrency: 3 }),
        measured('docker', [300, 300]),
        measured('podman', [400, 400]),
        measured('reference', [50, 100]),
        measured('parallel-reference', [100, 150]),
      ],
      sizes,
    );
    const tp = (target: string, bytes: string) =>
      out.find((d) => d.case === 'cold-pull-throughput' && d.target === target && d.parameters.bytes === bytes)!;
    expect(tp('berth', 'compressed').samples).toEqual([100, 50]);
    expect(tp('berth', 'uncompressed').samples).toEqual([200, 100]);
    expect(tp('docker', 'compressed').samples.map((x) => Math.round(x * 1000) / 1000)).toEqual([33.333, 33.333]);
    expect(tp('berth', 'compressed').unit).toBe('MiB/s');
    expect(tp('berth', 'compressed').direction).toBe('higher-is-better');
    expect(out.find((d) => d.case === 'cold-pull-vs-docker')!.samples).toEqual([3, 1.5]);
    expect(out.find((d) => d.case === 'cold-pull-vs-reference')!.samples).toEqual([0.5, 0.5]);
    expect(out.find((d) => d.case === 'cold-pull-vs-parallel-reference')!.samples).toEqual([1, 0.75]);
    expect(out.find((d) => d.case === 'cold-pull-vs-podman')!.samples).toEqual([4, 2]);
    const notes = tp('berth', 'uncompressed').notes!.join('\n');
    // berth 150 ms, docker 300 ms: 0.50 of docker's time is more than 0.35
    expect(notes).toContain(
      "Goal berth time ≤ 0.35× docker's: NOT met (median berth time / median docker time = 0.50)",
    );
    expect(notes).toContain(
      "Goal berth time ≤ 1.2× parallel-reference's: met (median berth time / median parallel-reference time = 1.20)",
    );
    expect(notes).toContain('berth against podman (no goal set): median berth time / median podman time = 0.38.');
    expect(notes).toContain(
      'Goal berth ≥ 0.7× reference throughput: NOT met (median reference time / median berth time = 0.50)',
    );
    // peers get no goal notes
    expect(tp('docker', 'compressed').notes!.join('\n')).not.toContain('Goal');
  });

  it('says a goal was not judged when its peer was not measured', () => {
    const out = derivePull([measured('berth', [100], { concurrency: 3 })], sizes);
    expect(out.find((d) => d.case === 'cold-pull-vs-docker')).toBeUndefined();
    expect(out.find((d) => d.target === 'berth')!.notes!.join('\n')).toContain(
      "Goal berth time ≤ 0.35× docker's: not judged (docker not measured in this run)",
    );
  });
});

describe('referenceExtract', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(os.tmpdir(), `berth-pull-ref-${process.pid}-`));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A one-layer corpus image whose layer blobs are made with GNU tar (+ gzip / zstd). */
  async function fakeImage(corrupt = false): Promise<CorpusImage> {
    const src = join(dir, 'src');
    await mkdir(join(src, 'etc'), { recursive: true });
    await writeFile(join(src, 'etc', 'hello'), 'hello from the reference\n');
    const blobs = join(dir, 'layout', 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const refs: Record<string, { digest: string; size: number; mediaType: string }> = {};
    for (const [c, flag] of [
      ['gzip', '-z'],
      ['zstd', '--zstd'],
    ] as const) {
      if (c === 'zstd' && !haveZstd) continue;
      const tmp = join(dir, `layer.${c}`);
      expect(spawnSync('tar', ['-c', flag, '-f', tmp, '-C', src, 'etc']).status).toBe(0);
      const bytes = await readFile(tmp);
      // a corrupt blob: good bytes stored under another digest
      const hex = createHash('sha256')
        .update(corrupt ? Buffer.concat([bytes, Buffer.from('x')]) : bytes)
        .digest('hex');
      await writeFile(join(blobs, hex), bytes);
      refs[c] = { digest: `sha256:${hex}`, size: bytes.length, mediaType: 'x' };
    }
    return { name: 'fake', layout: 'layout', layers: [{ blobs: refs }] } as unknown as CorpusImage;
  }

  it.each(haveZstd ? ['gzip', 'zstd'] : ['gzip'])('extracts a %s layer after checking its digest', async (c) => {
    const image = await fakeImage();
    const out = await mkdtemp(join(dir, 'out-'));
    await referenceExtract(dir, image, c as 'gzip' | 'zstd', out);
    expect(await readFile(join(out, 'etc', 'hello'), 'utf8')).toBe('hello from the reference\n');
  });

  it('fails DATA_LOSS naming the layer when the blob does not match its digest', async () => {
    const image = await fakeImage(true);
    const out = await mkdtemp(join(dir, 'out-'));
    const err = await referenceExtract(dir, image, 'gzip', out).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBerthError(err, 'DATA_LOSS')).toBe(true);
    expect((err as Error).message).toMatch(/^reference layer sha256:[0-9a-f]{64}: digest mismatch \(got sha256:/);
  });
});

describe('referenceFetchParallel', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(os.tmpdir(), `berth-pull-pref-${process.pid}-`));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Serves `blobs` (digest → bytes) at /v2/r/blobs/<digest> on 127.0.0.1 while fn runs. */
  async function serving<T>(blobs: Map<string, Buffer>, fn: (url: string) => Promise<T>): Promise<T> {
    const server = createServer((req, res) => {
      const body = blobs.get(decodeURIComponent(req.url!.replace(/^\/v2\/r\/blobs\//, '')));
      res.writeHead(body === undefined ? 404 : 200).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      return await fn(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
    } finally {
      await new Promise((r) => server.close(r));
    }
  }

  /** `n` gzip layers, each one file, as a corpus image and the blobs to serve (one stored under a wrong digest). */
  async function layers(n: number, corruptIndex?: number): Promise<{ image: CorpusImage; blobs: Map<string, Buffer> }> {
    const blobs = new Map<string, Buffer>();
    const list = [];
    for (let i = 0; i < n; i++) {
      const src = await mkdtemp(join(dir, 'src-'));
      await writeFile(join(src, `f${i}`), `layer ${i}\n`);
      const tgz = join(dir, `l${i}.tgz`);
      expect(spawnSync('tar', ['-c', '-z', '-f', tgz, '-C', src, `f${i}`]).status).toBe(0);
      const bytes = await readFile(tgz);
      const hex = createHash('sha256')
        .update(i === corruptIndex ? Buffer.concat([bytes, Buffer.from('x')]) : bytes)
        .digest('hex');
      blobs.set(`sha256:${hex}`, bytes);
      list.push({ blobs: { gzip: { digest: `sha256:${hex}`, size: bytes.length, mediaType: 'x' } } });
    }
    return { image: { name: 'fake', layout: 'layout', layers: list } as unknown as CorpusImage, blobs };
  }

  it('fetches, checks and extracts every layer into a folder of its own, several at once', async () => {
    const { image, blobs } = await layers(5);
    const out = await mkdtemp(join(dir, 'out-'));
    await serving(blobs, (url) => referenceFetchParallel(url, 'r', image, 'gzip', out, 2));
    for (let i = 0; i < 5; i++) expect(await readFile(join(out, String(i), `f${i}`), 'utf8')).toBe(`layer ${i}\n`);
  });

  it('fails DATA_LOSS naming the layer whose blob does not match, and names a missing blob', async () => {
    const { image, blobs } = await layers(3, 1);
    const out = await mkdtemp(join(dir, 'out-'));
    const err = await serving(blobs, (url) => referenceFetchParallel(url, 'r', image, 'gzip', out)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBerthError(err, 'DATA_LOSS')).toBe(true);
    expect((err as Error).message).toMatch(/^reference layer sha256:[0-9a-f]{64}: digest mismatch/);
    const empty = await mkdtemp(join(dir, 'out-'));
    const missing = await serving(new Map(), (url) => referenceFetchParallel(url, 'r', image, 'gzip', empty)).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(missing?.message).toMatch(
      /^reference layer sha256:[0-9a-f]{64}: GET http:\/\/127\.0\.0\.1:\d+\/v2\/r\/blobs\/sha256:[0-9a-f]{64}: HTTP 404/,
    );
  });
});

needs(root()).describe('pull suite end to end (root: tmpfs, overlay2)', () => {
  let dataRoot: string;
  let host: HostInfo;
  const etcDocker = folderState();

  beforeAll(async () => {
    dataRoot = await mkdtemp(join(os.tmpdir(), `berth-pull-suite-${process.pid}-`));
    host = await collectHostInfo({ dataRoot, peers: [] });
  });
  afterAll(async () => {
    if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
  });

  /** Nothing of the run is left: mounts, folders besides the corpus cache, processes, dockerd's folders. */
  async function expectNothingLeft(): Promise<void> {
    expect(await mountsUnder(dataRoot)).toEqual([]);
    expect(readdirSync(dataRoot)).toEqual(['berth-bench-cache']);
    expect(readdirSync(os.tmpdir()).filter((n) => n.startsWith(`bpd-${process.pid}-`))).toEqual([]);
    expect(processesMentioning(`bpd-${process.pid}-`)).toEqual([]);
    expect(children()).toEqual([]);
    expect(folderState()).toEqual(etcDocker);
  }

  async function run(targets?: string[], suite = pullSuite): Promise<ResultDocument> {
    const lines: string[] = [];
    const { document, failed } = await runBenchmarks({
      suites: [{ name: 'pull', description: 'pull', load: async () => suite }],
      settings: tiny,
      seed: 1,
      dataRoot,
      argv: ['--test'],
      progress: (l) => lines.push(l),
      hostInfo: async () => host,
      ...(targets ? { targets } : {}),
    });
    expect(failed, lines.join('\n')).toBe(false);
    expect(() => validateResult(document)).not.toThrow();
    return document;
  }

  it('runs the quick cases into a schema-valid document with phases, throughput and goal notes', async () => {
    const doc = await run();
    expect(doc.suites).toEqual([expect.objectContaining({ name: 'pull', status: 'ran' })]);
    const cold = doc.cases.filter((c) => c.case === 'cold-pull');
    expect(
      cold
        .filter((c) => c.target === 'berth')
        .map((c) => `${c.parameters.image}/${c.parameters.compression}/${c.parameters.concurrency}`)
        .sort(),
    ).toEqual(['app/gzip/1', 'app/gzip/3', 'app/gzip/8', 'tiny/gzip/3', ...(haveZstd ? ['app/zstd/3'] : [])].sort());
    expect(cold.filter((c) => c.target === 'reference')).toHaveLength(haveZstd ? 3 : 2);
    if (haveSkopeo) expect(cold.filter((c) => c.target === 'skopeo')).toHaveLength(haveZstd ? 3 : 2);
    for (const c of doc.cases.filter((c) => c.case === 'cold-pull' || c.case === 'warm-pull')) {
      expect(c.samples).toHaveLength(2);
      expect(c.samples.every((s) => s > 0)).toBe(true);
    }
    const berthApp = cold.find(
      (c) =>
        c.target === 'berth' &&
        c.parameters.image === 'app' &&
        c.parameters.compression === 'gzip' &&
        c.parameters.concurrency === 3,
    )!;
    const phases = new Map(berthApp.phases!.map((p) => [p.name, p]));
    for (const name of [
      'registry.manifest',
      'registry.blobBytes',
      'registry.layer.fetch',
      'registry.blob',
      'graph.content.ingest.commit',
      'registry.layer.apply',
      'registry.layer.decompress',
      'graph.layers.register',
      'graph.images.create',
      ...LAYER_PHASES.flatMap((l) => l.spans),
    ]) {
      expect(phases.has(name), name).toBe(true);
    }
    // one of each per-layer span per layer of the app image (5)
    for (const name of [
      'registry.layer.fetch',
      'graph.content.ingest.commit',
      'registry.layer.apply',
      ...LAYER_PHASES.flatMap((l) => l.spans),
    ])
      expect(phases.get(name)!.callsPerOp, name).toBe(5);
    expect(berthApp.notes.join('\n')).toContain('Per layer (phase: spans, what they time): fetch: registry.blob');
    // warm: no layer fetched
    const warm = doc.cases.find((c) => c.case === 'warm-pull' && c.parameters.image === 'app')!;
    expect(warm.phases!.some((p) => p.name === 'registry.layer.fetch')).toBe(false);
    expect(warm.phases!.some((p) => p.name === 'registry.manifest')).toBe(true);
    // throughput = corpus bytes / time, per sample
    const tp = doc.cases.find(
      (c) =>
        c.case === 'cold-pull-throughput' &&
        c.target === 'berth' &&
        c.parameters.image === 'app' &&
        c.parameters.concurrency === 3 &&
        c.parameters.compression === 'gzip' &&
        c.parameters.bytes === 'uncompressed',
    )!;
    expect(tp.unit).toBe('MiB/s');
    expect(tp.samples).toEqual(
      berthApp.samples.map((ms) => Number(tp.parameters.imageBytes) / 1024 / 1024 / (ms / 1000)),
    );
    expect(tp.notes.join('\n')).toMatch(
      /Goal berth ≥ 0\.7× reference throughput: (met|NOT met) \(median reference time/,
    );
    expect(tp.notes.join('\n')).toContain("Goal berth time ≤ 0.35× docker's: not judged");
    expect(tp.notes.join('\n')).toMatch(
      /Goal berth time ≤ 1\.2× parallel-reference's: (met|NOT met) \(median berth time \/ median parallel-reference time = /,
    );
    expect(doc.cases.filter((c) => c.case === 'cold-pull-vs-reference')).toHaveLength(haveZstd ? 3 : 2);
    expect(doc.cases.filter((c) => c.case === 'cold-pull-vs-parallel-reference')).toHaveLength(haveZstd ? 3 : 2);
    expect(cold.filter((c) => c.target === 'parallel-reference')).toHaveLength(haveZstd ? 3 : 2);
    // the outside cross-check: the app pulled twice and once as whole processes (hyperfine), their agreement
    if (onPath('hyperfine') !== undefined) {
      const proc = doc.cases.find((c) => c.case === 'pull-process-second')!;
      const first = doc.cases.find((c) => c.case === 'pull-process-first')!;
      expect(proc.parameters).toMatchObject({ image: 'app', compression: 'gzip', concurrency: 3, tool: 'hyperfine' });
      expect(proc.samples).toHaveLength(2);
      expect(first.samples.every((s) => s > 0)).toBe(true);
      const agreement = doc.cases.find((c) => c.case === 'cold-pull-crosscheck')!;
      expect(agreement.derived).toMatchObject({ how: 'ratio', pairing: 'interleaved' });
      expect(agreement.derived!.from).toHaveLength(3);
      expect(agreement.notes[0]).toMatch(/^(Agrees within|DISAGREES by more than) 10 %: hyperfine median /);
    }
    await expectNothingLeft();
    // the quick plan plus the cross-check's process starts: minutes on a loaded host
  }, 600_000);

  it('puts the graph roots on the data root with backing host, and records it', async () => {
    const suite = createPullSuite({
      backing: 'host',
      plan: {
        images: ['tiny'],
        cold: [{ image: 'tiny', compression: 'gzip' }],
        warm: [],
        concurrency: [],
        peers: [],
        storeMiB: 64,
      },
    });
    const before = berthPullsMade('tiny', 'gzip');
    const doc = await run(['berth', 'reference'], suite);
    const cold = doc.cases.filter((c) => c.case === 'cold-pull');
    // the samples follow at least PROCESS_WARMUP_PULLS untimed pulls of the image in this process (the setup's)
    const berth = cold.find((c) => c.target === 'berth')!;
    expect(berthPullsMade('tiny', 'gzip') - before).toBe(
      Math.max(0, PROCESS_WARMUP_PULLS - before) + berth.warmup + berth.samples.length,
    );
    expect(cold.map((c) => [c.target, c.parameters.backing])).toEqual([
      ['berth', 'host'],
      ['reference', 'host'],
    ]);
    expect(cold[0]!.notes.join(' ')).toContain('a folder on the data root');
    await expectNothingLeft();
  }, 120_000);

  it('removes the registry folders and tmpfs stores of dead bench processes, and nothing of live ones', async () => {
    const dead = spawnSync('true').pid!;
    const root = await mkdtemp(join(dataRoot, 'leftovers-'));
    try {
      const reg = join(root, `berth-pull-registry-${dead}-abc`);
      const store = join(root, `berth-store-tmpfs-${dead}-def`);
      const mine = join(root, `berth-pull-registry-${process.pid}-ghi`);
      await mkdir(join(reg, 'repos'), { recursive: true });
      await mkdir(join(store, 'mnt'), { recursive: true });
      await mkdir(mine);
      native().mount('tmpfs', join(store, 'mnt'), 'tmpfs', 0, 'size=1m');
      expect((await removeLeftovers(root)).sort()).toEqual([reg, store].sort());
      expect(readdirSync(root)).toEqual([`berth-pull-registry-${process.pid}-ghi`]);
      expect(await mountsUnder(root)).toEqual([]);
    } finally {
      for (const p of await mountsUnder(root)) native().umount2(p, 2);
      await rm(root, { recursive: true, force: true });
    }
  });

  needs(peerUnavailable('docker')).it(
    'measures docker pull against its own dockerd, judges the docker goal, and stops dockerd',
    async () => {
      const suite = createPullSuite({
        plan: {
          images: ['tiny'],
          cold: [{ image: 'tiny', compression: 'gzip' }],
          warm: [],
          concurrency: [],
          peers: ['docker'],
          storeMiB: 512,
        },
      });
      const doc = await run(['berth', 'docker'], suite);
      const docker = doc.cases.find((c) => c.case === 'cold-pull' && c.target === 'docker')!;
      expect(docker.samples).toHaveLength(2);
      expect(doc.cases.find((c) => c.case === 'cold-pull-vs-docker')!.samples).toHaveLength(2);
      const notes = doc.cases.find((c) => c.case === 'cold-pull-throughput' && c.target === 'berth')!.notes.join('\n');
      expect(notes).toMatch(
        /Goal berth time ≤ 0\.35× docker's: (met|NOT met) \(median berth time \/ median docker time/,
      );
      await expectNothingLeft();
    },
    300_000,
  );
});
