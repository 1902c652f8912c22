// The Graph end to end, run against each driver (vfs, and overlay2 where it can
// mount): put/get/delete images, containers' layers, gc, restart and crash recovery.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import type { Driver } from '../graphdriver/driver.js';
import { overlay2Plugin } from '../graphdriver/overlay2.js';
import { vfsPlugin } from '../graphdriver/vfs.js';
import { background } from '../trace/context.js';
import { SPAN_CHANNEL, type SpanRecord } from '../trace/span.js';
import { instrument } from '../trace/instrument.js';
import { digestOf } from './digest.js';
import { Graph } from './graph.js';
import { chainIDs } from './image-store.js';
import { buildTar } from '../archive/tar-fixtures.js';
import { needs } from '../../testkit/needs.js';

const ctx = background();
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const stream = (b: Buffer): NodeJS.ReadableStream => Readable.from([b]);

const baseTar = await buildTar([
  { name: 'etc/', type: 'directory' },
  { name: 'etc/os-release', content: 'ID=berth\n' },
]);
const appTar = await buildTar([{ name: 'app/run', content: 'echo hi' }]);
const otherTar = await buildTar([{ name: 'other/file', content: 'other' }]);

function config(layers: Buffer[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map(sha) },
    ...extra,
  });
}

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: isBerthError(err) ? err.code : 'NOT_BERTH', message: (err as Error).message };
  }
  throw new Error('expected a failure');
}

type Factory = (root: string) => Promise<Driver>;

/** Why overlay2 cannot run here (it mounts: root, trusted xattrs, the native core), or undefined when it can. */
async function overlay2Unavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root to mount overlayfs';
  const probe = await mkdtemp(join(tmpdir(), `berth-graph-probe-${process.pid}-`));
  try {
    await (await overlay2Plugin.init(ctx, { root: probe })).cleanup(ctx);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}
const overlay2Missing = await overlay2Unavailable();
const drivers: [string, Factory][] = [
  ['vfs', (root) => vfsPlugin.init(ctx, { root })],
  ...(overlay2Missing === undefined
    ? [['overlay2', (root: string) => overlay2Plugin.init(ctx, { root })] as [string, Factory]]
    : []),
];

if (overlay2Missing !== undefined) {
  describe('Graph on overlay2', () => {
    needs(overlay2Missing).it('runs the graph tests on overlay2', () => {});
  });
}

