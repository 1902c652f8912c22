// The client's reader of Docker's multiplexed stream (attach, logs, exec without
// a TTY): 8-byte headers [stream, 0, 0, 0, size uint32 BE] each followed by that
// many bytes. Frames may arrive split across or packed into any chunks.

export type StreamId = 'stdin' | 'stdout' | 'stderr';

const ids: StreamId[] = ['stdin', 'stdout', 'stderr'];

export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  /** Feeds bytes; returns the complete frames they finish. Throws on a header naming no stream. */
  push(chunk: Buffer): { stream: StreamId; data: Buffer }[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: { stream: StreamId; data: Buffer }[] = [];
    while (this.buf.length >= 8) {
      const stream = ids[this.buf[0] as number];
      if (stream === undefined) throw new Error(`multiplexed stream: unknown stream id ${this.buf[0]}`);
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      frames.push({ stream, data: this.buf.subarray(8, 8 + size) });
      this.buf = this.buf.subarray(8 + size);
    }
    return frames;
  }

  /** Bytes of an unfinished frame left when the stream ended. */
  get pending(): number {
    return this.buf.length;
  }
}
