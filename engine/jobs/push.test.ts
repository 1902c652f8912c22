// push(): a pulled image to another registry (its manifest bytes kept), again (every
// layer already there), to another repository of the same registry (mounted), a
// locally made image (its blobs made from the graphdriver's diff), in chunks; each
// pulled back into a fresh graph and compared. Then the failures: an unknown image,
// a layer whose tar cannot be reproduced, a read-only registry, and a push cancelled
// mid-upload, which leaves no manifest. Push by digest (no tag put), and of a multi-platform
// image as its index: by tag as its one platform while another is not stored locally (by digest refused), whole once
// both are, pulled back by the index's digest.
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTar } from '../archive/tar-fixtures.js';
import { Graph } from '../graph/graph.js';
import { digestOf } from '../graph/digest.js';
import { withDiff } from '../graphdriver/naive-diff.js';
import { vfsPlugin } from '../graphdriver/vfs.js';
import { toDockerPushProgress, type PushProgressEvent } from '../registry/client/progress.js';
import {
  bearerHooks,
  buildImage,
  buildIndex,
  push as pushBlobs,
  pushImage,
  type Image,
} from '../registry/client/test-registry.js';
import { createRegistryServer, type RegistryServer } from '../registry/server/index.js';
import { collect } from '../trace/collector.js';
import { background, withSignal } from '../trace/context.js';
import { instrument } from '../trace/instrument.js';
import { pull } from './pull.js';
import { caught, FAST_RETRY, noise, openPullWorld, type PullWorld } from './pull-test-kit.js';
import { push } from './push.js';

const ctx = background();

