// The IO hub of one container: takes its process's stdout/stderr pipes (or its pty
// master with a TTY), writes every line to the json-file log, fans the output out
// to attached clients without ever letting a slow one hold the container back, and
// feeds the container's stdin from an attached client when OpenStdin is set.
//
// Only the log applies backpressure: when the disk falls more than a few MiB
// behind, reading from the container pauses (as Docker's log copier blocks), so
// no line is ever dropped from the log. Attached clients each have their own
// bounded backlog (AttachOutput) and lose their oldest output instead.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import tty from 'node:tty';
import { failedPrecondition, invalidArgument, wrap } from '../errdefs/errors.js';
import type { CreateOptions, ContainerProcess } from '../execdriver/execdriver.js';
import type { Context } from '../trace/context.js';
import type { Logger } from '../trace/logger.js';
import { native } from '../../native/index.js';
import { AttachOutput, type OutputChunk } from './attach-output.js';
import { wallClockNs, type LogEntry, type StreamName } from './json-log.js';
import { LogFile, type LogSnapshot } from './log-file.js';

export type { OutputChunk } from './attach-output.js';

export interface ContainerIOOptions {
  /** The json-file log (Docker: containers/<id>/<id>-json.log). Its directory is created. */
  logPath: string;
  /** Log rotation (HostConfig.LogConfig max-size in bytes, max-file); absent: one file, never rotated. */
  maxSize?: number;
  maxFile?: number;
  /** Config.Tty: the process gets a pty; output is one raw stream (stdout). */
  tty: boolean;
  /** Config.OpenStdin: stdin stays open for attached clients. */
  openStdin: boolean;
  /** Config.StdinOnce: the container's stdin closes when the first attached client's stdin ends. */
  stdinOnce?: boolean;
  /** Bytes an attached client may fall behind before its oldest output is dropped (default 1 MiB). */
  attachBacklog?: number;
}

export interface AttachOptions {
  /** Feed this client's input to the container (needs OpenStdin). */
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  /** Detaches the client when aborted (a hung-up connection). */
  signal?: AbortSignal;
}

export interface Attachment {
  /**
   * The container's output from now on, as OutputChunk objects ({stream, data});
   * ends when the process's output ends or the client detaches. With a TTY every
   * chunk is 'stdout'. Frame it with stream-frames.ts for the wire.
   */
  output: Readable;
  /**
   * Where the client's input goes (present when asked for and OpenStdin is set); ending it does not close the
   * container's stdin unless StdinOnce.
   */
  stdin: Writable | undefined;
  /** Bytes of output this client lost because it read too slowly. */
  readonly dropped: number;
  /** Stops delivering output and input to this client. Idempotent. */
  detach(): void;
}

/** Partial lines are flushed to the log as an entry of their own beyond this (Docker's 16 KiB message limit). */
const maxLine = 16 * 1024;
/** Reading from the container pauses while the log's backlog is above this. */
const logHighWater = 8 << 20;

interface Pending {
  out: AttachOutput;
  filter: Set<StreamName>;
  input: PassThrough | undefined;
}

interface Source {
  stream: StreamName;
  readable: Readable;
  partial: Buffer[];
  partialBytes: number;
  ended: Promise<void>;
}

export class ContainerIO {
  /** Each attached client and the streams it asked for. */
  private readonly attachments = new Map<AttachOutput, Set<StreamName>>();
  /** Attached before a process was connected: they join the next one. */
  private readonly pending = new Set<Pending>();
  private sources: Source[] = [];
  private stdinTarget: Writable | undefined;
  private master: number | undefined;
  private masterStream: tty.ReadStream | undefined;
  private done: Promise<void> = Promise.resolve();
  private stdinClaimed = false;
  private closed = false;
  private paused = false;

  private constructor(
    private readonly options: ContainerIOOptions,
    /** The log writer: LogReader reads through its snapshots while the container runs. */
    readonly log: LogFile,
    logger: Logger,
  ) {
    log.on('drain', () => this.resumeSources());
    // A write failure (ENOSPC) must not stop the container or the daemon: it is logged, the reader sees the gap.
    let reported = 0;
    log.on('error', (err) => {
      if (reported++ < 10) logger.warn('container log write failed', { log: options.logPath, error: err.message });
    });
  }

