// The physical reference of a pull: what reading the same layer blobs from disk,
// hashing, decompressing and extracting them costs with no registry, no store and
// no protocol — the floor a pull's throughput is judged against.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Transform, type Writable } from 'node:stream';
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
    const subject = `reference layer ${blob.digest}`;
    const hash = createHash('sha256');
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    // --ignore-zeros: tar reads the stream to its end instead of stopping at the end-of-archive blocks (which would
    // close the pipe early)
    const tar = spawnTool('tar', ['-x', '--ignore-zeros', '--numeric-owner', '-p', '-C', dir], subject);
    const steps: Promise<unknown>[] = [];
    if (compression === 'zstd') {
      const zstd = spawnTool('zstd', ['-dc', '-q'], subject);
      steps.push(
        pipeline(createReadStream(blob.path), tap, zstd.child.stdin as Writable),
        pipeline(zstd.child.stdout!, tar.child.stdin as Writable),
        zstd.done,
      );
    } else {
      const decompress = compression === 'gzip' ? createGunzip() : new PassThrough();
      steps.push(pipeline(createReadStream(blob.path), tap, decompress, tar.child.stdin as Writable));
    }
    steps.push(tar.done);
    const results = await Promise.allSettled(steps);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw wrap(failed.reason, subject);
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== blob.digest) throw dataLoss(`${subject}: digest mismatch (got ${got})`);
  }
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
