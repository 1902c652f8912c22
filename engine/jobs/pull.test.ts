// pull() against berth's embedded registry on 127.0.0.1, with a fault-injecting
// proxy in front where a test needs one; layers land in a vfs graph in a temp root.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Graph } from '../graph/graph.js';
import { chainIDs } from '../graph/image-store.js';
import type { Driver } from '../graphdriver/driver.js';
import { vfsPlugin } from '../graphdriver/vfs.js';
import { background, withSignal } from '../trace/context.js';
import { collect } from '../trace/collector.js';
import { instrument } from '../trace/instrument.js';
import { RegistryClient } from '../registry/client/registry-client.js';
import { toDockerProgress, type ProgressEvent } from '../registry/client/progress.js';
import {
  bearerHooks,
  buildImage,
  buildIndex,
  push,
  pushImage,
  startProxy,
  type TestProxy,
} from '../registry/client/test-registry.js';
import { pull } from './pull.js';
import { createRegistryServer, type RegistryServer } from '../registry/server/index.js';
import { caught, expectEmptyStore } from './pull-test-kit.js';

const ctx = background();
const fast = { attempts: 4, baseMs: 5, maxMs: 50 };

let root: string;
let driver: Driver;
let graph: Graph;
let registry: RegistryServer;
const closers: (() => Promise<void>)[] = [];

async function startRegistry(
  opts: { credentials?: { username: string; password: string } } = {},
): Promise<RegistryServer> {
  const r = await createRegistryServer({ root: join(root, 'registry'), ...opts });
  closers.push(() => r.close(100));
  return r;
}

async function proxy(target: string): Promise<TestProxy> {
  const p = await startProxy(target);
  closers.push(() => p.close());
  return p;
}

async function fileIn(chainID: string, name: string): Promise<string> {
  const layer = await graph.layers.get(ctx, chainID);
  return readFile(join(driver.home, 'dir', layer.driverID, name), 'utf8');
}

const big = (seed: string, n = 200_000): Buffer => {
  const b = Buffer.alloc(n);
  let x = seed.length * 7919 + 13;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
};

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), `berth-pull-${process.pid}-`));
  driver = await vfsPlugin.init(ctx, { root });
  graph = await Graph.open(ctx, { root, driver });
  registry = await startRegistry();
});

