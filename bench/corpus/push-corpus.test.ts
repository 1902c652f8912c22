// Pushing a built corpus into berth's embedded registry on 127.0.0.1 over HTTP, and
// reading manifests and blobs back by tag; pushing into a registry root folder.
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryServer, type RegistryServer } from '../../engine/registry/server/index.js';
import { buildCorpus } from './build-corpus.js';
import type { CorpusManifest } from './corpus-manifest.js';
import { pushCorpusToRegistry } from './push-corpus.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('pushCorpusToRegistry', () => {
  const dirs: string[] = [];
  const temp = () => {
    const d = mkdtempSync(join(tmpdir(), `berth-corpus-push-${process.pid}-`));
    dirs.push(d);
    return d;
  };
  let out: string;
  let corpus: CorpusManifest;
  let server: RegistryServer | undefined;

  beforeAll(async () => {
    out = temp();
    corpus = await buildCorpus({ out, profile: 'quick', seed: 3, images: ['tiny', 'deep'] });
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('pushes every ref over HTTP and the registry serves the same manifests and blobs', async () => {
    server = await createRegistryServer({ root: temp(), addr: '127.0.0.1:0' });
    const pushed = await pushCorpusToRegistry(out, server.url);
    expect(pushed.map((p) => `${p.repository}:${p.tag}`).sort()).toEqual(
      [
        'berth-corpus/deep:gzip',
        'berth-corpus/deep:latest',
        'berth-corpus/deep:uncompressed',
        'berth-corpus/tiny:gzip',
        'berth-corpus/tiny:latest',
        'berth-corpus/tiny:uncompressed',
      ].sort(),
    );
    for (const image of corpus.images) {
      for (const [tag, ref] of Object.entries(image.refs)) {
        const res = await fetch(`${server.url}/v2/berth-corpus/${image.name}/manifests/${tag}`, {
          headers: { Accept: ref.mediaType },
        });
        expect(res.status).toBe(200);
        const bytes = Buffer.from(await res.arrayBuffer());
        expect(sha256(bytes)).toBe(ref.digest);
        expect(res.headers.get('docker-content-digest')).toBe(ref.digest);
      }
      const layer = image.layers[image.layers.length - 1];
      const res = await fetch(`${server.url}/v2/berth-corpus/${image.name}/blobs/${layer.digest}`);
      expect(res.status).toBe(200);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(layer.digest);
    }
    // A second push finds every blob present and re-puts the manifests.
    const again = await pushCorpusToRegistry(out, server.url, { images: ['tiny'] });
    expect(again.map((p) => p.digest)).toEqual(pushed.filter((p) => p.image === 'tiny').map((p) => p.digest));
  });

  it('pushes into a registry root folder through a temporary embedded registry', async () => {
    const root = temp();
    const pushed = await pushCorpusToRegistry(out, { root }, { images: ['tiny'], repositoryPrefix: 'bench' });
    expect(pushed.every((p) => p.repository === 'bench/tiny')).toBe(true);
    const index = JSON.parse(await readFile(join(root, 'repositories', 'bench', 'tiny', '_oci', 'index.json'), 'utf8'));
    const tags = Object.fromEntries(
      index.manifests.map((m: { digest: string; annotations?: Record<string, string> }) => [
        m.annotations?.['org.opencontainers.image.ref.name'],
        m.digest,
      ]),
    );
    const tiny = corpus.images.find((i) => i.name === 'tiny')!;
    expect(tags.latest).toBe(tiny.refs.latest.digest);
    expect(tags.uncompressed).toBe(tiny.refs.uncompressed.digest);
  });

  it('fails for an image the corpus does not hold, naming it', async () => {
    await expect(pushCorpusToRegistry(out, 'http://127.0.0.1:9', { images: ['app'] })).rejects.toThrow(
      /no image "app"/,
    );
  });
});
