// Layer store tests on the real vfs driver (spied on to count calls and inject
// failures): verified registration, cleanup on every failure path, sharing,
// refcounts, rw layers and restore.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildTar } from '../archive/tar-fixtures.js';
import { isBerthError } from '../errdefs/errors.js';
import type { DiffingDriver } from '../graphdriver/driver.js';
import { withDiff } from '../graphdriver/naive-diff.js';
import { vfsPlugin } from '../graphdriver/vfs.js';
import { background, withSignal } from '../trace/context.js';
import { chainID } from './image-store.js';
import { LayerStore } from './layer-store.js';

const ctx = background();
let root: string;
let driver: DiffingDriver;
let store: LayerStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), `berth-layers-${process.pid}-`));
  driver = withDiff(await vfsPlugin.init(ctx, { root }));
  store = new LayerStore(root, driver);
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(root, { recursive: true, force: true });
});

/** The vfs layers on disk (nothing may leak). */
const driverIds = async (): Promise<string[]> =>
  (await readdir(join(driver.home, 'dir')).catch(() => [] as string[])).sort();

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const stream = (b: Buffer): NodeJS.ReadableStream => Readable.from([b]);

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: isBerthError(err) ? err.code : 'NOT_BERTH', message: (err as Error).message };
  }
  throw new Error('expected a failure');
}

async function nothingLeft(): Promise<void> {
  expect(await driverIds()).toEqual([]);
  expect(await readdir(join(store.dir, 'sha256'))).toEqual([]);
  expect(await readdir(join(store.dir, 'tmp'))).toEqual([]);
}

const base = await buildTar([
  { name: 'etc/', type: 'directory' },
  { name: 'etc/os-release', content: 'ID=berth\n' },
  { name: 'bin/sh', content: '#!sh' },
]);
const top = await buildTar([{ name: 'app/run', content: 'run' }, { name: 'bin/.wh.sh' }]);

