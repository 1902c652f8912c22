// What one attached client reads: the container's output chunks as they come, with
// a bounded backlog. The container never waits for a client: when a client falls
// more than `limit` bytes behind, its oldest chunks are dropped (counted in
// `dropped`); the log is written independently and loses nothing.
import { Readable } from 'node:stream';
import type { StreamName } from './json-log.js';

export interface OutputChunk {
  stream: StreamName;
  data: Buffer;
}

export class AttachOutput extends Readable {
  private readonly queue: OutputChunk[] = [];
  private head = 0;
  private bytes = 0;
  private wanted = false;
  private ended = false;
  /** Bytes dropped because the reader fell behind. */
  dropped = 0;

  constructor(private readonly limit: number) {
    super({ objectMode: true, highWaterMark: 16 });
  }

  /** Bytes waiting for the reader. */
  get backlog(): number {
    return this.bytes;
  }

  /** Offers a chunk; never blocks. */
  offer(chunk: OutputChunk): void {
    if (this.ended || this.destroyed) return;
    this.queue.push(chunk);
    this.bytes += chunk.data.length;
    while (this.bytes > this.limit && this.queue.length - this.head > 1) {
      const old = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as OutputChunk;
      this.bytes -= old.data.length;
      this.dropped += old.data.length;
    }
    if (this.wanted) this.flush();
  }

  /** No more output: the reader gets what is queued, then the end. */
  finish(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.wanted || this.head === this.queue.length) this.flush();
  }

  override _read(): void {
    this.wanted = true;
    this.flush();
  }

  private flush(): void {
    while (this.head < this.queue.length) {
      const chunk = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as OutputChunk;
      this.bytes -= chunk.data.length;
      if (!this.push(chunk)) {
        this.wanted = false;
        break;
      }
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      if (this.ended) this.push(null);
    }
  }
}
