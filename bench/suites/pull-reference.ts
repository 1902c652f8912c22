// The physical references of a pull: what hashing, decompressing and extracting the
// same layer blobs costs with no engine — one pipeline reading them from disk in order
// (one core's limit), and one pipeline per layer fetched from the same registry with
// every core busy (the host's limit), the floor a pull is judged against.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { PassThrough, Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { dataLoss, wrap } from '../../engine/errdefs/errors.js';
import type { Compression, CorpusImage } from '../corpus/index.js';

/** The method sentence of the reference target. */
export const REFERENCE_METHOD =
  'One sample: for each layer in order, one process (the bench) reads the blob from the corpus layout on disk, hashes it with Node crypto sha256 ' +
  '(checked against the digest), decompresses it (gzip: Node zlib gunzip in-process; zstd: a `zstd -dc` child; uncompressed: nothing) and pipes the tar ' +
  'into GNU `tar -x --ignore-zeros --numeric-owner -p -C DIR` on the same backing store (--ignore-zeros makes it read to the end of the stream); DIR is deleted after the sample (untimed). Whiteouts are extracted as plain files.';

/** The blob file of a layer's variant in the corpus layout; throws naming the layer when that variant was not built. */
export function layerBlobPath(
  corpusDir: string,
  image: CorpusImage,
  layerIndex: number,
  compression: Compression,
): { path: string; digest: string; size: number } {
  const layer = image.layers[layerIndex];
  const blob = layer?.blobs[compression];
  if (layer === undefined || blob === undefined)
    throw new Error(`corpus image ${image.name}: layer ${layerIndex} has no ${compression} blob`);
  return {
    path: join(corpusDir, image.layout, 'blobs', 'sha256', blob.digest.slice('sha256:'.length)),
    digest: blob.digest,
    size: blob.size,
  };
}

/**
 * Extracts every layer of `image` (variant `compression`) into `dir`, in order.
 * Fails DATA_LOSS naming the layer on a digest mismatch, else with the failing
 * tool's stderr. Cost: read + sha256 + decompress + tar -x of the whole image.
 */
export async function referenceExtract(
  corpusDir: string,
  image: CorpusImage,
  compression: Compression,
  dir: string,
): Promise<void> {
  for (let i = 0; i < image.layers.length; i++) {
    const blob = layerBlobPath(corpusDir, image, i, compression);
    await extractOne(createReadStream(blob.path), { digest: blob.digest, compression, dir });
  }
}

/**
 * One layer: `source` (the compressed blob) hashed, decompressed and piped into `tar -x -C dir`. Fails DATA_LOSS
 * naming the layer on a digest mismatch, else with the failing step (the tool's stderr).
 */
async function extractOne(
  source: Readable,
  layer: { digest: string; compression: Compression; dir: string },
): Promise<void> {
  const subject = `reference layer ${layer.digest}`;
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  // --ignore-zeros: tar reads the stream to its end instead of stopping at the end-of-archive blocks (which would
  // close the pipe early)
  const tar = spawnTool('tar', ['-x', '--ignore-zeros', '--numeric-owner', '-p', '-C', layer.dir], subject);
  const steps: Promise<unknown>[] = [];
  if (layer.compression === 'zstd') {
    const zstd = spawnTool('zstd', ['-dc', '-q'], subject);
    steps.push(
      pipeline(source, tap, zstd.child.stdin as Writable),
      pipeline(zstd.child.stdout!, tar.child.stdin as Writable),
      zstd.done,
    );
  } else {
    const decompress = layer.compression === 'gzip' ? createGunzip() : new PassThrough();
    steps.push(pipeline(source, tap, decompress, tar.child.stdin as Writable));
  }
  steps.push(tar.done);
  const results = await Promise.allSettled(steps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw wrap(failed.reason, subject);
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== layer.digest) throw dataLoss(`${subject}: digest mismatch (got ${got})`);
}

/** A child process with its stdin piped, stdout piped, and a promise of a clean exit (else its stderr). */
function spawnTool(cmd: string, args: string[], subject: string): { child: ChildProcess; done: Promise<void> } {
  const child = spawn(cmd, args, { stdio: ['pipe', cmd === 'tar' ? 'ignore' : 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 2000) stderr += d.toString();
  });
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(wrap(err, `${subject}: ${cmd}`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${subject}: ${cmd} exited with ${code ?? signal}: ${stderr.trim()}`));
    });
  });
  done.catch(() => undefined);
  return { child, done };
}

/** The method sentence of the parallel reference target. */
export const PARALLEL_REFERENCE_METHOD =
  'One sample: every layer of the image fetched from the same berth-registry process over 127.0.0.1 (a plain node:http GET of the blob, ' +
  'no retries, no store), hashed with Node crypto sha256 (checked against the digest), decompressed (gzip: Node zlib gunzip, on the threadpool; ' +
  'zstd: a `zstd -dc` child; uncompressed: nothing) and piped into GNU `tar -x --ignore-zeros --numeric-owner -p` into a folder of its own per layer ' +
  '(as a graphdriver keeps one folder per layer), as many layers at once as the host has cores, so every core is busy: the limit of this host, not of ' +
  'one core. The folders are on the same backing store and deleted after the sample (untimed). Whiteouts are extracted as plain files.';

/** The blob URL of a layer on a registry: `http://HOST/v2/REPO/blobs/DIGEST`. */
export function blobURL(registryURL: string, repository: string, digest: string): string {
  return `${registryURL.replace(/\/$/, '')}/v2/${repository}/blobs/${digest}`;
}

/** A GET of `url` whose body is streamed; fails naming the subject with the status when it is not 200. */
function getBody(url: string, subject: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, (res) => {
      if (res.statusCode === 200) {
        resolve(res);
        return;
      }
      res.resume();
      reject(new Error(`${subject}: GET ${url}: HTTP ${res.statusCode}`));
    });
    req.on('error', (err) => reject(wrap(err, `${subject}: GET ${url}`)));
  });
}

/**
 * Fetches every layer of `image` (variant `compression`) from `registryURL` under `repository`, hashes, decompresses
 * and extracts each into `dir/<index>`, `concurrency` layers at once (default: the host's cores). Fails DATA_LOSS
 * naming the layer on a digest mismatch, else naming the layer and the failing step. Cost: the whole image's
 * download + sha256 + decompress + tar -x, spread over the cores.
 */
export async function referenceFetchParallel(
  registryURL: string,
  repository: string,
  image: CorpusImage,
  compression: Compression,
  dir: string,
  concurrency: number = os.availableParallelism(),
): Promise<void> {
  const layers = image.layers.map((layer, i) => {
    const blob = layer.blobs[compression];
    if (blob === undefined) throw new Error(`corpus image ${image.name}: layer ${i} has no ${compression} blob`);
    return { index: i, digest: blob.digest };
  });
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let l = layers[next++]; l !== undefined; l = layers[next++]) {
      const out = join(dir, String(l.index));
      await mkdir(out);
      await extractOne(await getBody(blobURL(registryURL, repository, l.digest), `reference layer ${l.digest}`), {
        digest: l.digest,
        compression,
        dir: out,
      });
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(concurrency, layers.length)) }, () => worker());
  const results = await Promise.allSettled(workers);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}
