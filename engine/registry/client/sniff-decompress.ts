// A decompressing Transform that picks gzip, zstd or none from the first bytes of
// the stream (the magic decides; a layer's media type may say `tar` for gzip bytes).
import { Transform, type Duplex, type TransformCallback } from 'node:stream';
import { decompressStream, detectCompression } from '../../archive/apply-layer.js';

/** Bytes needed to tell the formats apart (xz's magic is the longest). */
const SNIFF_BYTES = 6;

/**
 * A Transform from a compressed (or plain) layer blob to its tar. Errors of the
 * inner decompressor (corrupt data, NOT_IMPLEMENTED bzip2/xz) error this stream.
 * Backpressure from the reader pauses the decompressor.
 */
export function sniffingDecompressor(): Transform {
  let head: Buffer[] = [];
  let headLen = 0;
  let inner: Duplex | undefined;
  let out: Transform;
  const start = (): void => {
    const first = Buffer.concat(head);
    head = [];
    inner = decompressStream(detectCompression(first));
    inner.on('data', (d: Buffer) => {
      if (!out.push(d)) inner!.pause();
    });
    inner.on('error', (err) => out.destroy(err));
    if (first.length > 0) innerWrite(first);
  };
  let pendingWrite: Promise<void> = Promise.resolve();
  const innerWrite = (chunk: Buffer): void => {
    if (!inner!.write(chunk)) pendingWrite = new Promise((resolve) => inner!.once('drain', resolve));
  };
  out = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      if (inner === undefined) {
        head.push(chunk);
        headLen += chunk.length;
        if (headLen >= SNIFF_BYTES) {
          try {
            start();
          } catch (err) {
            cb(err as Error);
            return;
          }
        }
        pendingWrite.then(() => cb(), cb);
        return;
      }
      innerWrite(chunk);
      pendingWrite.then(() => cb(), cb);
    },
    flush(cb: TransformCallback) {
      try {
        if (inner === undefined) start();
      } catch (err) {
        cb(err as Error);
        return;
      }
      inner!.once('end', () => cb());
      inner!.once('error', (err) => cb(err));
      inner!.end();
    },
    read(size: number) {
      inner?.resume();
      Transform.prototype._read.call(this, size);
    },
  });
  return out;
}
