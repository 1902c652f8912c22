// The jobs that stream a container's output: logs (the json-file log, followed
// while it runs), attach (live output, input to its stdin) and resize (its pty).
// Output goes out as OutputChunk events; the caller frames them for the wire.
import { conflict, invalidArgument } from '../errdefs/errors.js';
import type { ContainerIO } from '../container/container-io.js';
import type { OutputChunk as IoChunk } from '../container/attach-output.js';
import { formatTimeNs } from '../container/json-log.js';
import { readLogs, secondsToNs } from '../container/log-reader.js';
import type { ContainerRecord } from '../container/record.js';
import type { Context } from '../trace/context.js';
import type { Engine } from './engine.js';
import type { OutputChunk } from './job-map.js';

export interface StreamJobDeps {
  /** Resolves a container reference (id, name, prefix) as Docker does; NOT_FOUND "No such container: ref". */
  container(ref: string): ContainerRecord;
  /** The container's IO hub, opened if needed (an attach before the first start needs it). */
  io(ctx: Context, id: string): Promise<ContainerIO>;
}

/** Docker's default detach sequence for attach with a TTY: ctrl-p, ctrl-q. */
const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** Registers logs, attach and resize on `engine`. */
export function registerStreamJobs(engine: Engine, deps: StreamJobDeps): void {
  engine.register('logs', async (ctx, job) => {
    const a = job.args;
    const rec = deps.container(a.id);
    const io = await deps.io(ctx, rec.id);
    const tail = a.tail === undefined || a.tail === 'all' || a.tail < 0 ? undefined : a.tail;
    const entries = readLogs(
      ctx,
      { logPath: rec.logPath, io },
      {
        follow: a.follow === true,
        stdout: a.stdout !== false,
        stderr: a.stderr !== false,
        ...(a.since !== undefined && a.since > 0 ? { sinceNs: secondsToNs(a.since) } : {}),
        ...(a.until !== undefined && a.until > 0 ? { untilNs: secondsToNs(a.until) } : {}),
        ...(tail !== undefined ? { tail } : {}),
      },
    );
    for await (const e of entries) {
      const chunk: OutputChunk = { stream: e.stream, data: e.data };
      if (a.timestamps === true) chunk.time = formatTimeNs(e.timeNs);
      job.emit(chunk);
      if (a.waitForRoom !== undefined) await a.waitForRoom();
      if (ctx.signal.aborted) break;
    }
  });

  engine.register('attach', async (ctx, job) => {
    const a = job.args;
    const rec = deps.container(a.id);
    const io = await deps.io(ctx, rec.id);
    const stream = a.stream !== false;
    // Attach first, so nothing written while the log is replayed is missed.
    const attachment = stream
      ? io.attach({
          stdin: a.stdin !== undefined,
          stdout: a.stdout !== false,
          stderr: a.stderr !== false,
          signal: ctx.signal,
        })
      : undefined;
    // Armed: the caller may answer its client now (the docker CLI starts the container right after).
    job.emit({ stream: 'stdout', data: Buffer.alloc(0) });
    try {
      if (a.logs === true) {
        for await (const e of readLogs(
          ctx,
          { logPath: rec.logPath, io },
          { stdout: a.stdout !== false, stderr: a.stderr !== false },
        )) {
          job.emit({ stream: e.stream, data: e.data });
          if (a.waitForRoom !== undefined) await a.waitForRoom();
        }
      }
      if (attachment === undefined) return;
      if (a.stdin !== undefined) {
        const target = attachment.stdin;
        const keys = io.tty ? detachSequence(a.detachKeys ?? DEFAULT_DETACH_KEYS) : [];
        pipeInput(a.stdin, target, keys, () => attachment.detach());
      }
      for await (const c of attachment.output) {
        const chunk = c as IoChunk;
        job.emit({ stream: chunk.stream, data: chunk.data });
        if (a.waitForRoom !== undefined) await a.waitForRoom();
      }
    } finally {
      attachment?.detach();
    }
  });

  engine.register('resize', async (ctx, job) => {
    const { id, height, width } = job.args;
    const rec = deps.container(id);
    const io = await deps.io(ctx, rec.id);
    if (!io.running) throw conflict(`Container ${rec.id} is not running`);
    io.resize(height, width);
  });
}

/**
 * Copies the client's input to the container, watching for the detach sequence
 * (only with a TTY): once the client types it, `detach` runs and the rest is
 * dropped. Without a target (no OpenStdin) the input is discarded.
 */
function pipeInput(
  input: NodeJS.ReadableStream,
  target: NodeJS.WritableStream | undefined,
  keys: number[],
  detach: () => void,
): void {
  let matched = 0;
  let done = false;
  input.on('data', (chunk: Buffer) => {
    if (done) return;
    if (keys.length > 0) {
      for (let i = 0; i < chunk.length; i++) {
        matched = chunk[i] === keys[matched] ? matched + 1 : chunk[i] === keys[0] ? 1 : 0;
        if (matched === keys.length) {
          done = true;
          const keep = i + 1 - keys.length;
          if (keep > 0) target?.write(chunk.subarray(0, keep));
          detach();
          return;
        }
      }
    }
    if (target !== undefined && !target.write(chunk)) {
      input.pause();
      target.once('drain', () => input.resume());
    }
  });
  input.on('end', () => {
    if (!done) target?.end();
  });
  input.on('error', () => undefined);
}

/**
 * Docker's detachKeys grammar: comma-separated keys, each a single character or
 * `ctrl-<c>` (ctrl-a … ctrl-z, ctrl-@, ctrl-[, ctrl-\, ctrl-], ctrl-^, ctrl-_).
 * INVALID_ARGUMENT naming the key otherwise.
 */
export function detachSequence(text: string): number[] {
  if (text === '') return [];
  return text.split(',').map((key) => {
    if (key.length === 1) return key.charCodeAt(0);
    const m = /^ctrl-(.)$/.exec(key);
    if (m !== null) {
      const c = m[1]!.toLowerCase();
      if (c >= 'a' && c <= 'z') return c.charCodeAt(0) - 96;
      const special: Record<string, number> = { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 };
      if (special[c] !== undefined) return special[c]!;
    }
    throw invalidArgument(`detach keys ${JSON.stringify(text)}: unknown key ${JSON.stringify(key)}`);
  });
}
