// Tests of the `graphdriver` suite: seeded layer tars, the cases per profile, and real runs
// (root) that give schema-valid cases and leave nothing behind, also when a case fails.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import tar from 'tar-stream';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mountsUnder } from '../../engine/graphdriver/mountinfo.js';
import { collectHostInfo } from '../host.js';
import { profiles, type ProfileSettings } from '../profiles.js';
import type { HostInfo } from '../results/document.js';
import { validateResult } from '../results/validate.js';
import { runBenchmarks } from '../runner.js';
import type { MacroCase, Suite, SuiteContext } from '../suite.js';
import { driverUnavailable } from './graphdriver-env.js';
import { layerTar, LAYER_SHAPES } from './graphdriver-layers.js';
import { DEPTHS, graphdriverSuite, variantsFor } from './graphdriver.js';
import { findSuite } from './index.js';
import { needs } from '../../testkit/needs.js';

const isRoot = process.getuid?.() === 0;
const btrfsMissing = driverUnavailable('btrfs');
const overlayMissing = driverUnavailable('overlay2');
const skipRun = !isRoot ? 'needs root (mounts, loop devices)' : (btrfsMissing ?? overlayMissing);

/** Tiny sizes and two samples per case: the whole suite end to end in well under a minute. */
const tiny: ProfileSettings = {
  ...profiles.quick,
  scale: 0.05,
  macro: { warmup: 1, minSamples: 2, maxSamples: 2, maxTimeMs: 1 },
};

const suiteCtx = (profile: ProfileSettings['name'], warnings: string[] = [], dataRoot = os.tmpdir()): SuiteContext => ({
  profile,
  settings: { ...profiles[profile], scale: tiny.scale },
  targets: ['berth', 'reference'],
  dataRoot,
  seed: 7,
  warn: (m) => warnings.push(m),
});

async function tarNames(buf: Buffer): Promise<{ name: string; type: string; size: number }[]> {
  const out: { name: string; type: string; size: number }[] = [];
  const extract = tar.extract();
  Readable.from([buf]).pipe(extract as unknown as NodeJS.WritableStream);
  for await (const entry of extract) {
    out.push({ name: entry.header.name, type: entry.header.type ?? '', size: entry.header.size ?? 0 });
    entry.resume();
  }
  return out;
}

/** Loop devices whose backing file lies under dir. */
async function loopsUnder(dir: string): Promise<string[]> {
  const { stdout } = await execa('losetup', ['-a', '-n', '-O', 'NAME,BACK-FILE', '--raw'], { reject: false });
  return String(stdout ?? '')
    .split('\n')
    .filter((l) => l.includes(dir));
}

describe('graphdriver layer tars', () => {
  it('are seeded: the same seed gives the same bytes, another seed other bytes, with the counts they claim', async () => {
    for (const shape of LAYER_SHAPES) {
      const a = await layerTar(shape, 0.05, 1);
      const b = await layerTar(shape, 0.05, 1);
      const c = await layerTar(shape, 0.05, 2);
      expect(a.tar.equals(b.tar), shape).toBe(true);
      expect(a.tar.equals(c.tar), shape).toBe(false);
      const entries = await tarNames(a.tar);
      expect(entries).toHaveLength(a.entries);
      expect(entries.filter((e) => e.type === 'file')).toHaveLength(a.files);
      expect(entries.filter((e) => e.type === 'file').reduce((s, e) => s + e.size, 0)).toBe(a.contentBytes);
      // directories come before what they hold
      const seen = new Set<string>();
      for (const e of entries) {
        const parent = e.name.replace(/\/$/, '').split('/').slice(0, -1).join('/');
        if (parent !== '') expect(seen.has(parent), `${shape}: ${e.name}`).toBe(true);
        seen.add(e.name.replace(/\/$/, ''));
      }
    }
  });

  it('have the shapes their names say and grow with the scale', async () => {
    const large = await layerTar('large-files', 1, 1);
    expect(large.files).toBe(4);
    expect(large.contentBytes).toBe(16 * 2 ** 20);
    const small = await layerTar('small-files', 0.5, 1);
    expect(small.files).toBe(400);
    expect(small.contentBytes / small.files).toBeLessThan(8 * 1024);
    const deep = await layerTar('deep-tree', 0.25, 1);
    const depth = Math.max(...(await tarNames(deep.tar)).map((e) => e.name.split('/').length));
    expect(depth).toBeGreaterThanOrEqual(25);
  });
});

