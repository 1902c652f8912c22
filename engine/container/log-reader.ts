// Reads a container's json-file log: the files on disk (rotated ones first), with
// tail, since/until and stream filters, and with follow the entries written from
// then on until the container's output ends — while the container runs (through
// its ContainerIO's snapshot, so no line is lost or repeated across a rotation) or
// after it exited (files only).
import { closeSync, fstatSync, openSync, read } from 'node:fs';
import { promisify } from 'node:util';
import { invalidArgument, wrap } from '../errdefs/errors.js';
import type { Context } from '../trace/context.js';
import type { ContainerIO } from './container-io.js';
import { decodeLogLine, type LogEntry } from './json-log.js';
import type { SnapshotFile } from './log-file.js';

const readAsync = promisify(read);

export interface LogReadOptions {
  /** Keep reading new entries until the container's output ends (or ctx is cancelled). */
  follow?: boolean;
  /** Which streams (both by default). */
  stdout?: boolean;
  stderr?: boolean;
  /** Only entries at or after this time (ns since the epoch). */
  sinceNs?: bigint;
  /** Stop at the first entry after this time (ns since the epoch). */
  untilNs?: bigint;
  /** Only the last N lines of the log (counted before the other filters, as Docker does); absent: all. */
  tail?: number;
}

export interface LogSource {
  /** The current file; rotated ones are <logPath>.1, .2 … (older). */
  logPath: string;
  /** The container's IO while it is loaded (running or not); needed for follow. */
  io?: ContainerIO;
}

/**
 * The log's entries, oldest first. Cancelling ctx ends a follow (the generator
 * returns); a file that cannot be opened fails naming it. Torn lines (a crash in
 * the middle of a write) are skipped.
 */
