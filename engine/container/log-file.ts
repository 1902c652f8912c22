// The json-file log of one container on disk: appends encoded entries in batches,
// rotates at max-size keeping max-file files (`<log>`, `<log>.1` … oldest last, as
// Docker names them), and hands out consistent snapshots so a reader can read
// what is on disk and then follow what comes next without losing or repeating a line.
//
// Layout: <logPath> is the current file; <logPath>.1 the previous one, up to
// <logPath>.<maxFile-1>. A rotated file is renamed, never truncated, so a reader
// that opened it keeps reading its whole content.
import { EventEmitter } from 'node:events';
import { closeSync, fstatSync, openSync, renameSync, rmSync, write } from 'node:fs';
import { invalidArgument, wrap } from '../errdefs/errors.js';
import { encodeLogLine, type LogEntry } from './json-log.js';

export interface LogFileOptions {
  /** Rotate once the current file holds at least this many bytes; 0 or absent: never. */
  maxSize?: number;
  /** How many files to keep, the current one included (default 1: at rotation the old content is dropped). */
  maxFile?: number;
}

/**
 * One file of a snapshot: an fd open for reading (the caller closes it) and how many bytes of it belong to the
 * snapshot.
 */
export interface SnapshotFile {
  fd: number;
  /** Read up to this offset; undefined: to the end. */
  limit: number | undefined;
}

/**
 * The log as it stands at one instant: the files oldest first, and a promise
 * that resolves once the last write the snapshot includes is on disk. Entries
 * taken for writing after the instant go to the snapshot's subscriber.
 */
export interface LogSnapshot {
  files: SnapshotFile[];
  ready: Promise<void>;
}

interface Pending {
  entry: LogEntry;
  line: string;
  bytes: number;
}

const batchBytes = 1 << 20;

/** The writer of one container's log files (one per container; not shared between processes). */
export class LogFile extends EventEmitter<{ entries: [LogEntry[]]; drain: []; error: [Error] }> {
  private fd: number;
  private size: number;
  private readonly queue: Pending[] = [];
  private queueHead = 0;
  private queued = 0;
  private writing: Promise<void> | undefined;
  private inflightBytes = 0;
  private closed = false;
  private idle: (() => void)[] = [];

  private constructor(
    readonly path: string,
    private readonly maxSize: number,
    private readonly maxFile: number,
  ) {
    super();
    this.fd = -1;
    this.size = 0;
  }

  /** Opens (creates, or appends to) the log at path. INVALID_ARGUMENT for bad limits. */
  static open(path: string, options: LogFileOptions = {}): LogFile {
    const maxSize = options.maxSize ?? 0;
    const maxFile = options.maxFile ?? 1;
    if (!Number.isSafeInteger(maxSize) || maxSize < 0)
      throw invalidArgument(`log ${path}: max-size ${maxSize}: must be a byte count ≥ 0`);
    if (!Number.isSafeInteger(maxFile) || maxFile < 1)
      throw invalidArgument(`log ${path}: max-file ${maxFile}: must be at least 1`);
    const log = new LogFile(path, maxSize, maxFile);
    log.openCurrent();
    return log;
  }

  /** Bytes appended but not yet written. */
  get backlog(): number {
    return this.queued;
  }

  /** Queues entries for writing; they reach disk in order. Never blocks, never throws once open. */
  append(entries: readonly LogEntry[]): void {
    if (this.closed) return;
    for (const entry of entries) {
      const line = encodeLogLine(entry);
      const bytes = Buffer.byteLength(line);
      this.queue.push({ entry, line, bytes });
      this.queued += bytes;
    }
    this.pump();
  }