describe('graphdriver suite: cases', () => {
  it('is registered as built and loads this suite', async () => {
    const registered = findSuite('graphdriver');
    expect(registered?.load).toBeDefined();
    expect(await registered!.load!()).toBe(graphdriverSuite);
    expect(graphdriverSuite.targets).toEqual(['berth', 'reference']);
  });

  it('measures vfs and overlay2 on tmpfs and btrfs on a loop btrfs; full adds ext4 loop files and the host for vfs and overlay2', () => {
    const text = (p: ProfileSettings['name']) => variantsFor(p).map((v) => `${v.driver}/${v.backing}`);
    expect(text('quick')).toEqual(['vfs/tmpfs', 'overlay2/tmpfs', 'btrfs/btrfs']);
    expect(text('default')).toEqual(text('quick'));
    expect(text('full')).toEqual([
      'vfs/tmpfs',
      'vfs/ext4',
      'vfs/host',
      'overlay2/tmpfs',
      'overlay2/ext4',
      'overlay2/host',
      'btrfs/btrfs',
    ]);
  });

  needs(btrfsMissing, overlayMissing).it(
    'pairs every apply-diff with a GNU tar reference of identical parameters, and covers every depth',
    () => {
      const cases = graphdriverSuite.cases(suiteCtx('default')) as MacroCase[];
      const apply = cases.filter((c) => c.case === 'apply-diff');
      expect(apply).toHaveLength(3 * LAYER_SHAPES.length * 2);
      for (const b of apply.filter((c) => c.target === 'berth')) {
        const r = apply.filter((c) => c.target === 'reference' && c.group === b.group);
        expect(r).toHaveLength(1);
        expect(r[0].parameters).toEqual(b.parameters);
        expect(b.unit).toBe('MiB/s');
        expect(b.direction).toBe('higher-is-better');
        expect(Object.keys(b.parameters).sort()).toEqual(['backing', 'driver', 'shape']);
      }
      const depths = (driver: string) =>
        cases.filter((c) => c.case === 'create-get' && c.parameters.driver === driver).map((c) => c.parameters.depth);
      for (const d of ['vfs', 'overlay2', 'btrfs']) expect(depths(d)).toEqual([...DEPTHS]);
      expect(cases.filter((c) => c.case === 'create-get').every((c) => c.phases === true && c.unit === 'ms')).toBe(
        true,
      );
      expect(cases.filter((c) => c.case === 'disk-usage').every((c) => c.unit === 'B')).toBe(true);
      const names = new Set(cases.map((c) => c.case));
      expect([...names].sort()).toEqual([
        'apply-diff',
        'copy-up',
        'create-get',
        'diff',
        'disk-usage',
        'read-deep',
        'remove',
      ]);
      for (const c of cases) expect(c.method).toMatch(/^One sample: /);
      // quick leaves depth 64 out to stay within its time
      const quick = graphdriverSuite.cases(suiteCtx('quick')) as MacroCase[];
      expect(
        quick.filter((c) => c.case === 'create-get' && c.parameters.driver === 'vfs').map((c) => c.parameters.depth),
      ).toEqual([1, 5, 20, 128]);
    },
  );

  it('needs root', async () => {
    expect(await graphdriverSuite.requires!(os.tmpdir())).toBe(
      isRoot ? undefined : 'needs root (tmpfs and loop mounts, overlay mounts, btrfs subvolumes)',
    );
  });
});