describe.each(drivers)('Graph on %s', (driverName, makeDriver) => {
  let root: string;
  let graph: Graph;
  let driver: Driver;

  // The layer store names driver layers with 64 hex characters; vfs keeps them in dir/, overlay2 at the top.
  const driverLayers = async (): Promise<string[]> => {
    const names = [
      ...(await readdir(driver.home).catch(() => [] as string[])),
      ...(await readdir(join(driver.home, 'dir')).catch(() => [] as string[])),
    ];
    return names.filter((n) => /^[0-9a-f]{64}$/.test(n)).sort();
  };

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), `berth-graph-${process.pid}-`));
    driver = await makeDriver(root);
    graph = await Graph.open(ctx, { root, driver });
  });
  afterEach(async () => {
    try {
      await driver?.cleanup(ctx);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('puts an image and finds it by reference, id and id prefix', async () => {
    const cfg = config([baseTar, appTar]);
    const res = await graph.putImage(ctx, cfg, [stream(baseTar), stream(appTar)], {
      references: ['app:v1', 'localhost:5000/team/app'],
    });
    const chains = chainIDs([sha(baseTar), sha(appTar)]);
    expect(res).toEqual({
      id: digestOf(cfg),
      chainID: chains[1],
      created: true,
      layers: chains.map((c) => ({ chainID: c, applied: true })),
    });
    for (const name of [
      'app:v1',
      'docker.io/library/app:v1',
      'localhost:5000/team/app:latest',
      res.id,
      res.id.slice(7, 19),
      res.id.slice(0, 20),
    ]) {
      const img = await graph.getImage(ctx, name);
      expect(img.id).toBe(res.id);
      expect(img.references).toEqual(['app:v1', 'localhost:5000/team/app:latest']);
      expect(img.config.config?.Cmd).toEqual(['/bin/sh']);
    }
    expect((await graph.listImages(ctx)).map((i) => i.id)).toEqual([res.id]);
    // the image holds one reference on its top layer; the base is kept by the chain
    expect((await graph.layers.get(ctx, chains[1]!)).refCount).toBe(1);
    expect((await graph.layers.get(ctx, chains[0]!)).refCount).toBe(0);
    expect(await failure(graph.getImage(ctx, 'nope'))).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('is idempotent: a second put opens no layer source and takes no extra reference', async () => {
    const cfg = config([baseTar, appTar]);
    await graph.putImage(ctx, cfg, [stream(baseTar), stream(appTar)]);
    let opened = 0;
    const open = (b: Buffer) => async () => {
      opened++;
      return stream(b);
    };
    const again = await graph.putImage(ctx, cfg, [open(baseTar), open(appTar)]);
    expect(again.created).toBe(false);
    expect(again.layers.every((l) => !l.applied)).toBe(true);
    expect(opened).toBe(0);
    expect((await graph.layers.get(ctx, again.chainID!)).refCount).toBe(1);
    expect(await driverLayers()).toHaveLength(2);
  });

  it('rejects a layer whose diffID does not match and leaves nothing visible', async () => {
    const cfg = config([baseTar, appTar]);
    const f = await failure(graph.putImage(ctx, cfg, [stream(baseTar), stream(otherTar)]));
    expect(f.code).toBe('FAILED_PRECONDITION');
    expect(f.message).toBe(`layer ${sha(appTar)}: diffID mismatch (got ${sha(otherTar)})`);
    expect(await graph.layers.list(ctx)).toEqual([]);
    expect(await graph.images.ids(ctx)).toEqual([]);
    expect(await driverLayers()).toEqual([]);
    expect(await failure(graph.putImage(ctx, cfg, [stream(baseTar)]))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await failure(graph.putImage(ctx, '{"os":"linux"}', []))).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('hashes the whole tar into the diffID, padding after the archive included', async () => {
    const padded = Buffer.concat([appTar, Buffer.alloc(16 * 512)]);
    const res = await graph.putImage(ctx, config([padded]), [
      Readable.from([padded.subarray(0, 1000), padded.subarray(1000)]),
    ]);
    expect((await graph.layers.get(ctx, res.chainID!)).diffID).toBe(sha(padded));
  });

  it('shares layers between images and removes them with the last image', async () => {
    const a = await graph.putImage(ctx, config([baseTar, appTar]), [stream(baseTar), stream(appTar)], {
      references: ['a'],
    });
    const b = await graph.putImage(ctx, config([baseTar, otherTar]), [async () => stream(baseTar), stream(otherTar)], {
      references: ['b'],
    });
    expect(b.layers[0]).toEqual({ chainID: sha(baseTar), applied: false });
    expect(await driverLayers()).toHaveLength(3);
    expect(await graph.deleteImage(ctx, 'a')).toEqual({ untagged: ['a:latest'], deleted: [a.id], layers: [a.chainID] });
    expect(await graph.layers.has(ctx, sha(baseTar))).toBe(true);
    expect(await graph.deleteImage(ctx, 'b')).toEqual({
      untagged: ['b:latest'],
      deleted: [b.id],
      layers: [b.chainID, sha(baseTar)],
    });
    expect(await driverLayers()).toEqual([]);
    expect(await graph.content.list(ctx)).toEqual([]);
  });

  it('untags when other references remain, and deletes by id only when forced', async () => {
    const { id } = await graph.putImage(ctx, config([baseTar]), [stream(baseTar)], { references: ['x:1', 'x:2', 'y'] });
    expect(await graph.deleteImage(ctx, 'x:1')).toEqual({ untagged: ['x:1'], deleted: [], layers: [] });
    const f = await failure(graph.deleteImage(ctx, id));
    expect(f).toEqual({ code: 'CONFLICT', message: `image ${id}: referenced by x:2, y:latest; remove them or force` });
    const res = await graph.deleteImage(ctx, id, { force: true });
    expect(res.untagged).toEqual(['x:2', 'y:latest']);
    expect(res.deleted).toEqual([id]);
  });

  it('refuses to delete an image a container uses, naming the container', async () => {
    const { id, chainID } = await graph.putImage(ctx, config([baseTar, appTar]), [stream(baseTar), stream(appTar)], {
      references: ['busybox'],
    });
    const cid = `ctr${process.pid}`;
    await graph.createContainerLayer(ctx, cid, 'busybox');
    const rootfs = await graph.layers.mountRW(ctx, cid);
    expect(await readFile(join(rootfs, 'app/run'), 'utf8')).toBe('echo hi');
    expect(await readFile(join(rootfs, 'etc/os-release'), 'utf8')).toBe('ID=berth\n');
    await graph.layers.unmountRW(ctx, cid);
    expect(await failure(graph.deleteImage(ctx, 'busybox'))).toEqual({
      code: 'CONFLICT',
      message: `image busybox: in use by container ${cid}`,
    });
    const forced = await graph.deleteImage(ctx, 'busybox', { force: true });
    expect(forced).toEqual({ untagged: ['busybox:latest'], deleted: [id], layers: [] });
    expect(await graph.layers.has(ctx, chainID!)).toBe(true); // the container keeps its chain
    expect((await graph.gc(ctx, { graceMs: 0 })).layers).toEqual([]);
    expect(await graph.removeContainerLayer(ctx, cid)).toEqual([chainID, sha(baseTar)]);
    expect(await driverLayers()).toEqual([]);
  });

  it('gc frees unreferenced layers, blobs and stale ingests, and keeps the rest', async () => {
    const manifest = await graph.content.put(ctx, '{"manifest":true}');
    const img = await graph.putImage(ctx, config([baseTar]), [stream(baseTar)], {
      references: ['keep'],
      blobs: [manifest.digest],
    });
    const orphanBlob = await graph.content.put(ctx, 'orphan blob');
    const orphanLayer = await graph.layers.register(ctx, stream(otherTar), null);
    const w = await graph.content.writer(ctx, 'abandoned');
    await w.write('partial');
    await w.close();
    // a young orphan survives the default grace period
    expect(await graph.gc(ctx)).toEqual({ layers: [], blobs: [], ingests: [], bytes: 0 });
    const res = await graph.gc(ctx, { graceMs: 0 });
    expect(res.layers).toEqual([orphanLayer.layer.chainID]);
    expect(res.blobs).toEqual([orphanBlob.digest]);
    expect(res.ingests).toEqual(['abandoned']);
    expect(res.bytes).toBe(orphanBlob.size + orphanLayer.layer.size);
    expect((await graph.content.list(ctx)).map((b) => b.digest).sort()).toEqual([img.id, manifest.digest].sort());
    expect((await graph.getImage(ctx, 'keep')).id).toBe(img.id);
    expect(await driverLayers()).toHaveLength(1);
    expect(await graph.gc(ctx, { graceMs: 0 })).toEqual({ layers: [], blobs: [], ingests: [], bytes: 0 });
  });

  it('at the next start, removes what a put that never finished left: its layers, references and blobs', async () => {
    const kept = await graph.putImage(ctx, config([baseTar]), [stream(baseTar)], { references: ['kept:1'], blobs: [] });
    const chains = chainIDs([sha(baseTar), sha(appTar), sha(otherTar)]);
    // a put of base+app+other stopped dead after its second layer: both layers hold the put's reference
    await graph.layers.retain(ctx, chains[0]!);
    await graph.layers.register(ctx, stream(appTar), chains[0]!, { diffID: sha(appTar) });
    const blob = await graph.content.put(ctx, 'compressed layer of the unfinished pull');
    await driver.cleanup(ctx);
    driver = await makeDriver(root);
    const reopened = await Graph.open(ctx, { root, driver });
    expect(reopened.restoreReport).toMatchObject({
      unreferencedLayers: [chains[1]],
      recountedLayers: [chains[0], chains[1]].sort(),
      orphanBlobs: [blob.digest],
    });
    expect(await reopened.layers.list(ctx)).toMatchObject([{ chainID: chains[0], refCount: 1 }]);
    expect((await reopened.content.list(ctx)).map((b) => b.digest)).toEqual([kept.id]);
    expect(await driverLayers()).toHaveLength(1);
    // and deleting the image that remains leaves nothing
    await reopened.deleteImage(ctx, 'kept:1');
    expect(await reopened.layers.list(ctx)).toEqual([]);
    expect(await driverLayers()).toEqual([]);
  });

  it('deleting an image removes the layers an unfinished put left on its chain; its blobs go at the next start', async () => {
    const shared = Buffer.from('manifest shared by both images');
    const own = Buffer.from('manifest of the first image only');
    const sharedBlob = await graph.content.put(ctx, shared);
    const ownBlob = await graph.content.put(ctx, own);
    await graph.putImage(ctx, config([baseTar]), [stream(baseTar)], {
      references: ['first:1'],
      blobs: [sharedBlob.digest, ownBlob.digest],
    });
    const other = await graph.putImage(ctx, config([otherTar]), [stream(otherTar)], {
      references: ['other:1'],
      blobs: [sharedBlob.digest],
    });
    const chains = chainIDs([sha(baseTar), sha(appTar)]);
    // a put on top of the first image that never gave its reference back (a pull that hung)
    await graph.layers.retain(ctx, chains[0]!);
    await graph.layers.register(ctx, stream(appTar), chains[0]!, { diffID: sha(appTar) });
    const res = await graph.deleteImage(ctx, 'first:1');
    expect(res.layers.sort()).toEqual([...chains].sort());
    expect((await graph.layers.list(ctx)).map((l) => l.chainID)).toEqual([other.chainID]);
    expect(await driverLayers()).toHaveLength(1);
    // the deleted image's own blob stays as a cache until the next start
    expect((await graph.content.list(ctx)).map((b) => b.digest).sort()).toEqual(
      [other.id, sharedBlob.digest, ownBlob.digest].sort(),
    );
    await driver.cleanup(ctx);
    driver = await makeDriver(root);
    const reopened = await Graph.open(ctx, { root, driver });
    expect(reopened.restoreReport).toMatchObject({
      unreferencedLayers: [],
      recountedLayers: [],
      orphanBlobs: [ownBlob.digest],
    });
    expect((await reopened.content.list(ctx)).map((b) => b.digest).sort()).toEqual(
      [other.id, sharedBlob.digest].sort(),
    );
  });

  it('finds everything again after a restart', async () => {
    const img = await graph.putImage(ctx, config([baseTar, appTar]), [stream(baseTar), stream(appTar)], {
      references: ['persist:1'],
    });
    await graph.createContainerLayer(ctx, 'c1', 'persist:1');
    await driver.cleanup(ctx);
    driver = await makeDriver(root);
    const reopened = await Graph.open(ctx, { root, driver });
    expect(reopened.restoreReport).toEqual({
      layers: 2,
      rwLayers: 1,
      removedDriverLayers: [],
      removedRecords: [],
      removedTempFiles: [],
      unreferencedLayers: [],
      recountedLayers: [],
      orphanBlobs: [],
    });
    const got = await reopened.getImage(ctx, 'persist:1');
    expect(got.id).toBe(img.id);
    expect(got.chainID).toBe(img.chainID);
    expect((await reopened.layers.get(ctx, img.chainID!)).refCount).toBe(1);
    const rootfs = await reopened.layers.mountRW(ctx, 'c1');
    expect(await readFile(join(rootfs, 'app/run'), 'utf8')).toBe('echo hi');
    await reopened.layers.unmountRW(ctx, 'c1');
    expect(await failure(reopened.deleteImage(ctx, 'persist:1'))).toMatchObject({ code: 'CONFLICT' });
  });

  it('leaves no half layer after a crash between apply and record, and cleans it at the next start', async () => {
    const cfgPath = join(root, 'config.json');
    const tarPath = join(root, 'layer.tar');
    await writeFile(cfgPath, config([baseTar]));
    await writeFile(tarPath, baseTar);
    const script = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, root, driverName, cfgPath, tarPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('applied\n')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`child exited (${code}) before the crash point: ${err}`)));
      });
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    expect(await driverLayers()).toHaveLength(1); // applied, unrecorded
    await driver.cleanup(ctx);
    driver = await makeDriver(root);
    const reopened = await Graph.open(ctx, { root, driver });
    expect(reopened.restoreReport.removedDriverLayers).toHaveLength(1);
    expect(reopened.restoreReport.layers).toBe(0);
    expect(await reopened.layers.list(ctx)).toEqual([]);
    expect(await reopened.images.ids(ctx)).toEqual([]);
    expect(await driverLayers()).toEqual([]);
    // and the same image can be put cleanly afterwards
    const res = await reopened.putImage(ctx, config([baseTar]), [stream(baseTar)]);
    expect(res.layers[0]!.applied).toBe(true);
  });
});

