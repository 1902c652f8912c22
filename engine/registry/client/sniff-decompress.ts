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
    if (inner!.write(chunk)) return;
    // a decompressor that fails or closes instead of draining must not leave the write waiting
    const d = inner!;
    pendingWrite = new Promise((resolve, reject) => {
      const settle = (err?: Error): void => {
        d.off('drain', onDrain);
        d.off('close', onClose);
        d.off('error', settle);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onDrain = (): void => settle();
      const onClose = (): void => settle(new Error('layer decompressor closed'));
      d.on('drain', onDrain);
      d.on('close', onClose);
      d.on('error', settle);
    });
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
    // the decompressor (a zlib or zstd handle) goes with the stream, whoever destroys it
    destroy(err: Error | null, cb: (error: Error | null) => void) {
      inner?.destroy();
      cb(err);
    },
  });
  return out;
}
