// A pull cancelled mid-layer must leave nothing that only gc would find: no layer
// without an image or container holding it, no blob of the failed pull, neither right
// after the pull, nor after the image is deleted, nor after the graph is reopened;
// and the same image must pull again afterwards.
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Graph } from '../graph/graph.js';
import { chainIDs } from '../graph/image-store.js';
import type { Driver } from '../graphdriver/driver.js';
import { vfsPlugin } from '../graphdriver/vfs.js';
import { background, withSignal } from '../trace/context.js';
import { buildImage, pushImage, type Image, type TestProxy } from '../registry/client/test-registry.js';
import { pull } from './pull.js';
import type { RegistryServer } from '../registry/server/index.js';
import { caught, FAST_RETRY, noise, openPullWorld, type PullWorld } from './pull-test-kit.js';
import { fetchWhole } from './corrupting-proxy.js';

const ctx = background();
const fast = FAST_RETRY;

/** Layers no image's chain and no container reaches, and the blobs no image lists: what gc would remove. */
async function unreachable(graph: Graph): Promise<{ layers: string[]; blobs: string[] }> {
  const live = new Set<string>();
  const liveBlobs = new Set<string>();
  for (const image of await graph.images.list(ctx)) {
    for (const c of chainIDs(image.config.rootfs.diff_ids)) live.add(c);
    liveBlobs.add(image.id);
    for (const b of image.blobs) liveBlobs.add(b);
  }
  const all = new Map((await graph.layers.list(ctx)).map((l) => [l.chainID, l]));
  for (const rw of await graph.layers.rwLayers(ctx))
    for (let c = rw.parent; c !== null; c = all.get(c)?.parent ?? null) live.add(c);
  return {
    layers: [...all.keys()].filter((c) => !live.has(c)),
    blobs: (await graph.content.list(ctx)).map((b) => b.digest).filter((d) => !liveBlobs.has(d)),
  };
}