afterEach(async () => {
  try {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
    await driver?.cleanup(ctx);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

describe('pull', () => {
  it.each([
    ['oci', 'gzip'],
    ['oci', 'zstd'],
    ['oci', 'none'],
    ['docker', 'gzip'],
    ['docker', 'zstd'],
    ['docker', 'none'],
  ] as const)(
    'pulls a %s manifest with %s layers and stores image, layers, blobs and the reference',
    async (format, kind) => {
      const image = await buildImage(
        [
          { files: { 'base.txt': 'base\n', 'big.bin': big('a') }, kind },
          { files: { 'app.txt': `app ${format} ${kind}\n` }, kind },
        ],
        { format },
      );
      await pushImage(registry.url, 'team/app', image, 'v1');
      const events: ProgressEvent[] = [];
      const res = await pull(ctx, graph, `${registry.host}/team/app:v1`, {
        onProgress: (e) => events.push(e),
        retry: fast,
      });
      expect(res.imageId).toBe(image.config.digest);
      expect(res.manifestDigest).toBe(image.manifest.digest);
      expect(res.reference).toBe(`${registry.host}/team/app:v1`);
      expect(res.layers.map((l) => [l.digest, l.diffID, l.skipped, l.downloaded])).toEqual(
        image.layers.map((l, i) => [l.digest, image.diffIDs[i], false, true]),
      );
      const chains = chainIDs(image.diffIDs);
      expect(await fileIn(chains[1]!, 'app.txt')).toBe(`app ${format} ${kind}\n`);
      expect(await fileIn(chains[1]!, 'base.txt')).toBe('base\n');
      const img = await graph.getImage(ctx, `${registry.host}/team/app:v1`);
      expect(img.id).toBe(image.config.digest);
      expect(img.blobs).toEqual(expect.arrayContaining([image.manifest.digest, ...image.layers.map((l) => l.digest)]));
      for (const l of image.layers) expect(await graph.content.has(ctx, l.digest)).toBe(true);
      expect(await graph.content.ingests(ctx)).toEqual([]);
      // progress: every layer went waiting → … → done, with downloading bytes reaching the size
      for (const l of image.layers) {
        const mine = events.filter((e) => e.digest === l.digest).map((e) => e.phase);
        expect(mine[0]).toBe('waiting');
        expect(mine.at(-1)).toBe('done');
        expect(mine).toEqual(expect.arrayContaining(['downloading', 'verifying', 'extracting']));
        const last = events.filter((e) => e.digest === l.digest && e.phase === 'downloading').at(-1)!;
        expect(last.current).toBe(l.size);
        expect(toDockerProgress(last)).toEqual({
          status: 'Downloading',
          id: l.digest.slice(7, 19),
          progressDetail: { current: l.size, total: l.size },
        });
      }
    },
  );

  it('chooses the platform from an OCI index and a Docker manifest list, and names the platforms offered when missing', async () => {
    const amd = await buildImage([{ files: { 'arch.txt': 'amd64\n' } }], { architecture: 'amd64' });
    const arm = await buildImage([{ files: { 'arch.txt': 'arm64\n' } }], { architecture: 'arm64', format: 'docker' });
    for (const [format, tag] of [
      ['oci', 'multi'],
      ['docker', 'list'],
    ] as const) {
      const index = buildIndex(
        [
          { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
          { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
        ],
        format,
      );
      await pushImage(registry.url, 'multi', amd);
      await pushImage(registry.url, 'multi', arm);
      await push(registry.url, 'multi', [], index, tag);
      const res = await pull(ctx, graph, `${registry.host}/multi:${tag}`, { platform: 'linux/amd64' });
      expect(res.imageId).toBe(amd.config.digest);
      expect(res.indexDigest).toBe(index.digest);
      expect(res.manifestDigest).toBe(amd.manifest.digest);
      expect(res.platform).toBe('linux/amd64');
      const armRes = await pull(ctx, graph, `${registry.host}/multi:${tag}`, { platform: 'linux/arm64' });
      expect(armRes.imageId).toBe(arm.config.digest);
      expect(await fileIn(chainIDs(arm.diffIDs)[0]!, 'arch.txt')).toBe('arm64\n');
      const err = await caught(pull(ctx, graph, `${registry.host}/multi:${tag}`, { platform: 'linux/s390x' }));
      expect(err.code).toBe('NOT_FOUND');
      expect(err.message).toContain('linux/s390x');
      expect(err.message).toContain('linux/arm64/v8, linux/amd64');
    }
  });

  it('pulls by digest and stores the digest reference; a wrong pinned digest is refused', async () => {
    const image = await buildImage([{ files: { 'x.txt': 'x\n' } }]);
    await pushImage(registry.url, 'bydigest', image, 'v1');
    const res = await pull(ctx, graph, `${registry.host}/bydigest@${image.manifest.digest}`);
    expect(res.reference).toBe(`${registry.host}/bydigest@${image.manifest.digest}`);
    expect((await graph.getImage(ctx, `${registry.host}/bydigest@${image.manifest.digest}`)).id).toBe(
      image.config.digest,
    );
    const other = await buildImage([{ files: { 'y.txt': 'y\n' } }]);
    const err = await caught(pull(ctx, graph, `${registry.host}/bydigest@${other.manifest.digest}`));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain(other.manifest.digest);
  });

  it('skips layers already present when a second image shares the base', async () => {
    const baseLayer = { files: { 'base.txt': 'shared base\n', 'big.bin': big('base') } };
    const one = await buildImage([baseLayer, { files: { 'one.txt': '1\n' } }], { seed: 'one' });
    const two = await buildImage([baseLayer, { files: { 'two.txt': '2\n' } }], { seed: 'two' });
    await pushImage(registry.url, 'one', one, 'latest');
    await pushImage(registry.url, 'two', two, 'latest');
    const p = await proxy(registry.url);
    await pull(ctx, graph, `${p.host}/one`);
    p.log.length = 0;
    const events: ProgressEvent[] = [];
    const res = await pull(ctx, graph, `${p.host}/two`, { onProgress: (e) => events.push(e) });
    expect(res.layers.map((l) => l.skipped)).toEqual([true, false]);
    expect(res.layers.map((l) => l.downloaded)).toEqual([false, true]);
    expect(p.log.filter((l) => l.includes(one.layers[0]!.digest))).toEqual([]);
    expect(events.filter((e) => e.digest === one.layers[0]!.digest).map((e) => e.phase)).toEqual(['already-exists']);
    expect(await fileIn(chainIDs(two.diffIDs)[1]!, 'base.txt')).toBe('shared base\n');
    // the same image again fetches no blob at all
    p.log.length = 0;
    const again = await pull(ctx, graph, `${p.host}/two`);
    expect(again.layers.every((l) => l.skipped)).toBe(true);
    expect(p.log.filter((l) => l.includes('/blobs/'))).toEqual([]);
  });

  it('applies layers whose blobs are still in the content store without downloading them', async () => {
    const image = await buildImage([{ files: { 'a.txt': 'a\n' } }, { files: { 'b.txt': 'b\n' } }]);
    await pushImage(registry.url, 'cached-blobs', image, 'v1');
    const p = await proxy(registry.url);
    await pull(ctx, graph, `${p.host}/cached-blobs:v1`);
    const removed = await graph.deleteImage(ctx, `${p.host}/cached-blobs:v1`);
    expect(removed.layers).toHaveLength(2);
    p.log.length = 0;
    const res = await pull(ctx, graph, `${p.host}/cached-blobs:v1`);
    expect(res.layers.map((l) => [l.skipped, l.downloaded])).toEqual([
      [false, false],
      [false, false],
    ]);
    // only the config (deleted with the image) is fetched again
    expect(p.log.filter((l) => l.includes('/blobs/'))).toEqual([`GET /v2/cached-blobs/blobs/${image.config.digest}`]);
    expect(await fileIn(chainIDs(image.diffIDs)[1]!, 'a.txt')).toBe('a\n');
  });

  it.each([1, 2, 3])('downloads at most %d layers at once', async (concurrency) => {
    const image = await buildImage([1, 2, 3, 4, 5].map((n) => ({ files: { [`l${n}.txt`]: `layer ${n}\n` } })));
    await pushImage(registry.url, 'parallel', image, 'v1');
    const p = await proxy(registry.url);
    const layerDigests = image.layers.map((l) => l.digest);
    // Every layer request is held until as many as the pull may have in flight have arrived (fewer
    // once fewer layers are left); then one is let go. No timer decides the verdict: a pull that
    // keeps fewer in flight stalls here (and the test times out), one that sends more is counted.
    const held: (() => void)[] = [];
    let done = 0;
    let most = 0;
    let releasing = false;
    const releaseWhenFull = (): void => {
      if (releasing || held.length === 0 || held.length < Math.min(concurrency, layerDigests.length - done)) return;
      releasing = true;
      // a pause lets a pull that breaks its limit show its extra request first (it only decides how surely a broken
      // limit is seen: a pull within its limit passes however long the host takes)
      setTimeout(() => {
        most = Math.max(most, held.length);
        done++;
        releasing = false;
        held.shift()!();
        releaseWhenFull();
      }, 25);
    };
    p.hooks = {
      hold: async (req) => {
        if (req.method !== 'GET' || !layerDigests.some((d) => req.url?.endsWith(d))) return;
        await new Promise<void>((release) => {
          held.push(release);
          releaseWhenFull();
        });
      },
    };
    await pull(ctx, graph, `${p.host}/parallel:v1`, { concurrency });
    expect(done).toBe(layerDigests.length);
    expect(most).toBe(concurrency);
  });

  it('resumes a layer with a Range request after the connection drops mid-way', async () => {
    const image = await buildImage([{ files: { 'big.bin': big('resume', 400_000) }, kind: 'none' }]);
    await pushImage(registry.url, 'resume', image, 'v1');
    const p = await proxy(registry.url);
    let cut = false;
    p.hooks = {
      chunk: (req, chunk, sent) => {
        if (!cut && req.url?.includes(image.layers[0]!.digest) && sent + chunk.length > 150_000) {
          cut = true;
          return null;
        }
        return chunk;
      },
    };
    const res = await pull(ctx, graph, `${p.host}/resume:v1`, { retry: fast });
    expect(cut).toBe(true);
    const blobGets = p.log.filter((l) => l.includes(image.layers[0]!.digest));
    expect(blobGets).toHaveLength(2);
    expect(blobGets[1]).toMatch(/range=bytes=\d+-$/);
    expect(Number(/bytes=(\d+)-/.exec(blobGets[1]!)![1])).toBeGreaterThan(0);
    expect(res.layers[0]!.diffID).toBe(image.diffIDs[0]);
    expect(await graph.content.has(ctx, image.layers[0]!.digest)).toBe(true);
  });

  it('continues an ingest an interrupted earlier pull left (the hash resumes from its data)', async () => {
    const image = await buildImage([{ files: { 'big.bin': big('left', 300_000) }, kind: 'none' }]);
    await pushImage(registry.url, 'leftover', image, 'v1');
    const layer = image.layers[0]!;
    const w = await graph.content.writer(ctx, `pull-${layer.digest}`, {
      expected: { digest: layer.digest, size: layer.size },
    });
    await w.write(layer.bytes.subarray(0, 120_000));
    await w.close(); // what a crashed pull leaves
    const p = await proxy(registry.url);
    const res = await pull(ctx, graph, `${p.host}/leftover:v1`);
    expect(p.log.filter((l) => l.includes(layer.digest))).toEqual([
      `GET /v2/leftover/blobs/${layer.digest} range=bytes=120000-`,
    ]);
    expect(res.layers[0]!.diffID).toBe(image.diffIDs[0]);
    expect(await graph.content.ingests(ctx)).toEqual([]);
  });

  it('resumes from a registry that ignores Range by skipping the bytes it already has', async () => {
    const image = await buildImage([{ files: { 'big.bin': big('norange', 400_000) }, kind: 'gzip' }]);
    await pushImage(registry.url, 'norange', image, 'v1');
    const p = await proxy(registry.url);
    let cut = false;
    p.hooks = {
      before: (req) => {
        delete req.headers.range;
        return false;
      },
      chunk: (req, chunk, sent) => {
        if (!cut && req.url?.includes(image.layers[0]!.digest) && sent + chunk.length > image.layers[0]!.size / 2) {
          cut = true;
          return null;
        }
        return chunk;
      },
    };
    const res = await pull(ctx, graph, `${p.host}/norange:v1`, { retry: fast });
    expect(cut).toBe(true);
    expect(p.log.filter((l) => l.includes(image.layers[0]!.digest))).toHaveLength(2);
    expect(res.layers[0]!.diffID).toBe(image.diffIDs[0]);
  });

  it('retries 503 and 429 answers with backoff', async () => {
    const image = await buildImage([{ files: { 'r.txt': 'retry\n' } }]);
    await pushImage(registry.url, 'retry', image, 'v1');
    const p = await proxy(registry.url);
    let failures = 0;
    p.hooks = {
      before: (req, res) => {
        if (failures < 3 && (req.url?.includes('/manifests/') || req.url?.includes('/blobs/'))) {
          failures++;
          if (failures === 2) res.writeHead(429, { 'Retry-After': '0' }).end();
          else res.writeHead(503).end();
          return true;
        }
        return false;
      },
    };
    const res = await pull(ctx, graph, `${p.host}/retry:v1`, { retry: fast });
    expect(failures).toBe(3);
    expect(res.imageId).toBe(image.config.digest);
    // a registry that keeps failing gives UNAVAILABLE after the attempts
    p.hooks = { before: (_req, res) => (res.writeHead(503).end(), true) };
    const err = await caught(pull(ctx, graph, `${p.host}/retry:v2`, { retry: fast }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain('503');
  });

  it('leaves nothing behind when a layer is corrupted mid-way, naming the layer digest', async () => {
    const image = await buildImage([
      { files: { 'ok.bin': big('fine', 300_000) }, kind: 'none' },
      { files: { 'big.bin': big('corrupt', 300_000) }, kind: 'none' },
    ]);
    await pushImage(registry.url, 'corrupt', image, 'v1');
    const p = await proxy(registry.url);
    for (const bad of [image.layers[0]!.digest, image.layers[1]!.digest]) {
      p.hooks = {
        chunk: (req, chunk, sent) => {
          if (req.url?.includes(bad) && sent < 100_000 && sent + chunk.length >= 100_000) {
            const c = Buffer.from(chunk);
            c[100_000 - sent] = c[100_000 - sent]! ^ 0xff;
            return c;
          }
          return chunk;
        },
      };
      for (const concurrency of [1, 3]) {
        const err = await caught(pull(ctx, graph, `${p.host}/corrupt:v1`, { concurrency, retry: fast }));
        expect(err.message).toContain(`layer ${bad}`);
        expect(err.message).toContain('digest mismatch');
        await expectEmptyStore(ctx, graph);
      }
    }
  });

  it('authenticates with the Bearer token flow, credentials from a config.json, one token per scope', async () => {
    const image = await buildImage([{ files: { 'secret.txt': 'bearer\n' } }]);
    await pushImage(registry.url, 'private/app', image, 'v1');
    const p = await proxy(registry.url);
    const issued = { count: 0, scopes: [] as string[] };
    p.hooks = bearerHooks(() => p.url, 'alice', 's3cret', issued);
    const config = join(root, 'config.json');
    await writeFile(
      config,
      JSON.stringify({ auths: { [p.host]: { auth: Buffer.from('alice:s3cret').toString('base64') } } }),
    );
    const res = await pull(ctx, graph, `${p.host}/private/app:v1`, { auth: { dockerConfig: config } });
    expect(res.imageId).toBe(image.config.digest);
    expect(issued.count).toBe(1);
    expect(issued.scopes).toEqual(['berth-test repository:private/app:pull']);
    // no credentials: the token server refuses → UNAUTHENTICATED naming registry and repository
    const err = await caught(pull(ctx, graph, `${p.host}/private/app:v1`));
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(err.message).toContain(p.host);
    expect(err.message).toContain('private/app');
    // wrong password from a username/password entry
    await writeFile(
      config,
      JSON.stringify({ auths: { [`http://${p.host}`]: { username: 'alice', password: 'nope' } } }),
    );
    const wrong = await caught(pull(ctx, graph, `${p.host}/private/app:v1`, { auth: { dockerConfig: config } }));
    expect(wrong.code).toBe('UNAUTHENTICATED');
  });

  it('caches a token per scope across calls of one client', async () => {
    const image = await buildImage([{ files: { 'c.txt': 'cache\n' } }]);
    await pushImage(registry.url, 'cached', image, 'v1');
    const p = await proxy(registry.url);
    const issued = { count: 0, scopes: [] as string[] };
    p.hooks = bearerHooks(() => p.url, 'bob', 'pw', issued);
    const client = new RegistryClient({
      credentials: (h) => (h === p.host ? { username: 'bob', password: 'pw' } : undefined),
    });
    await pull(ctx, graph, `${p.host}/cached:v1`, { client });
    await graph.deleteImage(ctx, `${p.host}/cached:v1`);
    await pull(ctx, graph, `${p.host}/cached:v1`, { client });
    expect(issued.count).toBe(1);
    // the server forgets its tokens: the cached one is refused, a fresh one is fetched once
    p.hooks = bearerHooks(() => p.url, 'bob', 'pw', issued);
    await graph.deleteImage(ctx, `${p.host}/cached:v1`);
    await pull(ctx, graph, `${p.host}/cached:v1`, { client });
    expect(issued.count).toBe(2);
  });

  it('authenticates with Basic credentials; 403 gives PERMISSION_DENIED', async () => {
    const secured = await createRegistryServer({
      root: join(root, 'basic-registry'),
      credentials: { username: 'carol', password: 'pw' },
      authorize: ({ repository }) => repository !== 'forbidden',
    });
    closers.push(() => secured.close(100));
    const image = await buildImage([{ files: { 'b.txt': 'basic\n' } }]);
    const basic = { Authorization: `Basic ${Buffer.from('carol:pw').toString('base64')}` };
    await pushImage(secured.url, 'basic', image, 'v1', basic);
    const creds = (h: string) => (h === secured.host ? { username: 'carol', password: 'pw' } : undefined);
    const res = await pull(ctx, graph, `${secured.host}/basic:v1`, { auth: creds });
    expect(res.imageId).toBe(image.config.digest);
    const none = await caught(pull(ctx, graph, `${secured.host}/basic:v1`));
    expect(none.code).toBe('UNAUTHENTICATED');
    expect(none.message).toContain(`registry ${secured.host}: repository basic`);
    const denied = await caught(pull(ctx, graph, `${secured.host}/forbidden:v1`, { auth: creds }));
    expect(denied.code).toBe('PERMISSION_DENIED');
    expect(denied.message).toContain('forbidden');
  });

  it('rejects a bad reference with INVALID_ARGUMENT naming it, and a bad platform', async () => {
    const err = await caught(pull(ctx, graph, 'Bad/Ref:!!'));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('"Bad/Ref:!!"');
    const plat = await caught(pull(ctx, graph, `${registry.host}/x`, { platform: 'linux' }));
    expect(plat.code).toBe('INVALID_ARGUMENT');
    expect(plat.message).toContain('"linux"');
  });

  it('rejects an unknown manifest media type naming it and the reference', async () => {
    const p = await proxy(registry.url);
    p.hooks = {
      before: (req, res) => {
        if (!req.url?.includes('/manifests/')) return false;
        res.writeHead(200, { 'Content-Type': 'application/vnd.example.thing+json' }).end('{"schemaVersion":2}');
        return true;
      },
    };
    const err = await caught(pull(ctx, graph, `${p.host}/odd:v1`));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('application/vnd.example.thing+json');
    expect(err.message).toContain(`${p.host}/odd:v1`);
  });

  it('a manifest whose bytes do not match Docker-Content-Digest is refused', async () => {
    const image = await buildImage([{ files: { 'd.txt': 'd\n' } }]);
    await pushImage(registry.url, 'dcd', image, 'v1');
    const p = await proxy(registry.url);
    p.hooks = {
      chunk: (req, c) =>
        req.url?.includes('/manifests/') ? Buffer.from(c.toString().replace('"layers"', '"Layers"')) : c,
    };
    const err = await caught(pull(ctx, graph, `${p.host}/dcd:v1`));
    expect(err.code).toBe('DATA_LOSS');
    expect(err.message).toContain('digest mismatch');
  });

  it('cancellation through ctx.signal leaves nothing behind', async () => {
    const image = await buildImage([
      { files: { 'a.bin': big('c1', 300_000) }, kind: 'none' },
      { files: { 'b.bin': big('c2', 300_000) }, kind: 'none' },
    ]);
    await pushImage(registry.url, 'cancel', image, 'v1');
    const p = await proxy(registry.url);
    const ac = new AbortController();
    p.hooks = {
      chunk: (req, c, sent) => {
        if (req.url?.includes(image.layers[1]!.digest) && sent > 100_000) ac.abort(new Error('user pressed ^C'));
        return c;
      },
    };
    const err = await caught(pull(withSignal(ctx, ac.signal), graph, `${p.host}/cancel:v1`));
    expect(err.code).toBe('CANCELLED');
    await expectEmptyStore(ctx, graph);
  });

  it('records registry spans from its instrumented parts: manifest, blob, layer fetch, decompress, apply', async () => {
    const image = await buildImage([{ files: { 's.txt': 'span\n' } }, { files: { 't.txt': 'two\n' } }]);
    await pushImage(registry.url, 'spans', image, 'v1');
    const { spans } = await collect(() => pull(ctx, graph, `${registry.host}/spans:v1`, { instrument }));
    const names = spans.map((s) => s.name);
    for (const n of [
      'registry.manifest',
      'registry.blob',
      'registry.layer.fetch',
      'registry.layer.decompress',
      'registry.layer.apply',
    ])
      expect(names.filter((x) => x === n).length, n).toBe(n === 'registry.manifest' ? 1 : 2);
    // each layer's HTTP body is part of its fetch; its decompression is part of its apply
    const byId = new Map(spans.map((s) => [s.id, s]));
    for (const blob of spans.filter((s) => s.name === 'registry.blob'))
      expect(byId.get(blob.parentId!)?.name).toBe('registry.layer.fetch');
    for (const d of spans.filter((s) => s.name === 'registry.layer.decompress')) {
      expect(byId.get(d.parentId!)?.name).toBe('registry.layer.apply');
      expect(d.attributes.compressedBytes).toBeGreaterThan(0);
    }
    // the bottom layer streams into the graph while it downloads
    expect(spans.find((s) => s.name === 'registry.layer.fetch')?.attributes).toMatchObject({
      digest: image.layers[0]!.digest,
      streamed: true,
    });
  });
});

describe('pull with an unreachable registry', () => {
  it('fails UNAVAILABLE naming the reference', async () => {
    const p = await proxy(registry.url);
    const host = p.host;
    await p.close();
    const err = await caught(pull(ctx, graph, `${host}/gone:v1`, { retry: fast }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain(`${host}/gone:v1`);
  });
});