describe('push', () => {
  let world: PullWorld;
  let graph: Graph;
  let source: RegistryServer;
  let target: RegistryServer;
  let image: Image;
  const extraDrivers: { cleanup(c: typeof ctx): Promise<void> }[] = [];

  beforeEach(async () => {
    world = await openPullWorld('push');
    ({ graph, registry: source } = world);
    target = await createRegistryServer({ root: join(world.root, 'target') });
    image = await buildImage(
      [
        { files: { 'base.bin': noise(1, 300_000), 'etc/os': 'berth\n' } },
        { files: { 'app.bin': noise(2, 200_000), 'app.txt': 'app v1\n' } },
      ],
      { seed: 'push', format: 'docker' },
    );
    await pushImage(source.url, 'src/app', image, 'v1');
    await pull(ctx, graph, `${source.host}/src/app:v1`, { retry: FAST_RETRY });
  });

  afterEach(async () => {
    try {
      for (const d of extraDrivers.splice(0)) await d.cleanup(ctx);
      await target?.close(100);
    } finally {
      await world?.close();
    }
  });

  /** Pulls `ref` into a fresh graph under the world's root; returns the graph and the pull's result. */
  async function pullFresh(
    ref: string,
    dir: string,
  ): Promise<{ fresh: Graph; result: Awaited<ReturnType<typeof pull>>; home: string }> {
    const root = join(world.root, dir);
    const driver = await vfsPlugin.init(ctx, { root });
    extraDrivers.push(driver);
    const fresh = await Graph.open(ctx, { root, driver });
    const result = await pull(ctx, fresh, ref, { retry: FAST_RETRY });
    const top = await fresh.layers.get(ctx, (await fresh.getImage(ctx, result.imageId)).chainID!);
    return { fresh, result, home: join(driver.home, 'dir', top.driverID) };
  }

  it('pushes a pulled image with its own manifest bytes; it pulls back identical into a fresh root', async () => {
    const ref = `${target.host}/dst/app:v2`;
    await graph.tag(ctx, ref, `${source.host}/src/app:v1`);
    const events: PushProgressEvent[] = [];
    const res = await push(ctx, graph, ref, { retry: FAST_RETRY, onProgress: (e) => events.push(e) });
    expect(res.digest).toBe(image.manifest.digest);
    expect(res.size).toBe(image.manifest.bytes.length);
    expect(res.reusedManifest).toBe(true);
    expect(res.tag).toBe('v2');
    expect(res.layers.map((l) => [l.digest, l.outcome])).toEqual(image.layers.map((l) => [l.digest, 'pushed']));
    // Docker's push messages: each layer prepared, pushed with byte counts, then pushed
    const messages = events.map(toDockerPushProgress);
    for (const [i, l] of image.layers.entries()) {
      const id = image.diffIDs[i]!.slice(7, 19);
      const mine = messages.filter((m) => m.id === id).map((m) => m.status);
      expect(mine[0]).toBe('Preparing');
      expect(mine).toContain('Pushing');
      expect(mine.at(-1)).toBe('Pushed');
      const last = events.filter((e) => e.id === id && e.phase === 'pushing').at(-1)!;
      expect(last.current).toBe(l.size);
      expect(last.total).toBe(l.size);
    }
    // the repository digest is recorded, as docker push does
    expect((await graph.getImage(ctx, ref)).references).toContain(`${target.host}/dst/app@${image.manifest.digest}`);

    const { result, home } = await pullFresh(ref, 'fresh');
    expect(result.imageId).toBe(image.config.digest);
    expect(result.manifestDigest).toBe(image.manifest.digest);
    expect(result.layers.map((l) => l.digest)).toEqual(image.layers.map((l) => l.digest));
    expect(await readFile(join(home, 'app.txt'), 'utf8')).toBe('app v1\n');
    expect((await readFile(join(home, 'base.bin'))).equals(noise(1, 300_000))).toBe(true);
  });

  it('a second push finds every layer in the registry ("Layer already exists") and uploads nothing', async () => {
    const ref = `${target.host}/dst/app:v1`;
    await graph.tag(ctx, ref, `${source.host}/src/app:v1`);
    await push(ctx, graph, ref, { retry: FAST_RETRY });
    const events: PushProgressEvent[] = [];
    await graph.tag(ctx, `${target.host}/dst/app:again`, ref);
    const again = await push(ctx, graph, `${target.host}/dst/app:again`, {
      retry: FAST_RETRY,
      onProgress: (e) => events.push(e),
    });
    expect(again.layers.map((l) => l.outcome)).toEqual(['exists', 'exists']);
    expect(again.digest).toBe(image.manifest.digest);
    const statuses = events.map(toDockerPushProgress).map((m) => m.status);
    expect(statuses.filter((s) => s === 'Layer already exists')).toHaveLength(2);
    expect(statuses).not.toContain('Pushing');
  });

  it('mounts the layers from another repository of the same registry', async () => {
    const ref = `${source.host}/other/app:v1`;
    await graph.tag(ctx, ref, `${source.host}/src/app:v1`);
    const events: PushProgressEvent[] = [];
    const res = await push(ctx, graph, ref, { retry: FAST_RETRY, onProgress: (e) => events.push(e) });
    expect(res.layers.map((l) => l.outcome)).toEqual(['mounted', 'mounted']);
    expect(events.map(toDockerPushProgress).filter((m) => m.status === 'Mounted from src/app')).toHaveLength(2);
    const { result } = await pullFresh(ref, 'fresh-mounted');
    expect(result.imageId).toBe(image.config.digest);
  });

  it('a layer blob the graph no longer keeps is mounted from the repository it came from, the manifest unchanged', async () => {
    await graph.content.delete(ctx, image.layers[1]!.digest);
    const ref = `${source.host}/again/app:v1`;
    await graph.tag(ctx, ref, `${source.host}/src/app:v1`);
    const res = await push(ctx, graph, ref, { retry: FAST_RETRY });
    expect(res.layers.map((l) => [l.outcome, l.compressed])).toEqual([
      ['mounted', false],
      ['mounted', false],
    ]);
    expect(res.reusedManifest).toBe(true);
    expect(res.digest).toBe(image.manifest.digest);
  });

  it('pushes a locally made image: blobs gzipped from the graphdriver diff, chunked, a schema2 manifest kept for the next push', async () => {
    const base = await buildTar([
      { name: 'hello.txt', content: 'hello from a local image\n', mode: 0o644, mtime: new Date(0) },
    ]);
    const top = await buildTar([{ name: 'data.bin', content: noise(7, 150_000), mode: 0o600, mtime: new Date(0) }]);
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [digestOf(base), digestOf(top)] },
    });
    // through the proxy, to see the requests
    const ref = `${world.proxy.host}/local/made:v1`;
    await graph.putImage(ctx, config, [Readable.from([base]), Readable.from([top])], { references: [ref] });
    const res = await push(ctx, graph, ref, { retry: FAST_RETRY, chunkSize: 64 * 1024 });
    const patches = world.proxy.log.filter((l) => l.startsWith('PATCH /v2/local/made/blobs/uploads/'));
    const topBlob = res.layers[1]!;
    expect(topBlob.size).toBeGreaterThan(128 * 1024); // incompressible: three chunks at least
    expect(patches.length).toBeGreaterThanOrEqual(Math.ceil(topBlob.size / (64 * 1024)));
    expect(res.reusedManifest).toBe(false);
    expect(res.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(res.layers.every((l) => l.compressed && l.outcome === 'pushed')).toBe(true);
    // the blobs and the manifest are kept with the image: the next push sends the same manifest
    const again = await push(ctx, graph, ref, { retry: FAST_RETRY });
    expect(again.digest).toBe(res.digest);
    expect(again.reusedManifest).toBe(true);
    expect(again.layers.map((l) => l.outcome)).toEqual(['exists', 'exists']);
    const { result, home } = await pullFresh(ref, 'fresh-local');
    expect(result.imageId).toBe(digestOf(config));
    expect(result.manifestDigest).toBe(res.digest);
    expect(await readFile(join(home, 'hello.txt'), 'utf8')).toBe('hello from a local image\n');
    expect((await readFile(join(home, 'data.bin'))).equals(noise(7, 150_000))).toBe(true);
  });

  it('pushes a locally made image from layers stored shifted (--userns-remap): the blob carries the original owners', async () => {
    const shift = { uid: { hostID: 300_000, size: 65_536 }, gid: { hostID: 400_000, size: 65_536 } };
    const root = join(world.root, 'shifted');
    const raw = await vfsPlugin.init(ctx, { root, idShift: shift });
    extraDrivers.push(raw);
    const shifted = await Graph.open(ctx, { root, driver: withDiff(raw, shift) });
    const layer = await buildTar([
      { name: 'owned/', type: 'directory', mode: 0o755, mtime: new Date(0), uid: 7, gid: 8 },
      { name: 'owned/file.txt', content: 'owned by 7:8\n', mode: 0o640, mtime: new Date(0), uid: 7, gid: 8 },
    ]);
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [digestOf(layer)] },
    });
    const ref = `${target.host}/shifted/made:v1`;
    const put = await shifted.putImage(ctx, config, [Readable.from([layer])], { references: [ref] });
    // stored shifted on disk
    const top = await shifted.layers.get(ctx, put.chainID!);
    const stored = statSync(join(raw.home, 'dir', top.driverID, 'owned', 'file.txt'));
    expect([stored.uid, stored.gid]).toEqual([300_007, 400_008]);
    const res = await push(ctx, shifted, ref, { retry: FAST_RETRY });
    expect(res.layers.map((l) => [l.compressed, l.outcome])).toEqual([[true, 'pushed']]);
    const { home } = await pullFresh(ref, 'fresh-shifted');
    const back = statSync(join(home, 'owned', 'file.txt'));
    expect([back.uid, back.gid, back.mode & 0o7777]).toEqual([7, 8, 0o640]);
  });

  it('authenticates with a bearer token scoped pull,push; without credentials it is UNAUTHENTICATED naming the registry', async () => {
    const proxy = world.proxy;
    const issued = { count: 0, scopes: [] as string[] };
    proxy.hooks = bearerHooks(() => proxy.url, 'alice', 's3cret', issued);
    const ref = `${proxy.host}/private/app:v1`;
    await graph.tag(ctx, ref, `${source.host}/src/app:v1`);
    const err = await caught(push(ctx, graph, ref, { retry: FAST_RETRY }));
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(err.message).toContain(proxy.host);
    expect(err.message).toContain('private/app');
    const res = await push(ctx, graph, ref, {
      retry: FAST_RETRY,
      auth: (h) => (h === proxy.host ? { username: 'alice', password: 's3cret' } : undefined),
    });
    expect(res.digest).toBe(image.manifest.digest);
    expect(issued.scopes).toContain('berth-test repository:private/app:pull,push');
    proxy.hooks = {};
  });

  it('an upload whose connection is reset is started again in a new session, and the push completes', async () => {
    const proxy = world.proxy;
    let resets = 0;
    proxy.hooks = {
      before: (req) => {
        if (req.method === 'PUT' && req.url?.includes('/blobs/uploads/') && resets === 0) {
          resets++;
          req.socket.destroy();
          return true;
        }
        return false;
      },
    };
    const ref = `${proxy.host}/retry/app:v1`;
    await graph.tag(ctx, ref, `${source.host}/src/app:v1`);
    const res = await push(ctx, graph, ref, { retry: FAST_RETRY, concurrency: 1 });
    proxy.hooks = {};
    expect(resets).toBe(1);
    expect(res.digest).toBe(image.manifest.digest);
    // one session per layer, one more for the retried upload (the config blob goes in its own)
    const sessions = proxy.log.filter((l) => l.startsWith('POST /v2/retry/app/blobs/uploads/')).length;
    expect(sessions).toBe(image.layers.length + 2);
    const { result } = await pullFresh(`${source.host}/retry/app:v1`, 'fresh-retry');
    expect(result.imageId).toBe(image.config.digest);
  });

  it('an unknown image is NOT_FOUND naming it', async () => {
    const err = await caught(push(ctx, graph, `${target.host}/nothing/here:v1`));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain(`${target.host}/nothing/here`);
  });

  it('a layer whose tar the graphdriver does not reproduce fails FAILED_PRECONDITION naming it, and nothing is put', async () => {
    // trailing zero blocks past the end-of-archive marker: applied the same, hashed differently from the diff
    const tar = Buffer.concat([
      await buildTar([{ name: 'x.txt', content: 'x\n', mode: 0o644, mtime: new Date(0) }]),
      Buffer.alloc(10_240),
    ]);
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [digestOf(tar)] },
    });
    const ref = `${target.host}/odd/tar:v1`;
    await graph.putImage(ctx, config, [Readable.from([tar])], { references: [ref] });
    const before = await graph.content.list(ctx);
    const err = await caught(push(ctx, graph, ref, { retry: FAST_RETRY }));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.message).toContain(digestOf(tar));
    expect(await graph.content.list(ctx)).toEqual(before);
    expect(await graph.content.ingests(ctx)).toEqual([]);
    expect((await fetch(`${target.url}/v2/odd/tar/manifests/v1`)).status).toBe(404);
  });

  it('a read-only registry: the push fails with the registry message, naming the registry', async () => {
    const ro = await createRegistryServer({ root: join(world.root, 'ro'), readOnly: true });
    try {
      const ref = `${ro.host}/dst/app:v1`;
      await graph.tag(ctx, ref, `${source.host}/src/app:v1`);
      const err = await caught(push(ctx, graph, ref, { retry: FAST_RETRY }));
      expect(err.code).toBe('NOT_IMPLEMENTED');
      expect(err.message).toContain('UNSUPPORTED');
      expect(err.message).toContain(`${ro.host}/dst/app`);
      expect(image.layers.some((l) => err.message.includes(l.digest))).toBe(true);
    } finally {
      await ro.close(100);
    }
  });

  it('cancelled mid-upload: CANCELLED, and the registry has no manifest of the tag', async () => {
    const proxy = world.proxy;
    // the proxy fronts the source registry: push there under a new repository, stalling the first upload body
    const ref = `${proxy.host}/cancel/app:v1`;
    await graph.tag(ctx, ref, `${source.host}/src/app:v1`);
    const controller = new AbortController();
    let stalled!: () => void;
    const uploading = new Promise<void>((r) => (stalled = r));
    proxy.hooks = {
      before: (req) => {
        if ((req.method === 'PUT' || req.method === 'PATCH') && req.url?.includes('/blobs/uploads/')) {
          // swallow the body and never answer: the upload hangs until the push is cancelled
          req.resume();
          stalled();
          return true;
        }
        return false;
      },
    };
    // a registry that can mount would not upload at all: tell push about no other repository
    await graph.deleteImage(ctx, `${source.host}/src/app:v1`);
    const p = push(withSignal(ctx, controller.signal), graph, ref, { retry: FAST_RETRY });
    await uploading;
    controller.abort(new Error('client hung up'));
    const err = await caught(p);
    expect(err.code).toBe('CANCELLED');
    proxy.hooks = {};
    expect((await fetch(`${source.url}/v2/cancel/app/manifests/v1`)).status).toBe(404);
    expect((await fetch(`${source.url}/v2/cancel/app/manifests/${image.manifest.digest}`)).status).toBe(404);
    // and a push afterwards completes
    const res = await push(ctx, graph, ref, { retry: FAST_RETRY });
    expect(res.digest).toBe(image.manifest.digest);
  });

  it('pushes by digest: the stored manifest of that digest, no tag; an unknown digest is NOT_FOUND naming it', async () => {
    const ref = `${target.host}/bydigest/app@${image.manifest.digest}`;
    const res = await push(ctx, graph, ref, { retry: FAST_RETRY });
    expect(res.digest).toBe(image.manifest.digest);
    expect(res.tag).toBe('');
    expect(res.reusedManifest).toBe(true);
    const got = await fetch(`${target.url}/v2/bydigest/app/manifests/${image.manifest.digest}`);
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(image.manifest.bytes)).toBe(true);
    expect((await fetch(`${target.url}/v2/bydigest/app/manifests/latest`)).status).toBe(404);
    const missing = `sha256:${'ab'.repeat(32)}`;
    const err = await caught(push(ctx, graph, `${target.host}/bydigest/app@${missing}`, { retry: FAST_RETRY }));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain(missing);
  });

  it('a multi-platform image is pushed as its index once every platform is stored; before, by tag, as its one platform', async () => {
    const amd = await buildImage([{ files: { 'arch.txt': 'amd64\n' } }], {
      seed: 'multi-amd64',
      architecture: 'amd64',
    });
    const arm = await buildImage([{ files: { 'arch.txt': 'arm64\n' } }], {
      seed: 'multi-arm64',
      architecture: 'arm64',
    });
    const index = buildIndex([
      { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
      { image: arm, platform: { os: 'linux', architecture: 'arm64' } },
    ]);
    for (const i of [amd, arm]) await pushImage(source.url, 'src/multi', i);
    await pushBlobs(source.url, 'src/multi', [], index, 'v1');
    const src = `${source.host}/src/multi:v1`;
    await pull(ctx, graph, src, { retry: FAST_RETRY, platform: 'linux/amd64' });
    const ref = `${target.host}/dst/multi:v1`;
    await graph.tag(ctx, ref, src);
    // by tag with arm64 missing: the amd64 manifest alone, and a note naming what was left out
    const notes: string[] = [];
    const single = await push(ctx, graph, ref, { retry: FAST_RETRY, onNote: (n) => notes.push(n) });
    expect(single.digest).toBe(amd.manifest.digest);
    expect(single.platforms).toBeUndefined();
    expect(notes).toEqual([
      expect.stringMatching(/manifest only; the manifests of linux\/arm64 are not stored locally/),
    ]);
    const one = await fetch(`${target.url}/v2/dst/multi/manifests/v1`, { headers: { Accept: amd.manifest.mediaType } });
    expect(one.headers.get('docker-content-digest')).toBe(amd.manifest.digest);
    // by the index's digest: refused before anything is sent, naming the missing child
    const refused = await caught(push(ctx, graph, `${target.host}/other/multi@${index.digest}`, { retry: FAST_RETRY }));
    expect(refused.code).toBe('FAILED_PRECONDITION');
    expect(refused.message).toContain('linux/arm64');
    expect(refused.message).toContain(arm.manifest.digest);
    expect((await fetch(`${target.url}/v2/other/multi/manifests/${index.digest}`)).status).toBe(404);

    await pull(ctx, graph, src, { retry: FAST_RETRY, platform: 'linux/arm64' });
    await graph.tag(ctx, ref, src);
    const { result: res, spans } = await collect(() => push(ctx, graph, ref, { retry: FAST_RETRY, instrument }));
    expect(res.digest).toBe(index.digest);
    // one registry.layer.push span per layer of every platform
    expect(
      spans
        .filter((x) => x.name === 'registry.layer.push')
        .map((x) => x.attributes.digest)
        .sort(),
    ).toEqual([amd.layers[0]!.digest, arm.layers[0]!.digest].sort());
    expect(res.mediaType).toBe(index.mediaType);
    expect(res.platforms).toEqual([
      { platform: 'linux/amd64', digest: amd.manifest.digest },
      { platform: 'linux/arm64', digest: arm.manifest.digest },
    ]);
    expect(res.layers.map((l) => l.digest).sort()).toEqual([amd.layers[0]!.digest, arm.layers[0]!.digest].sort());
    const top = await fetch(`${target.url}/v2/dst/multi/manifests/v1`, { headers: { Accept: index.mediaType } });
    expect(top.headers.get('docker-content-digest')).toBe(index.digest);
    expect((await graph.getImage(ctx, ref)).references).toContain(`${target.host}/dst/multi@${index.digest}`);
    // pulled back into a fresh root: the index's platform for this host, by the index's digest
    const { result } = await pullFresh(`${target.host}/dst/multi@${index.digest}`, 'fresh-multi');
    expect(result.indexDigest).toBe(index.digest);
    expect([amd.manifest.digest, arm.manifest.digest]).toContain(result.manifestDigest);
    // and the index by its digest to a third repository
    const again = await push(ctx, graph, `${target.host}/third/multi@${index.digest}`, { retry: FAST_RETRY });
    expect(again.digest).toBe(index.digest);
    expect((await fetch(`${target.url}/v2/third/multi/manifests/${arm.manifest.digest}`)).status).toBe(200);
  });
});