  /** Opens the log (appending to an existing one, as after a restart). INVALID_ARGUMENT for bad limits. */
  static async open(ctx: Context, options: ContainerIOOptions): Promise<ContainerIO> {
    const limit = options.attachBacklog ?? 1 << 20;
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw invalidArgument(`log ${options.logPath}: attach backlog ${limit}: must be ≥ 1`);
    try {
      // one directory (the container's, there already after create): a sync call, not a thread-pool trip
      mkdirSync(dirname(options.logPath), { recursive: true });
    } catch (err) {
      throw wrap(err, `log ${options.logPath}: create directory`);
    }
    return new ContainerIO(
      options,
      LogFile.open(options.logPath, { maxSize: options.maxSize, maxFile: options.maxFile }),
      ctx.logger,
    );
  }

  /** A process is connected and its output has not ended yet. */
  get running(): boolean {
    return this.sources.length > 0 && !this.closed;
  }

  get tty(): boolean {
    return this.options.tty;
  }

  /** What to pass as the execdriver's CreateOptions.stdio for this container's process. */
  stdio(): NonNullable<CreateOptions['stdio']> {
    if (this.options.tty) return 'terminal';
    return [this.options.openStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'];
  }

  /**
   * Takes over the process's output (and its stdin pipe or pty master: ContainerIO
   * owns them from here on and closes them). Call once per process, right after
   * create; a restarted container connects its new process once the previous one
   * drained. FAILED_PRECONDITION when the IO is closed or still connected.
   */
  connect(proc: ContainerProcess): void {
    if (this.closed) throw failedPrecondition(`container ${proc.id}: io: closed`);
    if (this.sources.length > 0) throw failedPrecondition(`container ${proc.id}: io: still connected to a process`);
    this.stdinClaimed = false;
    if (this.options.tty) {
      if (proc.terminal === undefined)
        throw invalidArgument(`container ${proc.id}: io: a TTY container needs its pty master`);
      this.master = proc.terminal;
      const stream = new tty.ReadStream(proc.terminal);
      this.masterStream = stream;
      this.stdinTarget = this.options.openStdin ? stream : undefined;
      this.sources = [this.source('stdout', stream)];
    } else {
      if (proc.stdout === undefined || proc.stderr === undefined) {
        throw invalidArgument(
          `container ${proc.id}: io: needs the stdout and stderr pipes (stdio from ContainerIO.stdio())`,
        );
      }
      this.stdinTarget = this.options.openStdin ? proc.stdin : undefined;
      proc.stdin?.on('error', () => undefined); // EPIPE once the container closed its stdin
      this.sources = [this.source('stdout', proc.stdout), this.source('stderr', proc.stderr)];
    }
    for (const p of this.pending) this.join(p);
    this.pending.clear();
    const sources = this.sources;
    this.done = Promise.all(sources.map((s) => s.ended)).then(async () => {
      await this.log.flushed();
      for (const a of this.attachments.keys()) a.finish();
      this.attachments.clear();
      this.releaseProcess();
    });
  }

  /**
   * Attaches a client: output from now on (stdout and/or stderr, both by default),
   * and its input to the container's stdin when asked and OpenStdin is set. Made
   * while no process runs (a created or stopped container), the attachment waits
   * for the next process (`docker run` attaches before it starts) and ends with
   * that process's output; detach() or the signal ends it earlier. After close()
   * it ends at once.
   */
  attach(options: AttachOptions = {}): Attachment {
    const out = new AttachOutput(this.options.attachBacklog ?? 1 << 20);
    const filter = new Set<StreamName>();
    if (options.stdout ?? true) filter.add('stdout');
    if ((options.stderr ?? true) && !this.options.tty) filter.add('stderr');
    const input = options.stdin === true && this.options.openStdin && !this.closed ? new PassThrough() : undefined;
    input?.on('error', () => undefined);
    const pending: Pending = { out, filter, input };
    if (this.closed) out.finish();
    else if (this.sources.length > 0) this.join(pending);
    else this.pending.add(pending);

    let detached = false;
    const detach = () => {
      if (detached) return;
      detached = true;
      this.pending.delete(pending);
      this.attachments.delete(out);
      out.finish();
      input?.destroy();
      options.signal?.removeEventListener('abort', detach);
    };
    if (options.signal?.aborted) detach();
    options.signal?.addEventListener('abort', detach, { once: true });
    out.on('close', detach);
    return {
      output: out,
      stdin: input,
      get dropped() {
        return out.dropped;
      },
      detach,
    };
  }

  /** Makes an attachment live on the connected process: output from now on, its input to the process's stdin. */
  private join(p: Pending): void {
    this.attachments.set(p.out, p.filter);
    const target = this.stdinTarget;
    const input = p.input;
    if (input === undefined) return;
    if (target === undefined) {
      input.resume(); // nowhere to go: discard
      return;
    }
    const once = this.options.stdinOnce === true && !this.stdinClaimed;
    this.stdinClaimed = true;
    input.on('data', (chunk: Buffer) => {
      if (target.destroyed || target.writableEnded) return;
      if (!target.write(chunk)) {
        input.pause();
        target.once('drain', () => input.resume());
      }
    });
    input.on('end', () => {
      // Docker: with StdinOnce the container's stdin closes when this client's input ends.
      if (once && !this.options.tty && !target.writableEnded) target.end();
    });
  }

  /**
   * Sets the pty's window size (TTY containers; a no-op without a running process). INVALID_ARGUMENT for bad sizes or
   * without a TTY.
   */
  resize(height: number, width: number): void {
    if (!this.options.tty) throw invalidArgument(`log ${this.options.logPath}: resize: the container has no TTY`);
    for (const [name, v] of [
      ['height', height],
      ['width', width],
    ] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 65535) throw invalidArgument(`resize: ${name} ${v}: must be 0-65535`);
    }
    if (this.master === undefined) return;
    try {
      native().ptyResize(this.master, height, width);
    } catch (err) {
      throw wrap(err, 'resize');
    }
  }