export async function* readLogs(
  ctx: Context,
  source: LogSource,
  options: LogReadOptions = {},
): AsyncGenerator<LogEntry> {
  const tail = options.tail;
  if (tail !== undefined && (!Number.isSafeInteger(tail) || tail < 0))
    throw invalidArgument(`logs ${source.logPath}: tail ${tail}: must be a line count ≥ 0`);
  const want = (e: LogEntry) =>
    (e.stream === 'stdout' ? options.stdout !== false : options.stderr !== false) &&
    (options.sinceNs === undefined || e.timeNs >= options.sinceNs);
  const past = (e: LogEntry) => options.untilNs !== undefined && e.timeNs > options.untilNs;

  // Live entries are buffered from the instant of the snapshot until the files are read.
  const io = source.io;
  const following = options.follow === true && io !== undefined && io.running;
  const live: LogEntry[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const onEntries = (entries: LogEntry[]) => {
    for (const e of entries) live.push(e);
    wake?.();
  };
  let files: SnapshotFile[];
  let ready: Promise<void> = Promise.resolve();
  if (io !== undefined) {
    const snap = io.snapshot();
    files = snap.files;
    ready = snap.ready;
    if (following) {
      io.log.on('entries', onEntries);
      void io.drained().then(() => {
        ended = true;
        wake?.();
      });
    }
  } else {
    files = openLogFiles(source.logPath);
  }
  const onAbort = () => wake?.();
  ctx.signal.addEventListener('abort', onAbort);
  try {
    await ready;
    let stop = false;
    // With a tail only the end of the log is read: from where its last `tail` lines start.
    const from =
      tail === undefined
        ? { index: 0, offset: 0 }
        : tail === 0
          ? { index: files.length, offset: 0 }
          : await tailStart(files, tail, source.logPath);
    outer: for (let i = from.index; i < files.length; i++) {
      for await (const e of fileEntries(files[i]!, source.logPath, i === from.index ? from.offset : 0)) {
        if (past(e)) {
          stop = true;
          break outer;
        }
        if (want(e)) yield e;
      }
    }
    closeAll(files);
    files = [];
    if (!following || stop) return;
    for (;;) {
      while (live.length > 0) {
        const e = live.shift()!;
        if (past(e)) return;
        if (want(e)) yield e;
      }
      if (ended || ctx.signal.aborted) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    io?.log.off('entries', onEntries);
    closeAll(files);
  }
}

/** Opens the log's files oldest first (rotated ones, then the current); a missing current file is an empty log. */
function openLogFiles(logPath: string): SnapshotFile[] {
  const files: SnapshotFile[] = [];
  try {
    const rotated: number[] = [];
    for (let i = 1; ; i++) {
      try {
        rotated.push(openSync(`${logPath}.${i}`, 'r'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
        throw err;
      }
    }
    for (const fd of rotated.reverse()) files.push({ fd, limit: undefined });
    try {
      files.push({ fd: openSync(logPath, 'r'), limit: undefined });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  } catch (err) {
    closeAll(files);
    throw wrap(err, `logs ${logPath}: open`);
  }
  return files;
}

function closeAll(files: SnapshotFile[]): void {
  for (const f of files) {
    try {
      closeSync(f.fd);
    } catch {
      // closed already
    }
  }
  files.length = 0;
}

/**
 * Where the last `n` lines of the log start (file index, byte offset), found by
 * reading backwards from the end: the n-th newline before the log's final one.
 * The whole log when it has fewer lines.
 */
async function tailStart(
  files: SnapshotFile[],
  n: number,
  logPath: string,
): Promise<{ index: number; offset: number }> {
  const buf = Buffer.alloc(64 * 1024);
  let newlines = 0;
  let last = true; // the log's last byte: a newline there ends the last line, it starts none
  for (let i = files.length - 1; i >= 0; i--) {
    const f = files[i]!;
    let pos: number;
    try {
      pos = f.limit ?? fstatSync(f.fd).size;
    } catch (err) {
      throw wrap(err, `logs ${logPath}: stat`);
    }
    while (pos > 0) {
      const len = Math.min(buf.length, pos);
      pos -= len;
      let n0: number;
      try {
        ({ bytesRead: n0 } = await readAsync(f.fd, buf, 0, len, pos));
      } catch (err) {
        throw wrap(err, `logs ${logPath}: read`);
      }
      for (let j = n0 - 1; j >= 0; j--) {
        if (buf[j] === 0x0a && !last && ++newlines === n) return { index: i, offset: pos + j + 1 };
        last = false;
      }
    }
  }
  return { index: 0, offset: 0 };
}

/** The entries of one file from `start` up to its limit. */
async function* fileEntries(file: SnapshotFile, logPath: string, start = 0): AsyncGenerator<LogEntry> {
  const buf = Buffer.alloc(256 * 1024);
  let position = start;
  let carry: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  for (;;) {
    const room = file.limit === undefined ? buf.length : Math.min(buf.length, file.limit - position);
    if (room <= 0) break;
    let n: number;
    try {
      ({ bytesRead: n } = await readAsync(file.fd, buf, 0, room, position));
    } catch (err) {
      throw wrap(err, `logs ${logPath}: read`);
    }
    if (n === 0) break;
    position += n;
    const chunk = carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const entry = decodeLogLine(chunk.toString('utf8', start, nl));
      if (entry !== undefined) yield entry;
      start = nl + 1;
    }
    carry = Buffer.from(chunk.subarray(start));
  }
  if (carry.length > 0) {
    const entry = decodeLogLine(carry.toString('utf8'));
    if (entry !== undefined) yield entry;
  }
}

/** A LogEntry's time for the API (RFC 3339 with nine fraction digits). */
export { formatTimeNs } from './json-log.js';

/** Unix seconds (possibly fractional, as the API's since/until) to ns since the epoch. */
export function secondsToNs(seconds: number): bigint {
  if (!Number.isFinite(seconds)) throw invalidArgument(`logs: time ${seconds}: not a number of seconds`);
  const whole = Math.floor(seconds);
  return BigInt(whole) * 1_000_000_000n + BigInt(Math.round((seconds - whole) * 1e9));
}
