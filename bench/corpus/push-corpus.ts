// Makes a built corpus pullable from a registry: a small OCI distribution push
// client (HEAD to skip blobs already there, one monolithic POST ?digest= per blob,
// PUT of each manifest under its ref name). Given a registry root folder instead of
// a URL, it starts berth's embedded registry on 127.0.0.1 for the push and stops it.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { invalidArgument, unavailable, wrap } from '../../engine/errdefs/errors.js';
import { createRegistryServer } from '../../engine/registry/server/index.js';
import { readCorpusManifest, type CorpusImage } from './corpus-manifest.js';
import type { BlobRef } from './write-layer.js';

export interface PushOptions {
  /** Images to push; every image of corpus.json when absent. */
  images?: readonly string[];
  /** Repository name prefix: image `app` goes to `<prefix>/app`; `berth-corpus` by default. */
  repositoryPrefix?: string;
  log?: (line: string) => void;
}

export interface PushedRef {
  image: string;
  repository: string;
  tag: string;
  digest: string;
}

/** Where to push: a registry base URL (`http://127.0.0.1:5000`) or an embedded registry's root folder. */
export type PushTarget = string | { root: string };

/**
 * Pushes every ref of every (selected) image of the corpus at `corpusDir` to
 * `target`, as `<prefix>/<image>:<ref>`. Idempotent: blobs the registry already
 * has are skipped (HEAD), manifests are re-put. Only plain HTTP is spoken (the
 * registries berth pushes to are local). Fails with UNAVAILABLE naming the request
 * when the registry refuses one, INVALID_ARGUMENT for an unknown image.
 * Cost: one upload per blob not yet present, streamed from disk.
 */
export async function pushCorpusToRegistry(
  corpusDir: string,
  target: PushTarget,
  options: PushOptions = {},
): Promise<PushedRef[]> {
  if (typeof target !== 'string') {
    const server = await createRegistryServer({ root: target.root, addr: '127.0.0.1:0' });
    try {
      return await pushCorpusToRegistry(corpusDir, server.url, options);
    } finally {
      await server.close();
    }
  }
  const base = new URL(target);
  if (base.protocol !== 'http:') throw invalidArgument(`registry ${target}: only http:// URLs are supported`);
  const manifest = await readCorpusManifest(corpusDir);
  const wanted = options.images ?? manifest.images.map((i) => i.name);
  const prefix = options.repositoryPrefix ?? 'berth-corpus';
  const pushed: PushedRef[] = [];
  for (const name of wanted) {
    const image = manifest.images.find((i) => i.name === name);
    if (!image)
      throw invalidArgument(
        `corpus ${corpusDir}: no image ${JSON.stringify(name)} (built: ${manifest.images.map((i) => i.name).join(', ')})`,
      );
    const repository = prefix === '' ? image.name : `${prefix}/${image.name}`;
    pushed.push(...(await pushImage(base, corpusDir, image, repository, options.log)));
  }
  return pushed;
}

async function pushImage(
  base: URL,
  corpusDir: string,
  image: CorpusImage,
  repository: string,
  log?: (line: string) => void,
): Promise<PushedRef[]> {
  const blobsDir = join(corpusDir, image.layout, 'blobs', 'sha256');
  const blobs = new Map<string, BlobRef>();
  blobs.set(image.config.digest, image.config);
  for (const layer of image.layers) for (const b of Object.values(layer.blobs)) if (b) blobs.set(b.digest, b);
  for (const blob of blobs.values()) {
    const path = `/v2/${repository}/blobs/${blob.digest}`;
    const head = await send(base, 'HEAD', path);
    if (head.status === 200) continue;
    const file = join(blobsDir, blob.digest.slice('sha256:'.length));
    const res = await send(base, 'POST', `/v2/${repository}/blobs/uploads/?digest=${encodeURIComponent(blob.digest)}`, {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.size) },
      file,
    });
    if (res.status !== 201)
      throw unavailable(
        `push ${repository} blob ${blob.digest}: registry answered ${res.status}: ${res.body.slice(0, 300)}`,
      );
    log?.(`${repository}: pushed ${blob.digest} (${blob.size} bytes)`);
  }
  const pushed: PushedRef[] = [];
  for (const [tag, ref] of Object.entries(image.refs)) {
    const bytes = await readFile(join(blobsDir, ref.digest.slice('sha256:'.length))).catch((err: unknown) => {
      throw wrap(err, `push ${repository}:${tag}: read manifest ${ref.digest}`);
    });
    const res = await send(base, 'PUT', `/v2/${repository}/manifests/${tag}`, {
      headers: { 'Content-Type': ref.mediaType, 'Content-Length': String(bytes.length) },
      body: bytes,
    });
    if (res.status !== 201)
      throw unavailable(`push ${repository}:${tag}: registry answered ${res.status}: ${res.body.slice(0, 300)}`);
    const digest = res.headers['docker-content-digest'];
    if (typeof digest === 'string' && digest !== ref.digest)
      throw unavailable(`push ${repository}:${tag}: registry stored ${digest}, expected ${ref.digest}`);
    pushed.push({ image: image.name, repository, tag, digest: ref.digest });
    log?.(`${repository}:${tag} → ${ref.digest}`);
  }
  return pushed;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request; the body is a buffer or a file streamed from disk. */
function send(
  base: URL,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer; file?: string } = {},
): Promise<Answer> {
  const subject = `registry ${base.host}: ${method} ${path}`;
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      { host: base.hostname.replace(/^\[|\]$/g, ''), port: base.port || 80, method, path, headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', (err) => reject(wrap(err, subject)));
      },
    );
    req.on('error', (err) => reject(wrap(err, subject, 'UNAVAILABLE')));
    if (options.file !== undefined) {
      const stream = createReadStream(options.file);
      stream.on('error', (err) => {
        req.destroy();
        reject(wrap(err, subject));
      });
      stream.pipe(req);
    } else {
      req.end(options.body);
    }
  });
}
