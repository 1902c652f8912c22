// The corpus generator: specs per profile, exact byte budgets, reproducible bytes
// (same seed → same digests, another seed → others), the shapes the spec promises,
// valid OCI layouts (own checks, and skopeo when installed) and the build cache.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError } from '../../engine/errdefs/errors.js';
import { buildCorpus, zstdVersion } from './build-corpus.js';
import type { CorpusImage, CorpusManifest } from './corpus-manifest.js';
import { corpusSpec, defaultImages, imageSpec, type GeneratedLayer } from './corpus-spec.js';
import { debianMirror, hasDebootstrap } from './debian-layer.js';
import { scaleToBudget } from './distributions.js';
import { apportion } from './layer-plan.js';
import { needs, tool, when } from '../../testkit/needs.js';

// A real debootstrap downloads from the Debian mirror: run only when asked for.
const realDebootstrap = process.env.BERTH_CORPUS_DEBOOTSTRAP === '1' && (await hasDebootstrap());

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), `berth-corpus-${process.pid}-`));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function blob(out: string, image: CorpusImage, digest: string): Promise<Buffer> {
  return readFile(join(out, image.layout, 'blobs', 'sha256', digest.slice('sha256:'.length)));
}

/** Regular files (path → size) of a tar, and whiteouts. */
async function tarFiles(
  tar: Buffer,
): Promise<{ files: Map<string, number>; whiteouts: string[]; types: Map<string, string> }> {
  const files = new Map<string, number>();
  const types = new Map<string, string>();
  const whiteouts: string[] = [];
  const ex = extract();
  const done = (async () => {
    for await (const entry of ex) {
      const h = entry.header;
      types.set(h.name.replace(/\/$/, ''), h.type ?? 'file');
      if (h.type === 'file') {
        if (h.name.split('/').pop()?.startsWith('.wh.')) whiteouts.push(h.name);
        else files.set(h.name, h.size ?? 0);
      }
      entry.resume();
    }
  })();
  Readable.from([tar]).pipe(ex);
  await done;
  return { files, whiteouts, types };
}

describe('corpusSpec', () => {
  it('scales quick down and keeps the real sizes for default', () => {
    const quick = corpusSpec('quick');
    const real = corpusSpec('default');
    const files = (s: typeof quick, name: string) =>
      (imageSpec(s, name).layers as GeneratedLayer[]).reduce((a, l) => a + l.files, 0);
    const bytes = (s: typeof quick, name: string) =>
      (imageSpec(s, name).layers as GeneratedLayer[]).reduce((a, l) => a + l.bytes, 0);
    expect(files(quick, 'many-small-files')).toBe(2000);
    expect(files(real, 'many-small-files')).toBe(20_000);
    expect(bytes(real, 'app')).toBeGreaterThan(100 * 2 ** 20);
    expect(bytes(real, 'app')).toBeLessThan(300 * 2 ** 20);
    expect(bytes(quick, 'app')).toBeGreaterThan(15 * 2 ** 20);
    expect(bytes(quick, 'app')).toBeLessThan(25 * 2 ** 20);
    expect(imageSpec(real, 'app').layers.length).toBeGreaterThanOrEqual(4);
    expect(imageSpec(quick, 'deep').layers.length).toBeGreaterThanOrEqual(40);
    expect(imageSpec(real, 'deep').layers.length).toBeGreaterThanOrEqual(40);
  });

  it('refuses an unknown profile or image, naming it', () => {
    expect(() => corpusSpec('huge')).toThrow(/corpus profile "huge"/);
    expect(() => imageSpec(corpusSpec('quick'), 'nope')).toThrow(/corpus image "nope": unknown/);
  });

  it('scaleToBudget hits the budget exactly and keeps the order of sizes', () => {
    const sizes = scaleToBudget([10, 1000, 100, 5], 123_457, 'test');
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(123_457);
    expect(sizes[1]).toBeGreaterThan(sizes[2]);
    expect(sizes[2]).toBeGreaterThan(sizes[0]);
    expect(scaleToBudget([1, 1e9], 2, 't')).toEqual([1, 1]);
    expect(() => scaleToBudget([1, 2, 3], 2, 'layer x')).toThrow(/layer x: 2 bytes cannot hold 3 files/);
  });

  it('apportion splits a count by shares without losing any', () => {
    expect(apportion(10, [1, 1, 1])).toEqual([4, 3, 3]);
    expect(apportion(7, [0.5, 0.5]).reduce((a, b) => a + b, 0)).toBe(7);
  });
});

