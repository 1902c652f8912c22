// Turns a job's synchronous output events into ordered writes on a streamed
// answer: each write waits for the previous one (back-pressure per request, so a
// slow client slows only its own stream), the answer starts on the first write,
// and a client that went away turns later writes into no-ops.
import type { BodyWriter, Reply } from './route-types.js';

/** Bytes queued for one client beyond which a job producing them is asked to wait (waitForRoom). */
export const QUEUE_HIGH_WATER = 1024 * 1024;

export class OrderedWriter {
  private writer: BodyWriter | undefined;
  private tail: Promise<void> = Promise.resolve();
  private failed = false;
  private queued = 0;

  constructor(
    private readonly reply: Reply,
    private readonly contentType: string,
  ) {}

  /** True once the streamed answer started (its status line is out). */
  get started(): boolean {
    return this.writer !== undefined;
  }

  /** Starts the answer now without writing (headers flushed). */
  open(): void {
    if (this.writer === undefined) this.writer = this.reply.stream(this.contentType);
  }

  push(chunk: Buffer | string): void {
    if (this.failed) return;
    this.open();
    const writer = this.writer as BodyWriter;
    const size = chunk.length;
    this.queued += size;
    this.tail = this.tail.then(() =>
      writer.write(chunk).then(
        () => {
          this.queued -= size;
        },
        () => {
          this.queued -= size;
          this.failed = true;
        },
      ),
    );
  }

  /** Resolves at once while the queue is short, else when what is queued went out (a job's waitForRoom). */
  room(): Promise<void> {
    return this.queued > QUEUE_HIGH_WATER ? this.tail : Promise.resolve();
  }

  /** Waits for every write, then ends the answer. */
  async end(): Promise<void> {
    this.open();
    await this.tail;
    this.writer?.end();
  }
}

/** One JSON line of a progress or events stream. */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value)}\r\n`;
}
