// Streams a layer plan into a tar once and fans the bytes out to every requested
// variant: uncompressed, gzip (zlib, fixed level, mtime 0 in the header) and zstd
// (the `zstd` CLI, single-threaded). Each variant is hashed as it is written and
// renamed into the layout's blobs when complete; nothing is held whole in memory.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack, type Pack } from 'tar-stream';
import { invalidArgument, wrap } from '../../engine/errdefs/errors.js';
import { DigestingStream } from '../../engine/graph/digest.js';
import { fileContent, type TextPool } from './content.js';
import type { LayerPlan, PlanEntry } from './layer-plan.js';

export const compressions = ['gzip', 'zstd', 'none'] as const;
export type Compression = (typeof compressions)[number];

export const layerMediaTypes: Record<Compression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

/** The fixed modification time of every entry (2024-01-01T00:00:00Z). */
export const entryMtime = new Date('2024-01-01T00:00:00Z');
/** gzip level; part of the generator's identity (another level gives other digests). */
export const gzipLevel = 6;
/** zstd level. */
export const zstdLevel = 3;

export interface BlobRef {
  mediaType: string;
  digest: string;
  size: number;
}

export interface WrittenLayer {
  diffID: string;
  uncompressedSize: number;
  blobs: Partial<Record<Compression, BlobRef>>;
}

export interface WriteLayerOptions {
  /** The layout's `blobs/sha256` folder. */
  blobsDir: string;
  /** A folder on the same filesystem for files being written. */
  tmpDir: string;
  compressions: readonly Compression[];
  pool: TextPool;
  /** Names the layer uniquely (seed/image/index): file contents are keyed by it. */
  contentKey: string;
  /** Aborting stops the write between entries (CANCELLED); temp files are removed. */
  signal?: AbortSignal;
}

interface Sink {
  compression: Compression;
  input: Writable;
  done: Promise<void>;
  digest: () => string;
  size: () => number;
  tmp: string;
}

/**
 * Writes the plan's tar in every requested compression and moves each into
 * `blobsDir` under its digest. Idempotent (the same plan gives the same blobs).
 * On failure every temp file is removed and the error names the layer. Cost:
 * one pass over the layer's bytes, compression included; memory: a few chunks.
 */
export async function writeLayer(plan: LayerPlan, options: WriteLayerOptions): Promise<WrittenLayer> {
  const subject = `corpus layer ${options.contentKey}`;
  if (options.compressions.length === 0) throw invalidArgument(`${subject}: no compression requested`);
  const tarHash = createHash('sha256');
  let tarBytes = 0;
  const sinks: Sink[] = [];
  const tar = pack();
  try {
    for (const c of options.compressions) {
      const sink = openSink(c, join(options.tmpDir, `${process.pid}-${options.contentKey.replaceAll('/', '_')}.${c}`));
      sink.done.catch(() => undefined); // awaited below; a sink failing early must not go unhandled meanwhile
      sinks.push(sink);
    }
    const produce = addEntries(tar, plan.entries, options);
    const consume = (async () => {
      for await (const chunk of tar as AsyncIterable<Buffer>) {
        tarHash.update(chunk);
        tarBytes += chunk.length;
        await Promise.all(sinks.map((s) => (s.input.write(chunk) ? undefined : once(s.input, 'drain'))));
      }
      for (const s of sinks) s.input.end();
      await Promise.all(sinks.map((s) => s.done));
    })();
    await Promise.all([produce, consume]);
    const blobs: Partial<Record<Compression, BlobRef>> = {};
    for (const s of sinks) {
      const digest = s.digest();
      await rename(s.tmp, join(options.blobsDir, digest.slice('sha256:'.length)));
      blobs[s.compression] = { mediaType: layerMediaTypes[s.compression], digest, size: s.size() };
    }
    return { diffID: `sha256:${tarHash.digest('hex')}`, uncompressedSize: tarBytes, blobs };
  } catch (err) {
    tar.destroy();
    for (const s of sinks) s.input.destroy();
    await Promise.allSettled(sinks.map((s) => s.done));
    await Promise.all(sinks.map((s) => rm(s.tmp, { force: true })));
    throw wrap(err, subject);
  }
}

/** Adds every entry to the tar, waiting for each to be consumed (backpressure). */
async function addEntries(tar: Pack, entries: readonly PlanEntry[], options: WriteLayerOptions): Promise<void> {
  let index = 0;
  for (const e of entries) {
    options.signal?.throwIfAborted();
    const header = {
      name: e.type === 'directory' ? `${e.path}/` : e.path,
      type: e.type,
      mode: e.mode,
      size: e.type === 'file' ? e.size : 0,
      mtime: entryMtime,
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      uname: (e.uid ?? 0) === 0 ? 'root' : '',
      gname: (e.gid ?? 0) === 0 ? 'root' : '',
      ...(e.type === 'symlink' ? { linkname: e.linkname } : {}),
    };
    let entry!: Writable;
    const done = new Promise<void>((resolve, reject) => {
      entry = tar.entry(header, (err) => (err ? reject(err) : resolve())) as unknown as Writable;
    });
    done.catch(() => undefined); // awaited below; this only marks it handled meanwhile
    if (e.type === 'file' && e.size > 0) {
      const chunks: AsyncIterable<Buffer> | Iterable<Buffer> =
        e.data !== undefined
          ? [e.data]
          : e.source !== undefined
            ? (createReadStream(e.source) as AsyncIterable<Buffer>)
            : fileContent(e.kind ?? 'text', e.size, `${options.contentKey}/${index}`, options.pool);
      let written = 0;
      for await (const chunk of chunks) {
        written += chunk.length;
        if (!entry.write(chunk)) await once(entry, 'drain');
      }
      if (written !== e.size)
        throw invalidArgument(`entry ${e.path}: ${written} bytes, expected ${e.size} (did the source change?)`);
    }
    entry.end();
    await done;
    index++;
  }
  tar.finalize();
}

function openSink(compression: Compression, tmp: string): Sink {
  const file: WriteStream = createWriteStream(tmp);
  const hashing = new DigestingStream('sha256');
  if (compression === 'none') {
    return {
      compression,
      input: hashing,
      done: pipeline(hashing, file),
      digest: () => hashing.digest(),
      size: () => hashing.bytes,
      tmp,
    };
  }
  if (compression === 'gzip') {
    const gzip = createGzip({ level: gzipLevel });
    return {
      compression,
      input: gzip,
      done: pipeline(gzip, hashing, file),
      digest: () => hashing.digest(),
      size: () => hashing.bytes,
      tmp,
    };
  }
  const child = spawn('zstd', ['-q', `-${zstdLevel}`, '-T1', '-c', '--no-progress'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(wrap(err, 'zstd')));
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`zstd exited with ${code}: ${stderr.trim()}`)),
    );
  });
  const done = Promise.all([pipeline(child.stdout as Readable, hashing, file), exited]).then(() => undefined);
  return { compression, input: child.stdin, done, digest: () => hashing.digest(), size: () => hashing.bytes, tmp };
}
