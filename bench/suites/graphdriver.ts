// The `graphdriver` suite: what vfs, overlay2 and btrfs cost for what pulls and runs ask
// of them (applyDiff vs GNU tar, create+get by depth, copy-up, …), each on a recorded backing store.
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { mkdir, rm, statfs, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import type { Context } from '../../engine/trace/index.js';
import { createBackingStore, type BackingKind, type BackingStore } from '../backing-store.js';
import { scaled, type ProfileSettings } from '../profiles.js';
import type { CaseDef, DerivedCase, MacroCase, MeasuredCase, Suite, SuiteContext } from '../suite.js';
import {
  backingUnavailable,
  buildChain,
  driverUnavailable,
  DRIVER_NAMES,
  openDriverEnv,
  tarReader,
  type DriverEnv,
  type DriverName,
} from './graphdriver-env.js';
import {
  buildLayerTar,
  LAYER_SHAPES,
  layerFiles,
  layerTar,
  type LayerShape,
  type LayerTar,
} from './graphdriver-layers.js';
import { median } from '../stats.js';

const SUITE = 'graphdriver';

/** Chain depths of the create+get case (image layers under the container's layer). */
export const DEPTHS: readonly number[] = [1, 5, 20, 64, 128];

/** Goals from the issue; each case's notes (from its resultNotes hook) say whether its run met them. */
export const GOALS = { overlay2GetMs: 1, overlay2GetDepth: 5, applyVsTar: 1.25 } as const;

/** One driver on one backing store. */
export interface Variant {
  driver: DriverName;
  backing: BackingKind;
}

/**
 * The driver × backing pairs a profile measures: tmpfs under vfs and overlay2 and a
 * loop btrfs under btrfs; `full` adds a loop ext4 and the host's data root for vfs and overlay2.
 */
export function variantsFor(profile: ProfileSettings['name']): Variant[] {
  const out: Variant[] = [];
  for (const driver of DRIVER_NAMES) {
    if (driver === 'btrfs') {
      out.push({ driver, backing: 'btrfs' });
      continue;
    }
    out.push({ driver, backing: 'tmpfs' });
    if (profile === 'full') out.push({ driver, backing: 'ext4' }, { driver, backing: 'host' });
  }
  return out;
}

/** Loop files are sparse and tmpfs only a limit, so a generous size costs nothing until used. */
const STORE_MIB = 4096;

let serial = 0;
/** A layer id unique in this process. */
function nextId(prefix: string): string {
  return `${prefix}-${process.pid}-${serial++}`;
}

const tarCache = new Map<string, Promise<LayerTar>>();
function cachedLayer(shape: LayerShape, scale: number, seed: number): Promise<LayerTar> {
  const key = `${shape}/${scale}/${seed}`;
  let p = tarCache.get(key);
  if (p === undefined) {
    p = layerTar(shape, scale, seed);
    p.catch(() => tarCache.delete(key));
    tarCache.set(key, p);
  }
  return p;
}

function elapsedMs(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Sets (or replaces) the note of `def` that starts with `prefix`. */
function setNote(def: { notes?: string[] }, prefix: string, text: string): void {
  def.notes ??= [];
  const i = def.notes.findIndex((n) => n.startsWith(prefix));
  if (i >= 0) def.notes[i] = text;
  else def.notes.push(text);
}

const storeNote = 'Backing store: ';
function recordStore(def: { notes?: string[] }, store: BackingStore): void {
  setNote(def, storeNote, `${storeNote}${store.description}; the workload's files are on ${store.filesystem}.`);
}

/** The driver environment a case opens in setup and disposes in teardown (also after a failed setup). */
class EnvHolder {
  private env: DriverEnv | undefined;
  constructor(
    private readonly v: Variant,
    private readonly dataRoot: string,
  ) {}

  async open(ctx: Context, def: MacroCase): Promise<DriverEnv> {
    this.env = await openDriverEnv(ctx, this.v.driver, this.v.backing, { dir: this.dataRoot, sizeMiB: STORE_MIB });
    recordStore(def, this.env.store);
    return this.env;
  }

  get(): DriverEnv {
    if (this.env === undefined) throw new Error(`graphdriver ${this.v.driver} on ${this.v.backing}: not set up`);
    return this.env;
  }

  async close(ctx: Context): Promise<void> {
    const env = this.env;
    this.env = undefined;
    await env?.dispose(ctx);
  }
}

type CaseBase = Pick<MacroCase, 'kind' | 'suite' | 'target' | 'group'>;
const base = (target: string, group?: string): CaseBase => ({
  kind: 'macro',
  suite: SUITE,
  target,
  ...(group !== undefined ? { group } : {}),
});

/** Facts about each apply-diff case that derive() needs (keyed by the case object the runner hands back). */
const applyFacts = new WeakMap<object, { entries: number; files: number; tarBytes: number }>();
/** Inode counts recorded beside each disk-usage sample, for the derived inode case. */
const inodeSamples = new WeakMap<object, number[]>();

/**
 * applyDiff throughput of one layer shape, and GNU tar extracting the same tar into a
 * folder on the same kind of store (target reference), interleaved in one group.
 */
function applyDiffCases(v: Variant, shape: LayerShape, sc: SuiteContext): MacroCase[] {
  const params = { driver: v.driver, backing: v.backing, shape };
  const group = `apply-diff/${v.driver}/${v.backing}/${shape}`;
  const holder = new EnvHolder(v, sc.dataRoot);
  let layer: LayerTar | undefined;
  let id: string | undefined;
  const goalPrefix = 'Goal: applyDiff';

  const berth: MacroCase = {
    ...base('berth', group),
    case: 'apply-diff',
    parameters: params,
    unit: 'MiB/s',
    direction: 'higher-is-better',
    method:
      `One sample: ${v.driver} applyDiff of a seeded uncompressed ${shape} layer tar held in memory into a layer fresh from create() (no parent); ` +
      'MiB/s = tar bytes / time of the applyDiff call. The layer is created before and removed after, untimed.',
    notes: [],
    setup: async (ctx) => {
      layer = await cachedLayer(shape, sc.settings.scale, sc.seed);
      await holder.open(ctx, berth);
      applyFacts.set(berth, { entries: layer.entries, files: layer.files, tarBytes: layer.tar.length });
      setNote(
        berth,
        'Layer: ',
        `Layer: ${layer.description}; ${layer.entries} tar entries, ${(layer.tar.length / 2 ** 20).toFixed(1)} MiB of tar.`,
      );
    },
    beforeSample: async (ctx) => {
      id = nextId('apply');
      await holder.get().raw.create(ctx, id, undefined);
    },
    sample: async (ctx) => {
      const t0 = process.hrtime.bigint();
      await holder.get().driver.applyDiff(ctx, id!, undefined, tarReader(layer!.tar));
      return layer!.tar.length / 2 ** 20 / (elapsedMs(t0) / 1e3);
    },
    afterSample: async (ctx) => {
      if (id !== undefined) await holder.get().raw.remove(ctx, id);
      id = undefined;
    },
    teardown: async (ctx) => holder.close(ctx),
    resultNotes: (result, group) => {
      const tar = group.find((g) => g.info.target === 'reference');
      if (tar === undefined)
        return [
          `${goalPrefix} within ${GOALS.applyVsTar}× of GNU tar -x of the same tar: not evaluated (the reference target did not run).`,
        ];
      const ours = result.stats.p50;
      const theirs = tar.stats.p50;
      const ratio = theirs / ours; // time ratio berth / GNU tar
      return [
        `${goalPrefix} within ${GOALS.applyVsTar}× of GNU tar -x of the same tar: ${ratio <= GOALS.applyVsTar ? 'met' : 'not met'} ` +
          `(p50 ${ours.toFixed(1)} MiB/s vs GNU tar ${theirs.toFixed(1)} MiB/s: berth takes ${ratio.toFixed(2)}× tar's time).`,
      ];
    },
  };

  let refStore: BackingStore | undefined;
  let refDir: string | undefined;
  let tarFile: string | undefined;
  const reference: MacroCase = {
    ...base('reference', group),
    case: 'apply-diff',
    parameters: params,
    unit: 'MiB/s',
    direction: 'higher-is-better',
    method:
      `One sample: GNU tar -x --numeric-owner -p -f of the same ${shape} tar, read from a file on the same store (page cache warm), into an empty folder on a store of the same kind (${v.backing}); ` +
      'MiB/s = tar bytes / time from spawn to exit (the process spawn, a few ms, included: it weighs on small layers). The folder is made before and deleted after, untimed.',
    notes: [
      'The reference for the applyDiff goal: GNU tar writes what berth writes (files, dirs, owners, modes, mtimes) without layer semantics or path checks.',
    ],
    setup: async () => {
      layer = await cachedLayer(shape, sc.settings.scale, sc.seed);
      applyFacts.set(reference, { entries: layer.entries, files: layer.files, tarBytes: layer.tar.length });
      refStore = await createBackingStore(v.backing, { dir: sc.dataRoot, sizeMiB: STORE_MIB });
      recordStore(reference, refStore);
      tarFile = `${refStore.path}/layer.tar`;
      await writeFile(tarFile, layer.tar);
    },
    beforeSample: async () => {
      refDir = `${refStore!.path}/${nextId('tar')}`;
      await mkdir(refDir);
    },
    sample: async (ctx) => {
      const t0 = process.hrtime.bigint();
      await execa('tar', ['-x', '--numeric-owner', '-p', '-f', tarFile!, '-C', refDir!], {
        stdin: 'ignore',
        cancelSignal: ctx.signal,
      });
      return layer!.tar.length / 2 ** 20 / (elapsedMs(t0) / 1e3);
    },
    afterSample: async () => {
      if (refDir !== undefined) await rm(refDir, { recursive: true, force: true });
      refDir = undefined;
    },
    teardown: async () => {
      const s = refStore;
      refStore = undefined;
      await s?.dispose();
    },
  };

  return [berth, reference];
}

/** createReadWrite of a container layer on an image of `depth` layers, then get (mount); phases split the two. */
function createGetCase(v: Variant, depth: number, sc: SuiteContext): MacroCase {
  const holder = new EnvHolder(v, sc.dataRoot);
  let top: string | undefined;
  let cid: string | undefined;
  let held = false;
  const getMs: number[] = [];
  const goal = v.driver === 'overlay2' && depth === GOALS.overlay2GetDepth;
  const def: MacroCase = {
    ...base('berth'),
    case: 'create-get',
    parameters: { driver: v.driver, backing: v.backing, depth },
    unit: 'ms',
    direction: 'lower-is-better',
    method:
      `One sample: createReadWrite of a container layer on an image chain of ${depth} layer(s) (each adding one small file), then get() of it ` +
      `(${v.driver === 'overlay2' ? `an overlay mount with ${depth} lower dir(s)` : v.driver === 'vfs' ? 'a full copy at create, no mount' : 'a subvolume snapshot at create, no mount'}); ` +
      'put and remove after, untimed. Phases: the driver calls, from instrument() spans.',
    notes: [
      'Reference figures on this kind of host: overlay mount+umount syscalls ≈ 0.27 ms (1 or 5 lowers), ≈ 0.43 ms (20 lowers); btrfs snapshot ≈ 3–5 ms.',
    ],
    phases: true,
    setup: async (ctx) => {
      const env = await holder.open(ctx, def);
      const ids = await buildChain(ctx, env, nextId('img'), depth);
      top = ids[ids.length - 1];
    },
    sample: async (ctx, index) => {
      const env = holder.get();
      cid = nextId('ctr');
      await env.driver.createReadWrite(ctx, cid, top);
      const t0 = process.hrtime.bigint();
      await env.driver.get(ctx, cid);
      held = true;
      if (index >= 0) getMs.push(elapsedMs(t0));
    },
    afterSample: async (ctx) => {
      const env = holder.get();
      if (cid !== undefined) {
        if (held) await env.raw.put(ctx, cid);
        await env.raw.remove(ctx, cid);
      }
      cid = undefined;
      held = false;
    },
    teardown: async (ctx) => holder.close(ctx),
    resultNotes: () => {
      if (getMs.length === 0) return [];
      const p50 = median(getMs);
      return goal
        ? [
            `Goal: overlay2 get for a ${depth}-layer image p50 ≤ ${GOALS.overlay2GetMs} ms in-process: ${p50 <= GOALS.overlay2GetMs ? 'met' : 'not met'} (get alone: p50 ${p50.toFixed(3)} ms).`,
          ]
        : [`get alone: p50 ${p50.toFixed(3)} ms over ${getMs.length} samples.`];
    },
  };
  return def;
}

/**
 * First write to a large file that lives in the image: overlay2 copies it up whole, btrfs copies one extent, vfs
 * already copied it at create.
 */
function copyUpCase(v: Variant, sc: SuiteContext): MacroCase {
  const holder = new EnvHolder(v, sc.dataRoot);
  const fileMiB = scaled(sc.settings, 16, 4);
  let image: string | undefined;
  let cid: string | undefined;
  let rootfs: string | undefined;
  const def: MacroCase = {
    ...base('berth'),
    case: 'copy-up',
    parameters: { driver: v.driver, backing: v.backing, fileMiB },
    unit: 'ms',
    direction: 'lower-is-better',
    method:
      `One sample: open a ${fileMiB} MiB file of the image's (only) layer read-write through a fresh container layer's rootfs (from get()), ` +
      'write one byte at offset 0 and close. The container layer is created and mounted before, put and removed after, untimed.',
    notes:
      v.driver === 'vfs'
        ? ['vfs copied the whole image when the container layer was created, so the write itself copies nothing.']
        : [],
    setup: async (ctx) => {
      const env = await holder.open(ctx, def);
      const tar = await buildLayerTar([{ path: 'data/big.bin', size: fileMiB * 2 ** 20 }], sc.seed);
      image = (await buildChain(ctx, env, nextId('img'), 1, tar))[0];
    },
    beforeSample: async (ctx) => {
      const env = holder.get();
      cid = nextId('ctr');
      await env.raw.createReadWrite(ctx, cid, image);
      rootfs = await env.raw.get(ctx, cid);
    },
    sample: () => {
      const fd = openSync(`${rootfs}/data/big.bin`, 'r+');
      try {
        writeSync(fd, Buffer.from([0x42]), 0, 1, 0);
      } finally {
        closeSync(fd);
      }
    },
    afterSample: async (ctx) => {
      const env = holder.get();
      if (cid !== undefined) {
        if (rootfs !== undefined) await env.raw.put(ctx, cid);
        await env.raw.remove(ctx, cid);
      }
      cid = undefined;
      rootfs = undefined;
    },
    teardown: async (ctx) => holder.close(ctx),
  };
  return def;
}

/** Reading every file of the bottom layer of a deep chain through a fresh container rootfs. */
function readDeepCase(v: Variant, depth: number, sc: SuiteContext): MacroCase {
  const holder = new EnvHolder(v, sc.dataRoot);
  const files = scaled(sc.settings, 400, 20);
  const paths = Array.from({ length: files }, (_, i) => `base/d${i % 10}/f${i}`);
  let cid: string | undefined;
  let rootfs: string | undefined;
  const def: MacroCase = {
    ...base('berth'),
    case: 'read-deep',
    parameters: { driver: v.driver, backing: v.backing, depth, files },
    unit: 'ms',
    direction: 'lower-is-better',
    method:
      `One sample: read (open, read whole, close) each of ${files} files of 4 KiB that live in the bottom layer of a ${depth}-layer image, ` +
      "through the container layer's rootfs, got (mounted, for overlay2) just before and put after, untimed; page cache warm.",
    notes:
      v.driver === 'overlay2'
        ? ['A fresh overlay mount per sample: every name is looked up through the lower dirs again.']
        : [],
    setup: async (ctx) => {
      const env = await holder.open(ctx, def);
      const bottom = await buildLayerTar(
        paths.map((path) => ({ path, size: 4096 })),
        sc.seed,
      );
      const ids = await buildChain(ctx, env, nextId('img'), depth, bottom);
      cid = nextId('ctr');
      await env.raw.createReadWrite(ctx, cid, ids[ids.length - 1]);
    },
    beforeSample: async (ctx) => {
      rootfs = await holder.get().raw.get(ctx, cid!);
    },
    sample: () => {
      let bytes = 0;
      for (const p of paths) bytes += readFileSync(`${rootfs}/${p}`).length;
      if (bytes !== files * 4096) throw new Error(`read-deep: read ${bytes} bytes, expected ${files * 4096}`);
    },
    afterSample: async (ctx) => {
      if (rootfs !== undefined) await holder.get().raw.put(ctx, cid!);
      rootfs = undefined;
    },
    teardown: async (ctx) => holder.close(ctx),
  };
  return def;
}

/** diff() of a container layer with typical changes, consumed to the end (the commit's tar). */
function diffCase(v: Variant, sc: SuiteContext): MacroCase {
  const holder = new EnvHolder(v, sc.dataRoot);
  const scale = sc.settings.scale;
  const imageFiles = layerFiles('small-files', scale, sc.seed);
  const n = Math.max(4, Math.round(imageFiles.length / 10));
  let image: string | undefined;
  let cid: string | undefined;
  let lastBytes = 0;
  const def: MacroCase = {
    ...base('berth'),
    case: 'diff',
    parameters: { driver: v.driver, backing: v.backing, changes: 3 * n },
    unit: 'ms',
    direction: 'lower-is-better',
    method:
      `One sample: diff() of a container layer against its image (${imageFiles.length} small files) after ${n} files were added, ${n} rewritten and ${n} deleted, ` +
      `read to the end (the tar a commit stores); ${v.driver === 'overlay2' ? "overlay2's native diff walks the upper dir only" : 'the naive diff walks both trees'}.`,
    notes: [],
    phases: true,
    setup: async (ctx) => {
      const env = await holder.open(ctx, def);
      const img = await cachedLayer('small-files', scale, sc.seed);
      image = (await buildChain(ctx, env, nextId('img'), 1, img.tar))[0];
      cid = nextId('ctr');
      await env.raw.createReadWrite(ctx, cid, image);
      const rootfs = await env.raw.get(ctx, cid);
      try {
        await mkdir(`${rootfs}/added`);
        for (let i = 0; i < n; i++) await writeFile(`${rootfs}/added/f${i}`, `added ${i}\n`.repeat(64));
        for (let i = 0; i < n; i++) await writeFile(`${rootfs}/${imageFiles[i].path}`, `rewritten ${i}\n`);
        for (let i = n; i < 2 * n; i++) await rm(`${rootfs}/${imageFiles[i].path}`);
      } finally {
        await env.raw.put(ctx, cid);
      }
    },
    sample: async (ctx) => {
      let bytes = 0;
      const stream = await holder.get().driver.diff(ctx, cid!, image);
      for await (const chunk of stream as AsyncIterable<Buffer>) bytes += chunk.length;
      lastBytes = bytes;
    },
    teardown: async (ctx) => holder.close(ctx),
    resultNotes: () => [`Diff tar: ${(lastBytes / 1024).toFixed(0)} KiB.`],
  };
  return def;
}

/** remove() of a container layer that wrote files, on an image of many small files. */
function removeCase(v: Variant, sc: SuiteContext): MacroCase {
  const holder = new EnvHolder(v, sc.dataRoot);
  const scale = sc.settings.scale;
  const written = scaled(sc.settings, 200, 10);
  let image: string | undefined;
  let imageFiles = 0;
  let cid: string | undefined;
  const def: MacroCase = {
    ...base('berth'),
    case: 'remove',
    parameters: { driver: v.driver, backing: v.backing, written },
    unit: 'ms',
    direction: 'lower-is-better',
    method:
      `One sample: remove() of a container layer (not mounted) that wrote ${written} files of 4 KiB, on an image of many small files; ` +
      `the layer is created, mounted, written and put before, untimed.${v.driver === 'vfs' ? ' vfs deletes its whole copy of the image too.' : ''}`,
    notes:
      v.driver === 'btrfs'
        ? [
            'btrfs deletes a subvolume asynchronously: the sample ends when `btrfs subvolume delete` returns, the cleaner works on after.',
          ]
        : [],
    phases: true,
    setup: async (ctx) => {
      const env = await holder.open(ctx, def);
      const img = await cachedLayer('small-files', scale, sc.seed);
      imageFiles = img.files;
      image = (await buildChain(ctx, env, nextId('img'), 1, img.tar))[0];
      setNote(def, 'Image: ', `Image: ${imageFiles} small files (${img.description}).`);
    },
    beforeSample: async (ctx) => {
      const env = holder.get();
      cid = nextId('ctr');
      await env.raw.createReadWrite(ctx, cid, image);
      const rootfs = await env.raw.get(ctx, cid);
      try {
        await mkdir(`${rootfs}/written`);
        const body = Buffer.alloc(4096, 0x61);
        for (let i = 0; i < written; i++) await writeFile(`${rootfs}/written/f${i}`, body);
      } finally {
        await env.raw.put(ctx, cid);
      }
    },
    sample: async (ctx) => {
      await holder.get().driver.remove(ctx, cid!);
      cid = undefined;
    },
    afterSample: async (ctx) => {
      if (cid !== undefined) await holder.get().raw.remove(ctx, cid);
      cid = undefined;
    },
    teardown: async (ctx) => holder.close(ctx),
  };
  return def;
}

/**
 * Unique (device, inode) pairs under `dir` (hard links once; each btrfs subvolume is its own device). Cost: one lstat
 * per entry.
 */
function countInodes(dir: string): number {
  const seen = new Set<string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = `${d}/${e.name}`;
      const st = lstatSync(p, { bigint: true });
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return seen.size;
}

/**
 * Bytes and inodes in use on the filesystem of `path` (statfs after `sync -f`); inodes null where statfs has no inode
 * count (btrfs).
 */
async function inUse(path: string): Promise<{ bytes: number; inodes: number | null }> {
  await execa('sync', ['-f', path], { stdin: 'ignore' });
  const s = await statfs(path);
  return { bytes: (s.blocks - s.bfree) * s.bsize, inodes: s.files > 0 ? s.files - s.ffree : null };
}

/** Disk space (and, derived, inodes) that N containers of one image add to the store. */
function diskUsageCase(v: Variant, sc: SuiteContext): MacroCase {
  const holder = new EnvHolder(v, sc.dataRoot);
  const containers = scaled(sc.settings, 5, 2);
  const scale = sc.settings.scale;
  let image: string | undefined;
  let made: string[] = [];
  const inodes: number[] = [];
  const def: MacroCase = {
    ...base('berth'),
    case: 'disk-usage',
    parameters: { driver: v.driver, backing: v.backing, containers },
    unit: 'B',
    direction: 'lower-is-better',
    method:
      `One sample: bytes in use on the store (statfs after sync -f) after createReadWrite of ${containers} container layers on one image of many small files, ` +
      "minus the bytes in use before (negative when the filesystem freed more than the containers took meanwhile: recorded as measured); the containers are removed after, untimed. The inodes case counts inodes in use the same way (statfs), or where statfs has no inode count (btrfs) the unique (device, inode) pairs in the new containers' rootfs.",
    notes: [
      ...(v.backing === 'btrfs'
        ? [
            "btrfs has no inode count in statfs: inodes are counted by a walk of each new container's rootfs (unique device:inode pairs), so a snapshot counts every file again although it shares the metadata blocks.",
          ]
        : []),
      ...(v.driver === 'btrfs'
        ? [
            "btrfs keeps every sample's containers until the case ends: deleted subvolumes are reclaimed by the cleaner at a later commit (`btrfs subvolume sync` waits ≈ 20 s here), which would shrink the usage in the middle of a later sample.",
          ]
        : []),
    ],
    setup: async (ctx) => {
      const env = await holder.open(ctx, def);
      const img = await cachedLayer('small-files', scale, sc.seed);
      image = (await buildChain(ctx, env, nextId('img'), 1, img.tar))[0];
      setNote(def, 'Image: ', `Image: ${img.description}.`);
      inodeSamples.set(def, inodes);
    },
    sample: async (ctx, index) => {
      const env = holder.get();
      const before = await inUse(env.store.path);
      const fresh: string[] = [];
      for (let i = 0; i < containers; i++) {
        const id = nextId('ctr');
        await env.raw.createReadWrite(ctx, id, image);
        made.push(id);
        fresh.push(id);
      }
      const after = await inUse(env.store.path);
      if (index >= 0) {
        let added = 0;
        if (before.inodes !== null && after.inodes !== null) added = after.inodes - before.inodes;
        else {
          for (const id of fresh) {
            const rootfs = await env.raw.get(ctx, id);
            try {
              added += countInodes(rootfs);
            } finally {
              await env.raw.put(ctx, id);
            }
          }
        }
        inodes.push(added);
      }
      // recorded as measured: a negative difference (blocks the filesystem freed meanwhile) is real data, not 0
      return after.bytes - before.bytes;
    },
    afterSample: async (ctx) => {
      // btrfs: left for the store's disposal (see the note)
      if (v.driver !== 'btrfs') for (const id of made) await holder.get().raw.remove(ctx, id);
      made = [];
    },
    teardown: async (ctx) => holder.close(ctx),
  };
  return def;
}

function buildCases(sc: SuiteContext): CaseDef[] {
  const cases: CaseDef[] = [];
  const variants = variantsFor(sc.profile).filter((v) => {
    const why = driverUnavailable(v.driver) ?? backingUnavailable(v.backing);
    if (why !== undefined) sc.warn(`${v.driver} on ${v.backing} left out: ${why}`);
    return why === undefined;
  });
  const readDepths = sc.profile === 'full' ? [20, 128] : [20];
  // quick leaves out depth 64 to stay within its budget (building the 64-layer chains is the dearest set-up)
  const depths = sc.profile === 'quick' ? DEPTHS.filter((d) => d !== 64) : DEPTHS;
  for (const v of variants) {
    for (const shape of LAYER_SHAPES) cases.push(...applyDiffCases(v, shape, sc));
    for (const depth of depths) cases.push(createGetCase(v, depth, sc));
    cases.push(copyUpCase(v, sc));
    for (const depth of readDepths) cases.push(readDeepCase(v, depth, sc));
    cases.push(diffCase(v, sc));
    cases.push(removeCase(v, sc));
    cases.push(diskUsageCase(v, sc));
  }
  return cases;
}

/** apply-diff in entries per second, and the inode counts beside disk-usage. */
function derive(measured: readonly MeasuredCase[]): DerivedCase[] {
  const out: DerivedCase[] = [];
  for (const m of measured) {
    const f = applyFacts.get(m.info);
    if (m.info.case === 'apply-diff' && f !== undefined) {
      out.push({
        ...m.info,
        case: 'apply-diff-entries',
        unit: 'ops/s',
        direction: 'higher-is-better',
        method: `Derived from apply-diff: each sample × ${f.entries} tar entries (${f.files} files) / ${(f.tarBytes / 2 ** 20).toFixed(3)} MiB of tar; entries (files and directories) applied per second.`,
        notes: [...(m.notes ?? m.info.notes ?? [])],
        samples: m.samples.map((x) => (x * 2 ** 20 * f.entries) / f.tarBytes),
        derived: { from: [m.info], how: 'scaled', pairing: 'same-sample' },
      });
    }
    const ino = inodeSamples.get(m.info);
    if (m.info.case === 'disk-usage' && ino !== undefined && ino.length === m.samples.length) {
      out.push({
        ...m.info,
        case: 'inodes',
        unit: 'count',
        direction: 'lower-is-better',
        method:
          "Measured with disk-usage: inodes in use (statfs) after the containers were created, minus before; where statfs has none (btrfs), the unique device:inode pairs in the new containers' rootfs.",
        notes: [...(m.notes ?? m.info.notes ?? [])],
        samples: [...ino],
        derived: { from: [m.info], how: 'recorded-alongside', pairing: 'same-sample' },
      });
    }
  }
  return out;
}

/** Why the suite cannot run here, or undefined. */
async function requirements(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (tmpfs and loop mounts, overlay mounts, btrfs subvolumes)';
  return undefined;
}

export const graphdriverSuite: Suite = {
  name: SUITE,
  description:
    'vfs, overlay2 and btrfs: applyDiff vs GNU tar, create+get by chain depth, copy-up, deep reads, diff, remove, disk use — per backing store',
  targets: ['berth', 'reference'],
  requires: requirements,
  cases: buildCases,
  derive,
};