describe('Graph concurrency', () => {
  it('runs gc after a put in progress, never collecting its layers', async () => {
    const root = await mkdtemp(join(tmpdir(), `berth-graph-gc-${process.pid}-`));
    try {
      const graph = await Graph.open(ctx, { root, driver: await vfsPlugin.init(ctx, { root }) });
      const slow = new PassThrough();
      const putting = graph.putImage(ctx, config([baseTar, appTar]), [stream(baseTar), slow], { references: ['slow'] });
      // wait until the base layer is registered, then ask for a gc while the top one is still streaming
      while (!(await graph.layers.has(ctx, sha(baseTar)))) await new Promise((r) => setTimeout(r, 5));
      let gcDone = false;
      const collecting = graph.gc(ctx, { graceMs: 0 }).finally(() => (gcDone = true));
      await new Promise((r) => setTimeout(r, 50));
      expect(gcDone).toBe(false); // gc waits for the put (the lock guarantees it; no timing is measured)
      slow.end(appTar);
      const put = await putting;
      expect(await collecting).toEqual({ layers: [], blobs: [], ingests: [], bytes: 0 });
      expect((await graph.getImage(ctx, 'slow')).chainID).toBe(put.chainID);
      expect((await graph.layers.list(ctx)).length).toBe(2);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('Graph instrumentation', () => {
  it('opens a span per store call when the composer instruments it, nested under the caller', async () => {
    const root = await mkdtemp(join(tmpdir(), `berth-graph-trace-${process.pid}-`));
    const spans: SpanRecord[] = [];
    const listener = (m: unknown): void => void spans.push(m as SpanRecord);
    diagnostics.subscribe(SPAN_CHANNEL, listener);
    try {
      const graph = await Graph.open(ctx, { root, driver: await vfsPlugin.init(ctx, { root }), instrument });
      await graph.layers.register(ctx, stream(baseTar), null);
      const reg = spans.find((s) => s.name === 'graph.layers.register');
      expect(reg).toBeDefined();
      expect(reg!.attributes).toMatchObject({ chainID: sha(baseTar), applied: true });
      expect(spans.some((s) => s.module === 'graph.layers' && s.name === 'graph.layers.restore')).toBe(true);

      // Not instrumented: the same calls make no span (the graph's code records none itself).
      spans.length = 0;
      const plainRoot = join(root, 'plain');
      const plain = await Graph.open(ctx, { root: plainRoot, driver: await vfsPlugin.init(ctx, { root: plainRoot }) });
      await plain.layers.register(ctx, stream(baseTar), null);
      expect(spans.filter((s) => s.name.startsWith('graph.'))).toEqual([]);
    } finally {
      diagnostics.unsubscribe(SPAN_CHANNEL, listener);
      await rm(root, { recursive: true, force: true });
    }
  });
});