describe('LayerStore', () => {
  it('registers a chain, hashing the tar into the diffID, and records it', async () => {
    const a = await store.register(ctx, stream(base), null);
    expect(a.applied).toBe(true);
    expect(a.layer).toMatchObject({ chainID: sha(base), diffID: sha(base), parent: null, refCount: 1, size: 13 });
    const b = await store.register(ctx, stream(top), a.layer.chainID, { diffID: sha(top) });
    const expectedChain = `sha256:${createHash('sha256')
      .update(`${sha(base)} ${sha(top)}`)
      .digest('hex')}`;
    expect(b.layer.chainID).toBe(expectedChain);
    expect(b.layer.parent).toBe(a.layer.chainID);
    const rootfs = join(driver.home, 'dir', b.layer.driverID);
    expect(await readFile(join(rootfs, 'app/run'), 'utf8')).toBe('run');
    expect(await readFile(join(rootfs, 'etc/os-release'), 'utf8')).toBe('ID=berth\n');
    expect(existsSync(join(rootfs, 'bin/sh'))).toBe(false);
    const rec = JSON.parse(await readFile(join(store.dir, 'sha256', expectedChain.slice(7), 'layer.json'), 'utf8'));
    expect(rec).toEqual(b.layer);
    expect(store.dir).toBe(join(root, 'image', 'vfs', 'layerdb'));
    expect((await store.list(ctx)).map((l) => l.chainID).sort()).toEqual([a.layer.chainID, expectedChain].sort());
    expect(await readdir(join(store.dir, 'tmp'))).toEqual([]);
  });

  it('hashes bytes after the end-of-archive blocks the applier did not need', async () => {
    const padded = Buffer.concat([base, Buffer.alloc(20 * 512)]);
    const { layer } = await store.register(ctx, stream(padded), null, { diffID: sha(padded) });
    expect(layer.diffID).toBe(sha(padded));
  });

  it('rejects a diffID mismatch, naming both, and leaves nothing', async () => {
    const wrong = sha(Buffer.from('x'));
    const create = vi.spyOn(driver, 'create');
    const f = await failure(store.register(ctx, stream(base), null, { diffID: wrong }));
    expect(f).toEqual({ code: 'FAILED_PRECONDITION', message: `layer ${wrong}: diffID mismatch (got ${sha(base)})` });
    expect(create).toHaveBeenCalledTimes(1);
    await nothingLeft();
    expect(await store.has(ctx, wrong)).toBe(false);
  });

  it('removes the driver layer when the apply fails', async () => {
    // the driver reads the first chunk of the tar, then fails as a full disk would
    vi.spyOn(driver, 'applyDiff').mockImplementationOnce(async (_ctx, _id, _parent, tar) => {
      for await (const _chunk of tar) throw new Error('disk on fire');
      throw new Error('the tar was empty');
    });
    const f = await failure(store.register(ctx, stream(base), null));
    expect(f.message).toMatch(/^layer \(new\): apply: disk on fire/);
    await nothingLeft();
  });

  it('removes the driver layer when the tar stream breaks', async () => {
    async function* broken(): AsyncGenerator<Buffer> {
      yield base.subarray(0, 700);
      throw new Error('connection reset');
    }
    const f = await failure(store.register(ctx, Readable.from(broken()), null));
    expect(f.message).toContain('connection reset');
    await nothingLeft();
  });

  it('fails NOT_FOUND for an unknown parent, INVALID_ARGUMENT for a bad diffID', async () => {
    const parent = sha(Buffer.from('nope'));
    expect(await failure(store.register(ctx, stream(top), parent))).toMatchObject({ code: 'NOT_FOUND' });
    expect(await failure(store.register(ctx, stream(top), null, { diffID: 'sha256:123' }))).toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await nothingLeft();
  });

  it('shares an existing layer: refCount counts references, the tar is drained unapplied', async () => {
    await store.register(ctx, stream(base), null);
    const src = new PassThrough();
    src.end(base);
    const again = await store.register(ctx, src, null, { diffID: sha(base) });
    expect(again.applied).toBe(false);
    expect(again.layer.refCount).toBe(2);
    expect(src.readableEnded).toBe(true);
    // without an expected diffID the duplicate is applied, found equal, and dropped
    const third = await store.register(ctx, stream(base), null);
    expect(third.applied).toBe(false);
    expect(third.layer.refCount).toBe(3);
    expect(await driverIds()).toEqual([again.layer.driverID]);
  });

  it('applies once when the same layer is registered concurrently', async () => {
    const create = vi.spyOn(driver, 'create');
    const [a, b, c] = await Promise.all(
      [0, 1, 2].map(() => store.register(ctx, stream(base), null, { diffID: sha(base) })),
    );
    expect(create).toHaveBeenCalledTimes(1);
    expect(new Set([a!.layer.driverID, b!.layer.driverID, c!.layer.driverID]).size).toBe(1);
    expect([a, b, c].filter((r) => r!.applied).length).toBe(1);
    expect((await store.get(ctx, sha(base))).refCount).toBe(3);
  });

  it('releases to zero, removing the layer and then unused parents', async () => {
    const a = await store.register(ctx, stream(base), null);
    const b = await store.register(ctx, stream(top), a.layer.chainID);
    await store.retain(ctx, b.layer.chainID);
    expect(await store.release(ctx, a.layer.chainID)).toEqual([]); // child keeps it
    expect((await store.get(ctx, a.layer.chainID)).refCount).toBe(0);
    expect(await store.release(ctx, b.layer.chainID)).toEqual([]);
    expect(await store.release(ctx, b.layer.chainID)).toEqual([b.layer.chainID, a.layer.chainID]);
    await nothingLeft();
    expect(await failure(store.release(ctx, a.layer.chainID))).toEqual({
      code: 'NOT_FOUND',
      message: `layer ${a.layer.chainID}: not found`,
    });
  });

  it('refuses to delete a layer something sits on, naming it', async () => {
    const a = await store.register(ctx, stream(base), null);
    const b = await store.register(ctx, stream(top), a.layer.chainID);
    expect(await failure(store.delete(ctx, a.layer.chainID))).toEqual({
      code: 'CONFLICT',
      message: `layer ${a.layer.chainID}: in use by layer ${b.layer.chainID}`,
    });
    await store.delete(ctx, b.layer.chainID);
    await store.delete(ctx, a.layer.chainID);
    await nothingLeft();
  });

  it('manages container rw layers: create, mount, unmount, remove', async () => {
    const a = await store.register(ctx, stream(base), null);
    const createReadWrite = vi.spyOn(driver, 'createReadWrite');
    const rw = await store.createRWLayer(ctx, `c${process.pid}`, a.layer.chainID, { imageID: sha(Buffer.from('img')) });
    expect(rw).toMatchObject({
      containerID: `c${process.pid}`,
      parent: a.layer.chainID,
      imageID: sha(Buffer.from('img')),
    });
    expect(createReadWrite.mock.calls.map((c) => c[1])).toEqual([rw.driverID]);
    expect(await failure(store.createRWLayer(ctx, `c${process.pid}`, null))).toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(await failure(store.createRWLayer(ctx, '../x', null))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    const path = await store.mountRW(ctx, `c${process.pid}`);
    expect(await readFile(join(path, 'etc/os-release'), 'utf8')).toBe('ID=berth\n');
    expect(await failure(store.removeRWLayer(ctx, `c${process.pid}`))).toMatchObject({ code: 'CONFLICT' });
    // the image's reference goes away; the container keeps the chain
    expect(await store.release(ctx, a.layer.chainID)).toEqual([]);
    expect(await failure(store.delete(ctx, a.layer.chainID))).toEqual({
      code: 'CONFLICT',
      message: `layer ${a.layer.chainID}: in use by container c${process.pid}`,
    });
    await store.unmountRW(ctx, `c${process.pid}`);
    await store.unmountRW(ctx, `c${process.pid}`); // no-op
    expect(await store.removeRWLayer(ctx, `c${process.pid}`)).toEqual([a.layer.chainID]);
    expect(await store.rwLayers(ctx)).toEqual([]);
    await nothingLeft();
  });

  it('tracks which containers use which chain', async () => {
    const a = await store.register(ctx, stream(base), null);
    const b = await store.register(ctx, stream(top), a.layer.chainID);
    await store.createRWLayer(ctx, 'on-top', b.layer.chainID);
    await store.createRWLayer(ctx, 'on-base', a.layer.chainID);
    await store.createRWLayer(ctx, 'scratch', null);
    expect(await store.containersUsing(ctx, a.layer.chainID)).toEqual(['on-base', 'on-top']);
    expect(await store.containersUsing(ctx, b.layer.chainID)).toEqual(['on-top']);
    expect((await store.rwLayers(ctx)).map((r) => r.containerID)).toEqual(['on-base', 'on-top', 'scratch']);
  });

  it('stops a cancelled register with CANCELLED and leaves nothing', async () => {
    const ac = new AbortController();
    ac.abort(new Error('shutting down'));
    const f = await failure(store.register(withSignal(ctx, ac.signal), stream(base), null));
    expect(f).toEqual({ code: 'CANCELLED', message: 'layer (new): cancelled (shutting down)' });
    await nothingLeft();
  });

  it('survives a restart: a new store object finds layers and rw layers', async () => {
    const a = await store.register(ctx, stream(base), null);
    await store.createRWLayer(ctx, 'c1', a.layer.chainID);
    const again = new LayerStore(root, await vfsPlugin.init(ctx, { root }));
    const report = await again.restore(ctx);
    expect(report).toEqual({
      layers: 1,
      rwLayers: 1,
      removedDriverLayers: [],
      removedRecords: [],
      removedTempFiles: [],
    });
    expect(await again.get(ctx, a.layer.chainID)).toEqual(a.layer);
    expect((await again.getRWLayer(ctx, 'c1')).parent).toBe(a.layer.chainID);
  });

  it('cleans up after a crash between apply and record write', async () => {
    let crashed!: () => void;
    const atCrash = new Promise<void>((r) => (crashed = r));
    const crashing = new LayerStore(root, driver, {
      beforeRecord: () => {
        crashed();
        return new Promise<void>(() => {}); // the process "dies" here: nothing after runs
      },
    });
    void crashing.register(ctx, stream(base), null);
    await atCrash;
    expect(await driverIds()).toHaveLength(1); // the applied but unrecorded driver layer
    // leftovers of an interrupted record write, too
    await mkdir(join(store.dir, 'sha256', 'ab'.repeat(32)), { recursive: true });
    await writeFile(join(store.dir, 'sha256', 'ab'.repeat(32), 'layer.json.123.tmp'), '{');
    const fresh = new LayerStore(root, await vfsPlugin.init(ctx, { root }));
    const report = await fresh.restore(ctx);
    expect(report.layers).toBe(0);
    expect(report.removedDriverLayers).toHaveLength(1);
    expect(report.removedRecords).toEqual([`sha256:${'ab'.repeat(32)}`]);
    expect(report.removedTempFiles).toEqual([join(store.dir, 'sha256', 'ab'.repeat(32), 'layer.json.123.tmp')]);
    expect(await fresh.has(ctx, sha(base))).toBe(false);
    await nothingLeft();
  });

  it('computes chainIDs the OCI way', () => {
    const d1 = sha(Buffer.from('1'));
    const d2 = sha(Buffer.from('2'));
    expect(chainID(null, d1)).toBe(d1);
    expect(chainID(d1, d2)).toBe(sha(Buffer.from(`${d1} ${d2}`)));
  });
});