  /** Resolves once the current process's output ended and every line of it is in the log. */
  drained(): Promise<void> {
    return this.done;
  }

  /** A consistent view of the log for a reader (see LogFile.snapshot). */
  snapshot(): LogSnapshot {
    return this.log.snapshot();
  }

  /** Detaches everyone, stops reading, writes what is buffered and closes the log. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sources) s.readable.destroy();
    for (const s of this.sources) this.flushPartial(s);
    for (const a of this.attachments.keys()) a.finish();
    this.attachments.clear();
    for (const p of this.pending) p.out.finish();
    this.pending.clear();
    this.releaseProcess();
    await this.log.close();
  }

  private releaseProcess(): void {
    this.sources = [];
    this.stdinTarget?.destroy();
    this.stdinTarget = undefined;
    // The tty stream owns the master fd and closes it with its handle.
    this.masterStream?.destroy();
    this.masterStream = undefined;
    this.master = undefined;
  }

  private source(stream: StreamName, readable: Readable): Source {
    const s: Source = { stream, readable, partial: [], partialBytes: 0, ended: Promise.resolve() };
    s.ended = new Promise<void>((resolve) => {
      const finish = () => {
        this.flushPartial(s);
        resolve();
      };
      readable.on('data', (chunk: Buffer) => this.onData(s, chunk));
      readable.once('end', finish);
      readable.once('close', finish);
      // EIO on a pty master once the container's side closed: the output's end, not a failure.
      readable.on('error', () => undefined);
    });
    return s;
  }

  private onData(s: Source, chunk: Buffer): void {
    const timeNs = wallClockNs();
    const out: OutputChunk = { stream: s.stream, data: chunk };
    for (const [a, streams] of this.attachments) {
      if (streams.has(s.stream)) a.offer(out);
    }
    const entries: LogEntry[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl + 1);
      if (s.partialBytes > 0) {
        s.partial.push(piece);
        entries.push({ stream: s.stream, data: Buffer.concat(s.partial), timeNs });
        s.partial = [];
        s.partialBytes = 0;
      } else {
        entries.push({ stream: s.stream, data: piece, timeNs });
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      let rest = chunk.subarray(start);
      while (s.partialBytes + rest.length >= maxLine) {
        const take = maxLine - s.partialBytes;
        s.partial.push(rest.subarray(0, take));
        entries.push({ stream: s.stream, data: Buffer.concat(s.partial), timeNs });
        s.partial = [];
        s.partialBytes = 0;
        rest = rest.subarray(take);
      }
      if (rest.length > 0) {
        s.partial.push(Buffer.from(rest));
        s.partialBytes += rest.length;
      }
    }
    if (entries.length > 0) this.log.append(entries);
    if (!this.paused && this.log.backlog > logHighWater) {
      this.paused = true;
      for (const src of this.sources) src.readable.pause();
    }
  }

  private flushPartial(s: Source): void {
    if (s.partialBytes === 0) return;
    this.log.append([{ stream: s.stream, data: Buffer.concat(s.partial), timeNs: wallClockNs() }]);
    s.partial = [];
    s.partialBytes = 0;
  }

  private resumeSources(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const src of this.sources) src.readable.resume();
  }
}