needs(skipRun).describe('graphdriver suite: runs', () => {
  let host: HostInfo;
  let dataRoot: string;
  beforeAll(async () => {
    host = await collectHostInfo({ dataRoot: os.tmpdir(), peers: [] });
  });
  beforeEach(async () => {
    dataRoot = await mkdtemp(join(os.tmpdir(), `berth-gd-bench-${process.pid}-`));
  });
  afterEach(async () => {
    const leftMounts = await mountsUnder(dataRoot);
    const leftLoops = await loopsUnder(dataRoot);
    const leftFiles = await readdir(dataRoot);
    for (const m of leftMounts) await execa('umount', ['-l', m], { reject: false });
    for (const l of leftLoops) await execa('losetup', ['-d', l.split(' ')[0]], { reject: false });
    await rm(dataRoot, { recursive: true, force: true });
    expect(leftMounts).toEqual([]);
    expect(leftLoops).toEqual([]);
    expect(leftFiles).toEqual([]);
  });

  const run = (suite: Suite, lines: string[]) =>
    runBenchmarks({
      suites: [{ name: suite.name, description: suite.description, load: async () => suite }],
      settings: tiny,
      seed: 5,
      dataRoot,
      argv: ['--test'],
      progress: (l) => lines.push(l),
      hostInfo: async () => host,
    });

  it('runs every quick case end to end into schema-valid cases with derived entries/s and inodes, goal notes and phases', async () => {
    const lines: string[] = [];
    const { document, failed } = await run(graphdriverSuite, lines);
    expect(failed, lines.join('\n')).toBe(false);
    expect(document.suites).toEqual([expect.objectContaining({ name: 'graphdriver', status: 'ran', reason: null })]);
    expect(() => validateResult(document)).not.toThrow();
    const cases = document.cases;
    for (const c of cases) {
      expect(c.samples.length, `${c.case} ${JSON.stringify(c.parameters)}`).toBe(2);
      expect(c.samples.every((s) => Number.isFinite(s) && s >= 0)).toBe(true);
    }
    const berthApply = cases.filter((c) => c.case === 'apply-diff' && c.target === 'berth');
    expect(berthApply).toHaveLength(9);
    for (const c of berthApply) {
      expect(c.notes.join(' ')).toMatch(
        /Goal: applyDiff within 1\.25× of GNU tar -x of the same tar: (met|not met) \(p50 /,
      );
      expect(c.notes.join(' ')).toMatch(/Backing store: a fresh (tmpfs|btrfs)/);
    }
    expect(cases.filter((c) => c.case === 'apply-diff' && c.target === 'reference')).toHaveLength(9);
    const entries = cases.filter((c) => c.case === 'apply-diff-entries');
    expect(entries).toHaveLength(18);
    expect(entries.every((c) => c.unit === 'ops/s')).toBe(true);
    const inodes = cases.filter((c) => c.case === 'inodes');
    expect(inodes.map((c) => c.parameters.driver)).toEqual(['vfs', 'overlay2', 'btrfs']);
    expect(inodes.every((c) => c.unit === 'count' && c.samples.every((s) => s > 0))).toBe(true);
    const usage = cases.filter((c) => c.case === 'disk-usage');
    expect(usage.every((c) => c.unit === 'B')).toBe(true);
    // vfs copies the image per container: it uses more space than overlay2's empty upper dirs
    expect(usage.find((c) => c.parameters.driver === 'vfs')!.stats.p50).toBeGreaterThan(
      usage.find((c) => c.parameters.driver === 'overlay2')!.stats.p50,
    );
    const get5 = cases.find(
      (c) => c.case === 'create-get' && c.parameters.driver === 'overlay2' && c.parameters.depth === 5,
    )!;
    expect(get5.notes.join(' ')).toMatch(/Goal: overlay2 get for a 5-layer image p50 ≤ 1 ms in-process: (met|not met)/);
    expect(get5.phases!.map((p) => p.name).sort()).toEqual(
      expect.arrayContaining(['graphdriver.overlay2.createReadWrite', 'graphdriver.overlay2.get']),
    );
    const btrfsDiff = cases.find((c) => c.case === 'diff' && c.parameters.driver === 'btrfs')!;
    expect(btrfsDiff.notes.join(' ')).toContain('Backing store: a fresh btrfs');
    expect(btrfsDiff.phases!.some((p) => p.name === 'graphdriver.btrfs.diff')).toBe(true);
  }, 240_000);

  it('cleans up everything when a case fails in its sample or after its setup', async () => {
    const failing: Suite = {
      ...graphdriverSuite,
      name: 'graphdriver',
      derive: undefined,
      cases: (ctx) => {
        const all = graphdriverSuite.cases(ctx) as MacroCase[];
        const pick = all.filter(
          (c) =>
            (c.case === 'create-get' && c.parameters.driver === 'overlay2' && c.parameters.depth === 5) ||
            (c.case === 'copy-up' && c.parameters.driver === 'btrfs') ||
            (c.case === 'apply-diff' && c.parameters.driver === 'btrfs' && c.parameters.shape === 'small-files'),
        );
        for (const c of pick) {
          if (c.case === 'create-get') {
            const sample = c.sample;
            c.sample = async (cx, i) => {
              await sample(cx, i); // mounted: the failure leaves a held mount for the hooks to undo
              throw new Error('injected sample failure');
            };
          } else if (c.case === 'copy-up') {
            const setup = c.setup!;
            c.setup = async (cx) => {
              await setup(cx); // loop device, mount and image made
              throw new Error('injected setup failure');
            };
          } else if (c.target === 'reference') {
            c.sample = () => {
              throw new Error('injected reference failure');
            };
          }
        }
        return pick;
      },
    };
    const lines: string[] = [];
    const { document, failed } = await run(failing, lines);
    expect(failed).toBe(true);
    const reason = document.suites[0].reason ?? '';
    expect(reason).toContain(
      'create-get [berth driver=overlay2 backing=tmpfs depth=5]: warm-up: injected sample failure',
    );
    expect(reason).toContain('copy-up [berth driver=btrfs backing=btrfs fileMiB=4]: setup: injected setup failure');
    expect(reason).toContain(
      'apply-diff [reference driver=btrfs backing=btrfs shape=small-files]: warm-up: injected reference failure',
    );
    // the berth half of the failed pair still ran
    expect(document.cases.map((c) => `${c.case}/${c.target}`)).toEqual(['apply-diff/berth']);
    expect(() => validateResult(document)).not.toThrow();
  }, 120_000);
});
