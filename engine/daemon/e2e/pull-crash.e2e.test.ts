// berthd killed (SIGKILL) in the middle of a pull, between two layers — the layers
// below recorded, the next one still downloading — and started again on the same
// root: it recovers, lists no half-pulled image, the same pull then succeeds, and a
// graph gc afterwards removes nothing the pulled image needs. Killed as soon as the last layer stalls (the first
// one possibly still applying), the pull redone at the first answer succeeds.
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiClient } from '../../client/api-client.js';
import { Graph } from '../../graph/graph.js';
import { chainIDs } from '../../graph/image-store.js';
import { graphdriverPlugin } from '../../graphdriver/builtins.js';
import { noise } from '../../jobs/pull-test-kit.js';
import { fetchWhole } from '../../jobs/corrupting-proxy.js';
import { buildImage, pushImage, startProxy, type Image, type TestProxy } from '../../registry/client/test-registry.js';
import type { RegistryServer } from '../../registry/server/index.js';
import { background } from '../../trace/context.js';
import {
  e2eSkipReason,
  makeWorld,
  removeWorld,
  resetNetwork,
  spawnDaemon,
  startRegistry,
  stopDaemon,
  type DaemonProcess,
  type DaemonWorld,
  until,
} from './e2e-kit.js';
import { needs } from '../../../testkit/needs.js';

const ctx = background();

needs(e2eSkipReason()).describe('berthd killed mid-pull', () => {
  let world: DaemonWorld;
  let registry: RegistryServer;
  let proxy: TestProxy;
  let daemon: DaemonProcess | undefined;
  let image: Image;

  /** Makes the proxy send half of the blob `digest` and keep its answer open; resolves once that half is written. */
  function stallHalfway(digest: string): Promise<void> {
    return new Promise<void>((stalled) => {
      proxy.hooks = {
        before: (req, res) => {
          if (!req.url?.endsWith(digest)) return false;
          fetchWhole(registry.url, req, res, (ures, body) => {
            res.writeHead(ures.statusCode ?? 502, ures.headers);
            res.write(body.subarray(0, body.length >> 1), () => stalled());
          });
          return true;
        },
      };
    });
  }

  beforeAll(async () => {
    world = makeWorld();
    registry = await startRegistry(world.dir);
    proxy = await startProxy(registry.url);
    image = await buildImage(
      [0, 1, 2].map((i) => ({ files: { [`l${i}.bin`]: noise(i + 11, 700_000), [`l${i}.txt`]: `layer ${i}\n` } })),
      { seed: 'crash', format: 'docker' },
    );
    await pushImage(registry.url, 'crash/app', image, 'v1');
    daemon = await spawnDaemon(world);
  }, 120_000);

  afterAll(async () => {
    try {
      if (daemon !== undefined) await stopDaemon(daemon);
      await proxy?.close();
      await registry?.close(100);
      if (world !== undefined) await resetNetwork(world);
    } finally {
      if (world !== undefined) removeWorld(world.dir);
    }
  }, 120_000);

  it('restarts on the same root with no half image; the pull then succeeds and gc keeps the image whole', async () => {
    const client = new ApiClient(daemon!.host);
    const driverName = (await client.info()).Driver;
    const ref = `${proxy.host}/crash/app:v1`;
    const chains = chainIDs(image.diffIDs);
    const last = image.layers.at(-1)!;
    const midLayer = stallHalfway(last.digest);
    const pulling = client.pull(ref).catch((e: unknown) => e);
    await midLayer;
    // between layers: the one below the last is recorded on disk, the last one is not
    const record = (chain: string) =>
      join(world.root, 'image', driverName, 'layerdb', 'sha256', chain.slice(7), 'layer.json');
    const exists = (p: string) =>
      access(p).then(
        () => true,
        () => false,
      );
    await until('the second layer recorded', () => exists(record(chains[1]!)), 60_000);
    expect(await exists(record(chains[2]!))).toBe(false);
    daemon!.child.kill('SIGKILL');
    await daemon!.exited;
    expect(await pulling).toBeInstanceOf(Error);

    proxy.hooks = {};
    daemon = await spawnDaemon(world);
    const restarted = new ApiClient(daemon.host);
    // recovered: no image listed, the pull's leftovers cleaned at start
    expect(await restarted.images()).toEqual([]);
    await until(
      'the start-up clean-up logged',
      async () => daemon!.stderr().includes('cleaned up after an interrupted put or pull'),
      10_000,
    );
    expect(await exists(record(chains[0]!))).toBe(false);
    expect(await exists(record(chains[1]!))).toBe(false);

    // the same pull succeeds, and the image listed is complete
    await restarted.pull(ref);
    const listed = await restarted.images();
    expect(listed.map((i) => [i.Id, i.RepoTags])).toEqual([[image.config.digest, [ref]]]);
    expect((await restarted.imageInspect(ref)).RootFS.Layers).toEqual(image.diffIDs);
    for (const c of chains) expect(await exists(record(c))).toBe(true);

    // a clean stop, then gc on the root: nothing the image needs goes
    await stopDaemon(daemon);
    daemon = undefined;
    const driver = await graphdriverPlugin(driverName).init(ctx, { root: world.root });
    try {
      const graph = await Graph.open(ctx, { root: world.root, driver });
      const gc = await graph.gc(ctx, { graceMs: 0 });
      expect(gc.layers).toEqual([]);
      expect(gc.blobs).toEqual([]);
      const stored = await graph.getImage(ctx, ref);
      expect(stored.id).toBe(image.config.digest);
      for (const c of chains) expect(await graph.layers.has(ctx, c)).toBe(true);
      for (const l of image.layers) expect(await graph.content.has(ctx, l.digest)).toBe(true);
      expect(await graph.content.ingests(ctx)).toEqual([]);
    } finally {
      await driver.cleanup(ctx);
    }
    daemon = await spawnDaemon(world);
    expect((await new ApiClient(daemon.host).images()).map((i) => i.Id)).toEqual([image.config.digest]);
  });

  it('killed as soon as the last layer stalls, restarted: the pull redone at the first answer succeeds', async () => {
    for (let round = 0; round < 8; round++) {
      // incompressible layers, new each round: the first one may still stream into the graph when the last one stalls
      const early = await buildImage(
        [0, 1].map((i) => ({ files: { [`e${i}.bin`]: randomBytes(1_000_000), [`e${i}.txt`]: `${i}\n` } })),
        { seed: `crash-early-${round}` },
      );
      await pushImage(registry.url, 'crash/early', early, `r${round}`);
      const ref = `${proxy.host}/crash/early:r${round}`;
      const last = early.layers.at(-1)!;
      const midLayer = stallHalfway(last.digest);
      const pulling = new ApiClient(daemon!.host).pull(ref).catch((e: unknown) => e);
      await midLayer;
      daemon!.child.kill('SIGKILL');
      await daemon!.exited;
      expect(await pulling).toBeInstanceOf(Error);
      proxy.hooks = {};
      daemon = await spawnDaemon(world);
      const client = new ApiClient(daemon.host);
      // redone at once, without waiting for anything the start-up does: it succeeds (the failure's message if not)
      const failed = await client.pull(ref).then(
        () => undefined,
        (e: unknown) => (e instanceof Error ? e.message : String(e)),
      );
      expect(failed).toBeUndefined();
      expect((await client.imageInspect(ref)).RootFS.Layers).toEqual(early.diffIDs);
      await client.imageRemove(ref, { force: true });
    }
  }, 120_000);
});
