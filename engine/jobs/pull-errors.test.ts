// Bad input to pull() that pull.test.ts does not cover: each must fail with a clear
// error naming the reference or the layer digest and leave the store as it was.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Graph } from '../graph/graph.js';
import type { Driver } from '../graphdriver/driver.js';
import { vfsPlugin } from '../graphdriver/vfs.js';
import { background } from '../trace/context.js';
import {
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
const fast = { attempts: 3, baseMs: 5, maxMs: 20 };

let root: string;
let driver: Driver;
let graph: Graph;
let registry: RegistryServer;
let proxy: TestProxy;

/** A manifest answer the proxy gives itself instead of the registry's. */
function serveManifest(contentType: string, body: string): void {
  proxy.hooks = {
    before: (req, res) => {
      if (!req.url?.includes('/manifests/')) return false;
      res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(body)) }).end(body);
      return true;
    },
  };
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), `berth-pull-errors-${process.pid}-`));
  driver = await vfsPlugin.init(ctx, { root });
  graph = await Graph.open(ctx, { root, driver });
  registry = await createRegistryServer({ root: join(root, 'registry') });
  proxy = await startProxy(registry.url);
});

afterEach(async () => {
  try {
    await proxy?.close();
    await registry?.close(100);
    await driver?.cleanup(ctx);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

describe('pull: bad input leaves the store unchanged', () => {
  it('an unknown tag is NOT_FOUND naming the reference', async () => {
    const image = await buildImage([{ files: { 'a.txt': 'a\n' } }]);
    await pushImage(registry.url, 'known', image, 'v1');
    const ref = `${proxy.host}/known:nope`;
    const err = await caught(pull(ctx, graph, ref, { retry: fast }));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain(`manifest ${ref}`);
    const repo = await caught(pull(ctx, graph, `${proxy.host}/never/pushed:v1`, { retry: fast }));
    expect(repo.code).toBe('NOT_FOUND');
    expect(repo.message).toContain(`${proxy.host}/never/pushed:v1`);
    await expectEmptyStore(ctx, graph);
  });

  it('a manifest that is not JSON is INVALID_ARGUMENT naming the reference', async () => {
    serveManifest('application/vnd.oci.image.manifest.v1+json', '{"schemaVersion": 2, "config": ');
    const ref = `${proxy.host}/broken:v1`;
    const err = await caught(pull(ctx, graph, ref, { retry: fast }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain(`manifest ${ref}`);
    expect(err.message).toContain('not JSON');
    await expectEmptyStore(ctx, graph);
  });

  it('a manifest without config or layers is INVALID_ARGUMENT naming the reference', async () => {
    serveManifest(
      'application/vnd.oci.image.manifest.v1+json',
      '{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}',
    );
    const ref = `${proxy.host}/hollow:v1`;
    const err = await caught(pull(ctx, graph, ref, { retry: fast }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain(`manifest ${ref}`);
    expect(err.message).toContain('config');
    await expectEmptyStore(ctx, graph);
  });

  it('a schema1 manifest is refused as not supported, naming its media type and the reference', async () => {
    const schema1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
    serveManifest(
      schema1,
      JSON.stringify({
        schemaVersion: 1,
        name: 'old',
        tag: 'v1',
        architecture: 'amd64',
        fsLayers: [{ blobSum: `sha256:${'a'.repeat(64)}` }],
        history: [{ v1Compatibility: '{}' }],
        signatures: [],
      }),
    );
    const ref = `${proxy.host}/old:v1`;
    const err = await caught(pull(ctx, graph, ref, { retry: fast }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain(ref);
    expect(err.message).toContain(schema1);
    expect(err.message).toMatch(/unsupported/);
    expect(proxy.log.filter((l) => l.includes('/blobs/'))).toEqual([]);
    await expectEmptyStore(ctx, graph);
  });

  it('an index without the platform asked for is NOT_FOUND listing the platforms, before any blob is fetched', async () => {
    const arm = await buildImage([{ files: { 'arch.txt': 'arm\n' } }], { architecture: 'arm64' });
    const ppc = await buildImage([{ files: { 'arch.txt': 'ppc\n' } }], { architecture: 'ppc64le' });
    await pushImage(registry.url, 'foreign', arm);
    await pushImage(registry.url, 'foreign', ppc);
    const index = buildIndex([
      { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { image: ppc, platform: { os: 'linux', architecture: 'ppc64le' } },
    ]);
    await push(registry.url, 'foreign', [], index, 'v1');
    const ref = `${proxy.host}/foreign:v1`;
    const err = await caught(pull(ctx, graph, ref, { platform: 'linux/amd64', retry: fast }));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain(ref);
    expect(err.message).toContain('linux/amd64');
    expect(err.message).toContain('linux/arm64/v8, linux/ppc64le');
    expect(proxy.log.filter((l) => l.includes('/blobs/'))).toEqual([]);
    await expectEmptyStore(ctx, graph);
  });

  it('a blob whose bytes differ from its digest is DATA_LOSS naming the layer digest', async () => {
    const image = await buildImage([{ files: { 'a.txt': 'first\n' } }, { files: { 'b.txt': 'second\n' } }]);
    await pushImage(registry.url, 'swapped', image, 'v1');
    const bad = image.layers[1]!;
    // the registry answers with other bytes of the same length
    proxy.hooks = { chunk: (req, c) => (req.url?.endsWith(bad.digest) ? Buffer.alloc(c.length, 0x41) : c) };
    const err = await caught(pull(ctx, graph, `${proxy.host}/swapped:v1`, { retry: fast }));
    expect(err.message).toContain(`layer ${bad.digest}`);
    expect(err.message).toContain('digest mismatch');
    await expectEmptyStore(ctx, graph);
  });

  it('a blob cut short on every attempt fails UNAVAILABLE naming the layer digest once the retries are exhausted', async () => {
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
    const image = await buildImage([{ files: { 'base.txt': 'base\n' } }, { files: { 'big.bin': data }, kind: 'none' }]);
    await pushImage(registry.url, 'truncated', image, 'v1');
    const layer = image.layers[1]!;
    // every response for the layer ends its connection before the blob's last byte
    proxy.hooks = {
      chunk: (req, chunk, sent) => {
        if (!req.url?.endsWith(layer.digest)) return chunk;
        const from = Number(/^bytes=(\d+)-/.exec(String(req.headers.range ?? ''))?.[1] ?? 0);
        return from + sent + chunk.length >= layer.size ? null : chunk;
      },
    };
    const err = await caught(pull(ctx, graph, `${proxy.host}/truncated:v1`, { retry: fast }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain(`layer ${layer.digest}`);
    expect(proxy.log.filter((l) => l.includes(layer.digest))).toHaveLength(fast.attempts);
    await expectEmptyStore(ctx, graph);
  });

  it('a registry with nothing listening is UNAVAILABLE naming the registry and the reference', async () => {
    const gone = proxy.host;
    await proxy.close();
    const err = await caught(pull(ctx, graph, `${gone}/down:v1`, { retry: fast }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain(`${gone}/down:v1`);
    expect(err.message).toContain(`registry ${gone} unreachable (ECONNREFUSED)`);
    await expectEmptyStore(ctx, graph);
  });
});