  /** Resolves once everything appended so far is written (or failed and reported through 'error'). */
  flushed(): Promise<void> {
    if (this.writing === undefined && this.queueHead === this.queue.length) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * Opens every file of the log for reading, the current one limited to what is
   * written or being written now; entries taken for writing from here on are
   * emitted as 'entries' (subscribe before or right after, in the same tick).
   */
  snapshot(): LogSnapshot {
    const files: SnapshotFile[] = [];
    try {
      for (let i = this.maxFile - 1; i >= 1; i--) {
        let fd: number;
        try {
          fd = openSync(`${this.path}.${i}`, 'r');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw err;
        }
        files.push({ fd, limit: undefined });
      }
      files.push({ fd: openSync(this.path, 'r'), limit: this.size + this.inflightBytes });
    } catch (err) {
      for (const f of files) closeSync(f.fd);
      throw wrap(err, `log ${this.path}: open for reading`);
    }
    return { files, ready: this.writing ?? Promise.resolve() };
  }

  /** Writes what is queued, then closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flushed();
    this.closed = true;
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private openCurrent(): void {
    try {
      this.fd = openSync(this.path, 'a', 0o640);
      this.size = fstatSync(this.fd).size;
    } catch (err) {
      throw wrap(err, `log ${this.path}: open`);
    }
  }

  private rotate(): void {
    closeSync(this.fd);
    this.fd = -1;
    if (this.maxFile === 1) {
      rmSync(this.path, { force: true });
    } else {
      rmSync(`${this.path}.${this.maxFile - 1}`, { force: true });
      for (let i = this.maxFile - 2; i >= 1; i--) {
        try {
          renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      renameSync(this.path, `${this.path}.1`);
    }
    this.openCurrent();
  }

  private pump(): void {
    if (this.writing !== undefined || this.closed) return;
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
      for (const resolve of this.idle.splice(0)) resolve();
      return;
    }
    if (this.maxSize > 0 && this.size >= this.maxSize) {
      try {
        this.rotate();
      } catch (err) {
        this.emit('error', wrap(err, `log ${this.path}: rotate`));
        if (this.fd < 0) {
          // Without a file nothing can be written: drop what is queued rather than spin.
          this.drop();
          return;
        }
      }
    }
    // Take lines that fit under max-size (at least one), up to one batch.
    const taken: Pending[] = [];
    let bytes = 0;
    const room = this.maxSize > 0 ? this.maxSize - this.size : Infinity;
    while (this.queueHead < this.queue.length) {
      const next = this.queue[this.queueHead]!;
      if (taken.length > 0 && (bytes + next.bytes > batchBytes || bytes + next.bytes > room)) break;
      taken.push(next);
      bytes += next.bytes;
      this.queue[this.queueHead++] = undefined as unknown as Pending;
    }
    const buffer = Buffer.from(taken.length === 1 ? taken[0]!.line : taken.map((p) => p.line).join(''), 'utf8');
    this.inflightBytes = bytes;
    this.emit(
      'entries',
      taken.map((p) => p.entry),
    );
    const settle = (err: unknown) => {
      // One step: a snapshot never sees the bytes both in size and in flight.
      if (err === undefined) this.size += bytes;
      this.inflightBytes = 0;
      if (err !== undefined) this.emit('error', wrap(err, `log ${this.path}: write`));
      this.queued -= bytes;
      this.writing = undefined;
      if (this.queued < batchBytes) this.emit('drain');
      this.pump();
    };
    this.writing = this.writeAll(buffer).then(() => settle(undefined), settle);
  }

  private drop(): void {
    this.queue.length = 0;
    this.queueHead = 0;
    this.queued = 0;
    this.emit('drain');
    for (const resolve of this.idle.splice(0)) resolve();
  }

  private writeAll(buffer: Buffer): Promise<void> {
    const fd = this.fd;
    return new Promise((resolve, reject) => {
      const step = (offset: number) => {
        write(fd, buffer, offset, buffer.length - offset, null, (err, n) => {
          if (err) reject(err);
          else if (offset + n < buffer.length) step(offset + n);
          else resolve();
        });
      };
      step(0);
    });
  }
}
