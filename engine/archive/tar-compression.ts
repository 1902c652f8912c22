// Layer blobs arrive gzip- or zstd-compressed (or plain); the applier takes an
// uncompressed tar, so callers detect the format from the first bytes and put a
// decompressing stream in front. gzip goes through Node's zlib, zstd through the
// system's libzstd from the native core (on the threadpool, like zlib), or,
// where libzstd.so.1 cannot be loaded, through fzstd (pure JS, several times slower).
import { createRequire } from 'node:module';
import { Duplex, Transform, type TransformCallback } from 'node:stream';
import type { Decompress } from 'fzstd';
import { native } from '../../native/index.js';
import { invalidArgument, notImplemented } from '../errdefs/errors.js';

export type Compression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

let zlibModule: typeof import('node:zlib') | undefined;

/** node:zlib, loaded with the first gzip stream: a daemon that never handled one does not hold it. */
export function zlib(): typeof import('node:zlib') {
  return (zlibModule ??= createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib'));
}

/**
 * Output chunk of the gunzip stream. zlib's default (16 KiB) means one threadpool
 * round trip and one JS callback per 16 KiB of tar, and as many small writes
 * downstream; 1 MiB makes them rare (the pull suite measures the difference).
 */
export const GUNZIP_CHUNK = 1 << 20;

/** The compression of a blob from its magic bytes (at least 6 bytes for xz). Pure; never throws. */
export function detectCompression(firstBytes: Uint8Array): Compression {
  const b = firstBytes;
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return 'zstd';
  if (b.length >= 3 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68) return 'bzip2';
  if (
    b.length >= 6 &&
    b[0] === 0xfd &&
    b[1] === 0x37 &&
    b[2] === 0x7a &&
    b[3] === 0x58 &&
    b[4] === 0x5a &&
    b[5] === 0x00
  )
    return 'xz';
  return 'none';
}

/**
 * A stream that decompresses `kind` (gzip through zlib, zstd through libzstd or
 * fzstd, see zstdDecoderInfo); 'none' passes bytes through. bzip2 and xz fail
 * NOT_IMPLEMENTED. Corrupt or truncated input makes the stream error with
 * INVALID_ARGUMENT.
 */
export function decompressStream(kind: Compression): Duplex {
  switch (kind) {
    case 'none':
      return new Transform({ transform: (chunk, _enc, cb) => cb(null, chunk) });
    case 'gzip':
      return zlib().createGunzip({ chunkSize: GUNZIP_CHUNK });
    case 'zstd':
      return zstdDecoderInfo().kind === 'libzstd' ? libzstdStream() : fzstdStream();
    default:
      throw notImplemented(`layer decompression ${kind}: not supported (gzip and zstd are)`);
  }
}

let zstdKind: { kind: 'libzstd' | 'fzstd'; why?: string } | undefined;

/** Which zstd decoder this process uses, and why not libzstd when it is fzstd. Loads libzstd once. */
export function zstdDecoderInfo(): { kind: 'libzstd' | 'fzstd'; why?: string } {
  if (zstdKind === undefined) {
    let why: string | undefined;
    try {
      why = native().zstdLoad();
    } catch (err) {
      why = err instanceof Error ? err.message : String(err);
    }
    zstdKind = why === undefined ? { kind: 'libzstd' } : { kind: 'fzstd', why };
  }
  return zstdKind;
}

/** What one zstdDecode call yields at most before it returns (native OUTPUT_CAP). */
const ZSTD_OUTPUT_CAP = 8 << 20;

/**
 * libzstd's streaming decoder behind an async generator: each input chunk is
 * decoded on the threadpool, and output is yielded only as fast as the reader
 * takes it (a highly compressed chunk is decoded 8 MiB at a time). The stream
 * must end on a frame boundary, else it is truncated.
 */
export function libzstdStream(): Duplex {
  const n = native();
  return Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    const dec = n.zstdDecoder();
    let hint = 1;
    try {
      for await (const chunk of source) {
        let rest = chunk;
        for (;;) {
          const r = await n.zstdDecode(dec, rest).catch((err: unknown) => {
            throw invalidArgument(`zstd stream: ${(err as Error).message.replace(/^zstd: /, '')}`, { cause: err });
          });
          // a call that read and wrote nothing (an empty chunk, a drained decoder) says nothing of frame ends
          if (r.consumed > 0 || r.chunks.length > 0) hint = r.hint;
          let produced = 0;
          for (const c of r.chunks) {
            produced += c.length;
            yield c;
          }
          rest = rest.subarray(r.consumed);
          if (rest.length === 0 && produced < ZSTD_OUTPUT_CAP) break;
        }
      }
      if (hint !== 0) throw invalidArgument('zstd stream: truncated (input ended inside a frame)');
    } finally {
      n.zstdFree(dec);
    }
  });
}

let fzstdModule: Promise<typeof import('fzstd')> | undefined;

/**
 * The pure-JS fallback (fzstd), used where libzstd cannot be loaded. fzstd is loaded
 * with the first chunk, so a process that never decodes zstd this way never holds it.
 */
export function fzstdStream(): Transform {
  let dec: Decompress | undefined;
  const out: Transform = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      decoder().then((d) => push(d, chunk, false, cb), cb);
    },
    flush(cb: TransformCallback) {
      decoder().then((d) => push(d, new Uint8Array(0), true, cb), cb);
    },
  });
  const decoder = async (): Promise<Decompress> => {
    if (dec === undefined) {
      const { Decompress } = await (fzstdModule ??= import('fzstd'));
      // fzstd may reuse its window buffer: copy before handing the bytes on.
      dec ??= new Decompress((data) => out.push(Buffer.from(data)));
    }
    return dec;
  };
  const push = (d: Decompress, chunk: Uint8Array, final: boolean, cb: TransformCallback): void => {
    try {
      d.push(chunk, final);
      cb();
    } catch (err) {
      cb(invalidArgument(`zstd stream: ${(err as Error).message}`, { cause: err }));
    }
  };
  return out;
}
