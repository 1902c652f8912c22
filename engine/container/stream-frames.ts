// Docker's stream multiplexing for attach, logs and exec without a TTY: each chunk
// is preceded by an 8-byte header [stream, 0, 0, 0, size (uint32 big-endian)],
// stream 0 stdin, 1 stdout, 2 stderr. With a TTY the stream is raw bytes.
import { Transform, type TransformCallback } from 'node:stream';
import { invalidArgument } from '../errdefs/errors.js';
import type { OutputChunk } from './attach-output.js';

export type FrameStream = 'stdin' | 'stdout' | 'stderr';

const streamIds: Record<FrameStream, number> = { stdin: 0, stdout: 1, stderr: 2 };
const streamNames: FrameStream[] = ['stdin', 'stdout', 'stderr'];
const maxFrame = 0xffffffff;

/** The 8-byte header for a frame of `size` bytes. */
function frameHeader(stream: FrameStream, size: number): Buffer {
  const header = Buffer.alloc(8);
  header[0] = streamIds[stream];
  header.writeUInt32BE(size, 4);
  return header;
}

/** One framed chunk (header + data); empty data gives no frame. */
export function encodeFrame(stream: FrameStream, data: Buffer): Buffer {
  if (data.length === 0) return Buffer.alloc(0);
  if (data.length > maxFrame) throw invalidArgument(`stream frame: ${data.length} bytes exceed the 4 GiB frame limit`);
  return Buffer.concat([frameHeader(stream, data.length), data]);
}

/**
 * OutputChunk objects in, bytes out: framed without a TTY, the raw data with one
 * (what attach, logs and exec start write to the hijacked connection).
 */
export function frameEncoder(tty: boolean): Transform {
  return new Transform({
    writableObjectMode: true,
    transform(chunk: OutputChunk, _enc: BufferEncoding, cb: TransformCallback) {
      if (chunk.data.length === 0) {
        cb();
        return;
      }
      if (tty) cb(null, chunk.data);
      else cb(null, encodeFrame(chunk.stream, chunk.data));
    },
  });
}

export interface DecodedFrame {
  stream: FrameStream;
  data: Buffer;
}

/**
 * Bytes in, DecodedFrame objects out (a client reading a multiplexed stream). A
 * header with an unknown stream fails INVALID_ARGUMENT; a stream that ends inside
 * a frame fails too.
 */
export function frameDecoder(): Transform {
  let pending: Buffer = Buffer.alloc(0);
  return new Transform({
    readableObjectMode: true,
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let offset = 0;
      while (pending.length - offset >= 8) {
        const id = pending[offset]!;
        if (id > 2 || pending[offset + 1] !== 0 || pending[offset + 2] !== 0 || pending[offset + 3] !== 0) {
          cb(invalidArgument(`stream frame: bad header ${pending.subarray(offset, offset + 8).toString('hex')}`));
          return;
        }
        const size = pending.readUInt32BE(offset + 4);
        if (pending.length - offset - 8 < size) break;
        this.push({
          stream: streamNames[id]!,
          data: Buffer.from(pending.subarray(offset + 8, offset + 8 + size)),
        } satisfies DecodedFrame);
        offset += 8 + size;
      }
      pending = offset === 0 ? pending : pending.subarray(offset);
      cb();
    },
    flush(cb: TransformCallback) {
      if (pending.length > 0)
        cb(invalidArgument(`stream frame: the stream ended inside a frame (${pending.length} bytes left)`));
      else cb();
    },
  });
}