describe('a pull interrupted mid-layer', () => {
  let world: PullWorld;
  let root: string;
  let driver: Driver;
  let graph: Graph;
  let registry: RegistryServer;
  let proxy: TestProxy;
  let image: Image;

  beforeEach(async () => {
    // the graph on the root itself: the pulling child process opens it there
    world = await openPullWorld('pull-interrupted', { graphDir: '' });
    ({ root, driver, graph, registry, proxy } = world);
    image = await buildImage(
      [0, 1, 2].map((i) => ({ files: { [`l${i}.bin`]: noise(i + 3, 700_000) } })),
      { seed: 'interrupted' },
    );
    await pushImage(registry.url, 'app', image, 'v1');
  });

  afterEach(async () => {
    try {
      if (driver !== world?.driver) await driver?.cleanup(ctx);
    } finally {
      await world?.close();
    }
  });

  /**
   * Pulls `ref` and cancels it halfway through the last layer's body, once the layers
   * below it are in the layer store (so the failed put has layers to give back).
   */
  async function interruptedPull(ref: string): Promise<void> {
    const chains = chainIDs(image.diffIDs);
    const last = image.layers.at(-1)!;
    const cancel = new AbortController();
    proxy.hooks = {
      hold: async (req) => {
        if (!req.url?.endsWith(last.digest)) return;
        // condition wait: the lower layers get registered while this request is held
        while (!(await graph.layers.has(ctx, chains.at(-2)!))) await new Promise((r) => setImmediate(r));
      },
      chunk: (req, chunk, sent) => {
        if (req.url?.endsWith(last.digest) && sent + chunk.length > last.size / 2)
          cancel.abort(new Error('stopped by the user'));
        return chunk;
      },
    };
    const err = await caught(pull(withSignal(ctx, cancel.signal), graph, ref, { retry: fast, concurrency: 1 }));
    expect(err.code).toBe('CANCELLED');
    proxy.hooks = {};
  }

  it('leaves no layer or blob behind, and the image pulls again', async () => {
    await interruptedPull(`${proxy.host}/app:v1`);
    expect(await unreachable(graph)).toEqual({ layers: [], blobs: [] });
    expect(await graph.layers.list(ctx)).toEqual([]);
    expect(await graph.content.ingests(ctx)).toEqual([]);
    const res = await pull(ctx, graph, `${proxy.host}/app:v1`, { retry: fast });
    expect(res.layers.map((l) => l.skipped)).toEqual([false, false, false]);
    expect((await graph.getImage(ctx, `${proxy.host}/app:v1`)).id).toBe(image.config.digest);
  });

  it('over an image already stored under another name: deleting that image leaves nothing', async () => {
    await pull(ctx, graph, `${proxy.host}/app:v1`, { retry: fast });
    const first = image;
    const chains = chainIDs(image.diffIDs);
    // the same layers under a second image (another config), whose pull is interrupted
    const second = await buildImage(
      [0, 1, 2, 3].map((i) => ({ files: { [`l${i}.bin`]: noise(i + 3, 700_000) } })),
      { seed: 'second' },
    );
    await pushImage(registry.url, 'app', second, 'v2');
    image = second;
    await interruptedPull(`${proxy.host}/app:v2`);
    expect(await unreachable(graph)).toEqual({ layers: [], blobs: [] });
    await graph.deleteImage(ctx, `${proxy.host}/app:v1`);
    expect(await graph.layers.list(ctx)).toEqual([]);
    // the deleted image's compressed blobs stay as a cache (gc or the next start removes them); the failed pull left
    // none
    const cached = [first.manifest.digest, ...first.layers.map((l) => l.digest)];
    expect((await graph.content.list(ctx)).map((b) => b.digest).filter((d) => !cached.includes(d))).toEqual([]);
    expect(chains).toHaveLength(3);
    const res = await pull(ctx, graph, `${proxy.host}/app:v2`, { retry: fast });
    expect(res.imageId).toBe(second.config.digest);
  });

  it('a graph reopened after an interrupted pull holds no unreferenced layer or blob', async () => {
    await interruptedPull(`${proxy.host}/app:v1`);
    const reopened = await Graph.open(ctx, { root, driver });
    expect(await unreachable(reopened)).toEqual({ layers: [], blobs: [] });
    expect(await reopened.layers.list(ctx)).toEqual([]);
    const res = await pull(ctx, reopened, `${proxy.host}/app:v1`, { retry: fast });
    expect(res.imageId).toBe(image.config.digest);
  });

  it('a graph reopened after the pulling process was killed mid-layer holds no unreferenced layer or blob', async () => {
    const chains = chainIDs(image.diffIDs);
    const last = image.layers.at(-1)!;
    // the last layer's body stops halfway and stays open: the process is mid-layer when killed
    let stalled!: () => void;
    const midLayer = new Promise<void>((r) => (stalled = r));
    proxy.hooks = {
      before: (req, res) => {
        if (!req.url?.endsWith(last.digest)) return false;
        fetchWhole(registry.url, req, res, (ures, body) => {
          res.writeHead(ures.statusCode ?? 502, ures.headers);
          res.write(body.subarray(0, body.length >> 1), () => stalled());
        });
        return true;
      },
    };
    const script = fileURLToPath(new URL('./pull-child.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, root, `${proxy.host}/app:v1`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exitedEarly = new Promise<never>((_, reject) =>
        child.once('exit', (code) => reject(new Error(`pull process exited (${code}) before the kill: ${err}`))),
      );
      exitedEarly.catch(() => {});
      await Promise.race([midLayer, exitedEarly]);
      // condition wait: the layer below the last one is recorded on disk
      const record = join(root, 'image', 'vfs', 'layerdb', 'sha256', chains.at(-2)!.slice(7), 'layer.json');
      for (;;) {
        if (
          await access(record).then(
            () => true,
            () => false,
          )
        )
          break;
        await Promise.race([new Promise((r) => setImmediate(r)), exitedEarly]);
      }
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    proxy.hooks = {};
    await driver.cleanup(ctx);
    driver = await vfsPlugin.init(ctx, { root });
    const reopened = await Graph.open(ctx, { root, driver });
    expect(await unreachable(reopened)).toEqual({ layers: [], blobs: [] });
    expect(await reopened.layers.list(ctx)).toEqual([]);
    expect(await reopened.content.list(ctx)).toEqual([]);
    expect(reopened.restoreReport.unreferencedLayers.sort()).toEqual(chains.slice(0, -1).sort());
    const res = await pull(ctx, reopened, `${proxy.host}/app:v1`, { retry: fast });
    expect(res.imageId).toBe(image.config.digest);
    expect(await reopened.layers.list(ctx)).toHaveLength(3);
  });
});
