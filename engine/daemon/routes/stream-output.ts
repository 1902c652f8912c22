// The shared plumbing of attach, exec start and logs: a job's OutputChunk events
// written as Docker's 8-byte framed stream (raw bytes with a TTY), and for the
// hijacked ones the client's input handed to the job as a stream of its own.
import { PassThrough, type Duplex } from 'node:stream';
import { encodeFrame } from '../../container/stream-frames.js';
import type { OutputChunk } from '../../jobs/job-map.js';
import { QUEUE_HIGH_WATER } from '../ordered-writer.js';
import type { Reply } from '../route-types.js';

export const RAW_STREAM = 'application/vnd.docker.raw-stream';
export const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream';

/** The bytes of one chunk on the wire: framed unless `tty`, with `time ` in front when asked. */
export function chunkBytes(chunk: OutputChunk, tty: boolean, timestamps = false): Buffer {
  const data =
    timestamps && chunk.time !== undefined ? Buffer.concat([Buffer.from(`${chunk.time} `), chunk.data]) : chunk.data;
  if (data.length === 0) return data;
  return tty ? data : encodeFrame(chunk.stream, data);
}

/**
 * A hijacked session: the connection is taken over on `arm()` (the job's first
 * event, or its end); output is written in order with back-pressure from the
 * socket; the client's input flows into `stdin` once armed.
 */
export class HijackSession {
  readonly stdin = new PassThrough();
  private conn: Duplex | undefined;
  private tail: Promise<void> = Promise.resolve();
  private gone = false;
  private queued = 0;

  constructor(
    private readonly reply: Reply,
    private readonly tty: boolean,
  ) {}

  arm(): Duplex {
    if (this.conn !== undefined) return this.conn;
    const conn = this.reply.hijack(RAW_STREAM);
    this.conn = conn;
    conn.on('error', () => {
      this.gone = true;
    });
    conn.on('close', () => {
      this.gone = true;
      this.stdin.end();
    });
    conn.pipe(this.stdin);
    return conn;
  }

  write(chunk: OutputChunk): void {
    const conn = this.arm();
    const bytes = chunkBytes(chunk, this.tty);
    if (bytes.length === 0 || this.gone) return;
    const size = bytes.length;
    this.queued += size;
    this.tail = this.tail.then(() =>
      new Promise<void>((resolve) => {
        if (this.gone || conn.destroyed) {
          resolve();
          return;
        }
        if (conn.write(bytes)) resolve();
        else {
          const done = (): void => {
            conn.removeListener('drain', done);
            conn.removeListener('close', done);
            resolve();
          };
          conn.once('drain', done);
          conn.once('close', done);
        }
      }).then(() => {
        this.queued -= size;
      }),
    );
  }

  /** Resolves at once while the queue is short, else when what is queued went out (a job's waitForRoom). */
  room(): Promise<void> {
    return this.queued > QUEUE_HIGH_WATER ? this.tail : Promise.resolve();
  }

  /** Flushes what was written, then ends the client's side of the connection. */
  async end(): Promise<void> {
    const conn = this.arm();
    await this.tail;
    if (!conn.destroyed) conn.end();
  }
}