describe('buildCorpus (quick profile)', () => {
  const images = ['tiny', 'many-small-files', 'app', 'deep'];
  let out: string;
  let corpus: CorpusManifest;
  const log: string[] = [];

  beforeAll(async () => {
    out = tempDir();
    corpus = await buildCorpus({ out, profile: 'quick', seed: 42, images, log: (l) => log.push(l) });
  }, 120_000);

  const image = (name: string) => corpus.images.find((i) => i.name === name) as CorpusImage;

  it('describes every image, its seed, generator and sources in corpus.json', async () => {
    const onDisk = JSON.parse(await readFile(join(out, 'corpus.json'), 'utf8')) as CorpusManifest;
    expect(onDisk).toEqual(corpus);
    expect(corpus.images.map((i) => i.name)).toEqual(images);
    expect(corpus.seed).toBe(42);
    expect(corpus.generatorVersion).toMatch(/^\d+$/);
    expect(corpus.sources.map((s) => s.id)).toContain('zhao2019');
    expect(corpus.totals.layers).toBe(corpus.images.reduce((a, i) => a + i.layers.length, 0));
    for (const i of corpus.images) for (const l of i.layers) expect(l.digest).toBe(l.blobs.gzip?.digest);
  });

  it('gives the shapes the spec asks for', async () => {
    const spec = corpusSpec('quick');
    for (const name of ['many-small-files', 'app', 'deep']) {
      const img = image(name);
      const layers = imageSpec(spec, name).layers as GeneratedLayer[];
      expect(img.layers.length).toBe(layers.length);
      img.layers.forEach((l, i) => {
        expect(l.fileCount).toBe(layers[i].files);
        expect(l.contentBytes).toBe(layers[i].bytes);
        // Tar overhead: a 512-byte header per entry and padding per file, 1 KiB end, 10 KiB records.
        expect(l.uncompressedSize).toBeGreaterThan(layers[i].bytes);
        expect(l.uncompressedSize).toBeLessThan(layers[i].bytes * 1.05 + 2048 * (layers[i].files + 20) + 10240);
      });
    }
    expect(image('app').totals.uncompressedBytes).toBeGreaterThan(18 * 2 ** 20);
    expect(image('app').totals.uncompressedBytes).toBeLessThan(26 * 2 ** 20);
    expect(image('deep').layers.length).toBeGreaterThanOrEqual(40);
    expect(image('tiny').layers).toHaveLength(1);
  });

  it('writes layer tars whose files match the counts and budgets, with whiteouts of earlier files', async () => {
    const msf = image('many-small-files');
    const tar = gunzipSync(await blob(out, msf, msf.layers[0].digest));
    const { files } = await tarFiles(tar);
    expect(files.size).toBe(2000);
    expect([...files.values()].reduce((a, b) => a + b, 0)).toBe(msf.layers[0].contentBytes);
    const deep = image('deep');
    const deleter = deep.layers.findIndex((l) => l.whiteoutCount > 0);
    expect(deleter).toBeGreaterThan(0);
    const { whiteouts } = await tarFiles(await blob(out, deep, deep.layers[deleter].blobs.none!.digest));
    expect(whiteouts).toHaveLength(1);
    const target = (whiteouts[0] as string).replace('.wh.', '');
    const earlier = await Promise.all(
      deep.layers
        .slice(0, deleter)
        .map(async (l) => (await tarFiles(await blob(out, deep, l.blobs.none!.digest))).files),
    );
    expect(earlier.some((f) => f.has(target))).toBe(true);
    const tiny = await tarFiles(await blob(out, image('tiny'), image('tiny').layers[0].blobs.none!.digest));
    expect([...tiny.files.keys()]).toEqual(
      expect.arrayContaining(['bin/true', 'bin/sleep', 'bin/probe', 'etc/passwd']),
    );
  });

  it('draws heavy-tailed file sizes: a tenth of the files hold most of the bytes', async () => {
    const app = image('app');
    const base = app.layers.find((l) => l.role === 'base')!;
    const { files } = await tarFiles(gunzipSync(await blob(out, app, base.digest)));
    const sizes = [...files.values()].sort((a, b) => b - a);
    const top = sizes.slice(0, Math.ceil(sizes.length / 10)).reduce((a, b) => a + b, 0);
    expect(top / base.contentBytes).toBeGreaterThan(0.5);
    const median = sizes[Math.floor(sizes.length / 2)];
    expect(median).toBeLessThan(base.contentBytes / sizes.length);
  });

  it('compresses like real layers: text about 2–6×, incompressible assets not at all', () => {
    const msf = image('many-small-files').layers[0];
    const ratio = msf.uncompressedSize / (msf.blobs.gzip?.size ?? 1);
    expect(ratio).toBeGreaterThan(2);
    expect(ratio).toBeLessThan(6);
    const assets = image('app').layers.find((l) => l.role === 'application')!;
    expect(assets.uncompressedSize / assets.blobs.gzip!.size).toBeLessThan(1.6);
    const base = image('app').layers.find((l) => l.role === 'base')!;
    const baseRatio = base.uncompressedSize / base.blobs.gzip!.size;
    expect(baseRatio).toBeGreaterThan(1.2);
    expect(baseRatio).toBeLessThan(4);
  });

  it('writes gzip with mtime 0 in the header and an uncompressed variant equal to the diffID', async () => {
    for (const img of corpus.images) {
      for (const l of img.layers) {
        const gz = await blob(out, img, l.blobs.gzip!.digest);
        expect(gz.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
        expect(gz.readUInt32LE(4)).toBe(0);
        expect(l.blobs.none?.digest).toBe(l.diffID);
        expect(sha256(gunzipSync(gz))).toBe(l.diffID);
      }
    }
  });

  it('writes a valid OCI image layout per image', async () => {
    for (const img of corpus.images) {
      const dir = join(out, img.layout);
      expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
      const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
      const refs = Object.fromEntries(
        (index.manifests as { digest: string; annotations: Record<string, string> }[]).map((m) => [
          m.annotations['org.opencontainers.image.ref.name'],
          m.digest,
        ]),
      );
      expect(Object.keys(refs).sort()).toEqual(['gzip', 'latest', 'uncompressed']);
      expect(refs.latest).toBe(refs.gzip);
      for (const m of index.manifests) {
        const bytes = await blob(out, img, m.digest);
        expect(sha256(bytes)).toBe(m.digest);
        expect(bytes.length).toBe(m.size);
        const manifest = JSON.parse(bytes.toString());
        expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
        const config = JSON.parse((await blob(out, img, manifest.config.digest)).toString());
        expect(config.rootfs.diff_ids).toEqual(img.layers.map((l) => l.diffID));
        for (const d of [manifest.config, ...manifest.layers]) {
          const b = await blob(out, img, d.digest);
          expect(b.length).toBe(d.size);
          expect(sha256(b)).toBe(d.digest);
        }
      }
    }
  });

  needs(tool('skopeo')).it('is readable by skopeo', () => {
    for (const img of corpus.images) {
      const info = JSON.parse(
        execFileSync('skopeo', ['inspect', `oci:${join(out, img.layout)}:latest`], { encoding: 'utf8' }),
      );
      expect(info.Digest).toBe(img.refs.latest.digest);
      expect(info.Layers).toEqual(img.layers.map((l) => l.digest));
    }
  });

  it('builds byte-identical images from the same seed, and different ones from another seed', async () => {
    const again = await buildCorpus({ out: tempDir(), profile: 'quick', seed: 42, images });
    expect(again.images.map((i) => i.refs)).toEqual(corpus.images.map((i) => i.refs));
    const other = await buildCorpus({
      out: tempDir(),
      profile: 'quick',
      seed: 43,
      images: ['many-small-files', 'deep'],
    });
    for (const img of other.images) {
      expect(img.refs.gzip.digest).not.toBe(image(img.name).refs.gzip.digest);
      expect(img.layers[0].diffID).not.toBe(image(img.name).layers[0].diffID);
    }
  }, 120_000);

  it('reuses cached images and rebuilds only what is missing', async () => {
    const appBlob = join(out, 'app', 'blobs', 'sha256', image('app').layers[0].digest.slice(7));
    const before = (await stat(appBlob)).mtimeMs;
    await rm(join(out, 'deep'), { recursive: true });
    // A leftover of a build that died (no process has this pid) is cleaned away.
    await mkdir(join(out, '.tmp-app-999999999-0badc0de', 'blobs'), { recursive: true });
    await writeFile(join(out, '.corpus.json.999999999.0'), '{"torn');
    const lines: string[] = [];
    const rebuilt = await buildCorpus({ out, profile: 'quick', seed: 42, images, log: (l) => lines.push(l) });
    expect(lines).toEqual(
      expect.arrayContaining(['tiny: cached', 'many-small-files: cached', 'app: cached', 'deep: building']),
    );
    expect((await stat(appBlob)).mtimeMs).toBe(before);
    await expect(stat(join(out, '.tmp-app-999999999-0badc0de'))).rejects.toThrow(/ENOENT/);
    await expect(stat(join(out, '.corpus.json.999999999.0'))).rejects.toThrow(/ENOENT/);
    expect(rebuilt.images.map((i) => i.refs)).toEqual(corpus.images.map((i) => i.refs));
  }, 120_000);

  it('fails on an unknown image or compression, naming it', async () => {
    const err = await buildCorpus({ out: tempDir(), profile: 'quick', images: ['nope'] }).catch((e: unknown) => e);
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toMatch(/corpus image "nope"/);
    await expect(buildCorpus({ out: tempDir(), profile: 'quick', compressions: ['lz4' as never] })).rejects.toThrow(
      /corpus compression "lz4"/,
    );
  });
});

describe('buildCorpus variants', () => {
  needs(tool('zstd')).it('writes zstd layers that decompress to the diffID', async () => {
    expect(await zstdVersion()).toMatch(/\d+\.\d+/);
    const out = tempDir();
    const corpus = await buildCorpus({
      out,
      profile: 'quick',
      seed: 5,
      images: ['tiny'],
      compressions: ['zstd', 'gzip'],
    });
    const img = corpus.images[0];
    expect(corpus.tools.zstd).toBeDefined();
    expect(Object.keys(img.refs).sort()).toEqual(['gzip', 'latest', 'zstd']);
    const z = await blob(out, img, img.layers[0].blobs.zstd!.digest);
    expect(img.layers[0].blobs.zstd!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    expect(sha256(Buffer.from(zstdDecompress(z)))).toBe(img.layers[0].diffID);
    const again = await buildCorpus({
      out: tempDir(),
      profile: 'quick',
      seed: 5,
      images: ['tiny'],
      compressions: ['zstd', 'gzip'],
    });
    expect(again.images[0].refs.zstd).toEqual(img.refs.zstd);
  });

  it('builds the debian image from a cached root filesystem, symlinks and owners kept', async () => {
    // A stand-in for a debootstrap tree in the cache, so no mirror is needed.
    const out = tempDir();
    const rootfs = join(out, '.cache', 'debootstrap-bookworm-minbase', 'rootfs');
    await mkdir(join(rootfs, 'usr', 'bin'), { recursive: true });
    await mkdir(join(rootfs, 'etc'));
    await writeFile(join(rootfs, 'usr', 'bin', 'dash'), 'not really a shell\n', { mode: 0o755 });
    await writeFile(join(rootfs, 'etc', 'debian_version'), '12.0\n');
    await symlink('usr/bin', join(rootfs, 'bin'));
    await writeFile(join(out, '.cache', 'debootstrap-bookworm-minbase', 'fingerprint'), 'sha256:test\n');
    const corpus = await buildCorpus({ out, profile: 'quick', seed: 1, images: ['debian'] });
    const img = corpus.images[0];
    expect(img.inputs['debootstrap/bookworm']).toBe('sha256:test');
    expect(img.layers).toHaveLength(2);
    expect(img.layers[0].fileCount).toBe(2);
    const { files, types } = await tarFiles(await blob(out, img, img.layers[0].blobs.none!.digest));
    expect([...files.keys()].sort()).toEqual(['etc/debian_version', 'usr/bin/dash']);
    expect(types.get('bin')).toBe('symlink');
  });

  it('finds the Debian mirror in deb822 and one-line apt sources, and says when there is none', async () => {
    const apt = tempDir();
    await mkdir(join(apt, 'sources.list.d'));
    await writeFile(
      join(apt, 'sources.list.d', 'a-node.sources'),
      'Types: deb\nURIs: https://deb.nodesource.com/node_20.x\n',
    );
    await expect(debianMirror(apt)).rejects.toThrow(/debian mirror: none found/);
    await writeFile(
      join(apt, 'sources.list.d', 'debian.sources'),
      'Types: deb\nURIs: http://deb.example.org/debian\nSuites: bookworm\n',
    );
    expect(await debianMirror(apt)).toBe('http://deb.example.org/debian');
    await writeFile(join(apt, 'sources.list'), 'deb [arch=amd64] http://mirror.example.net/debian bookworm main\n');
    expect(await debianMirror(apt)).toBe('http://mirror.example.net/debian');
  });

  it('leaves nothing half-written when a build is cancelled mid-image', async () => {
    const out = tempDir();
    const abort = new AbortController();
    const log = (line: string) => {
      if (line.startsWith('app: layer 2/')) abort.abort();
    };
    const err = await buildCorpus({
      out,
      profile: 'quick',
      seed: 8,
      images: ['tiny', 'app'],
      log,
      signal: abort.signal,
    }).catch((e: unknown) => e);
    expect(isBerthError(err, 'CANCELLED')).toBe(true);
    expect((err as Error).message).toMatch(/corpus image app/);
    const names = (await readdir(out)).sort();
    expect(names).toEqual(['.cache', 'corpus.json', 'tiny']);
    const corpus = JSON.parse(await readFile(join(out, 'corpus.json'), 'utf8')) as CorpusManifest;
    expect(corpus.images.map((i) => i.name)).toEqual(['tiny']);
  });

  needs(
    when(
      process.env.BERTH_CORPUS_DEBOOTSTRAP === '1',
      'needs BERTH_CORPUS_DEBOOTSTRAP=1 (downloads from the Debian mirror)',
    ),
    when(realDebootstrap, 'needs debootstrap (apt package debootstrap)'),
  ).it(
    'builds debian from a real debootstrap tree',
    async () => {
      const out = tempDir();
      const corpus = await buildCorpus({ out, profile: 'quick', seed: 1, images: ['debian'] });
      const base = corpus.images[0].layers[0];
      expect(base.fileCount).toBeGreaterThan(3000);
      const { files, types } = await tarFiles(gunzipSync(await blob(out, corpus.images[0], base.digest)));
      expect(files.has('etc/debian_version')).toBe(true);
      expect(types.get('bin')).toBe('symlink');
    },
    600_000,
  );

  it('builds debian only when asked for', () => {
    expect(defaultImages).not.toContain('debian');
  });
});
