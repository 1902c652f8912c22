// Builds small, real OCI images for the registry server's tests: a gzipped tar
// layer written with tar-stream, an image config and a manifest, plus a writer of
// an OCI image layout folder that tools such as skopeo can copy from.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

export interface TestBlob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Buffer;
}

export interface TestImage {
  config: TestBlob;
  layers: TestBlob[];
  manifest: TestBlob;
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function blob(mediaType: string, bytes: Buffer | string): TestBlob {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  return { mediaType, digest: sha256(b), size: b.length, bytes: b };
}

export function descriptor(b: TestBlob): { mediaType: string; digest: string; size: number } {
  return { mediaType: b.mediaType, digest: b.digest, size: b.size };
}

/** A tar archive of `files` (path → content), with the end-of-archive padding. */
export async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, content] of Object.entries(files)) p.entry({ name, mode: 0o644, mtime: new Date(0) }, content);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of p as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** An OCI image with one gzipped layer holding `files`; `seed` makes images differ. */
export async function buildImage(
  files: Record<string, string> = { 'hello.txt': 'hello from berth\n' },
  seed = '',
): Promise<TestImage> {
  const tar = await tarOf(files);
  const layer = blob('application/vnd.oci.image.layer.v1.tar+gzip', gzipSync(tar));
  const config = blob(
    'application/vnd.oci.image.config.v1+json',
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2026-01-01T00:00:00Z',
      config: { Cmd: ['/hello'], Labels: { seed } },
      rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
      history: [{ created: '2026-01-01T00:00:00Z', created_by: 'berth test' }],
    }),
  );
  const manifest = blob(
    'application/vnd.oci.image.manifest.v1+json',
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: descriptor(config),
      layers: [descriptor(layer)],
    }),
  );
  return { config, layers: [layer], manifest };
}

/** Every blob of `image`: config, layers, manifest. */
export function imageBlobs(image: TestImage): TestBlob[] {
  return [image.config, ...image.layers, image.manifest];
}

/** An OCI image index listing `entries`, each with its platform. */
export function buildIndex(entries: { image: TestImage; architecture: string }[]): TestBlob {
  return blob(
    'application/vnd.oci.image.index.v1+json',
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: entries.map((e) => ({
        ...descriptor(e.image.manifest),
        platform: { architecture: e.architecture, os: 'linux' },
      })),
    }),
  );
}

/** Writes `blobs` as an OCI image layout at `dir` whose index.json names `top` as `tag`. */
export async function writeOciLayout(dir: string, blobs: TestBlob[], top: TestBlob, tag: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const b of [...blobs, top]) {
    await writeFile(join(dir, 'blobs', 'sha256', b.digest.slice('sha256:'.length)), b.bytes);
  }
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...descriptor(top), annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
}
