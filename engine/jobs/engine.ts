// The Engine: every task of the daemon is a named job run through it (Docker 1.0's
// engine/job.go, typed). A handler is registered under a name; `job()` runs it with
// typed args, logs `+job name(args)` and `-job name(args) = OK (0)` / `= ERR (CODE)`,
// makes it a span (module `jobs`), hands it an output channel for progress events
// and cancels it through the caller's ctx.signal (a client that hangs up aborts it).
import {
  BerthError,
  cancelled,
  conflict,
  ErrorCode,
  isBerthError,
  notFound,
  unavailable,
  wrap,
} from '../errdefs/errors.js';
import { throwIfCancelled, type Context } from '../trace/context.js';
import { traced } from '../trace/span.js';
import type { JobMap } from './job-map.js';

/** The shape of a job table: name → its args, result and output event types. */
export type JobSpecs = { [name: string]: { args: unknown; result: unknown; event: unknown } };

export type JobStatus = 'running' | 'ok' | 'err';

/** One run of a job, as its handler sees it. */
export interface Job<A = unknown, E = unknown> {
  readonly id: string;
  readonly name: string;
  readonly args: A;
  readonly status: JobStatus;
  /** Sends an event on the job's output channel (to the caller's onEvent); never throws. */
  emit(event: E): void;
}

export type JobHandler<S extends JobSpecs, N extends keyof S> = (
  ctx: Context,
  job: Job<S[N]['args'], S[N]['event']>,
) => Promise<S[N]['result']>;

export interface JobOptions<E> {
  /** Receives the job's output events, in order. An exception thrown here is logged, not raised. */
  onEvent?: (event: E) => void;
}

/** A running job, as `running()` lists it. */
export interface JobInfo {
  id: string;
  name: string;
  summary: string;
  startedAt: number;
}

class RunningJob<A, E> implements Job<A, E> {
  status: JobStatus = 'running';
  readonly startedAt = Date.now();

  constructor(
    readonly id: string,
    readonly name: string,
    readonly args: A,
    readonly summary: string,
    private readonly ctx: Context,
    private readonly onEvent: ((event: E) => void) | undefined,
  ) {}

  emit(event: E): void {
    if (this.onEvent === undefined || this.status !== 'running') return;
    try {
      this.onEvent(event);
    } catch (err) {
      this.ctx.logger.warn(`job ${this.name}: event listener failed`, {
        job: this.id,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
}

const SUMMARY_KEYS = [
  'id',
  'name',
  'reference',
  'image',
  'network',
  'containerId',
  'execId',
  'source',
  'repo',
  'tag',
  'signal',
  'condition',
  'spec',
  'serveraddress',
];
const MAX_SUMMARY = 120;

/**
 * The args of a job as its log line shows them: a string as is; of an object, the
 * identifying fields (id, name, reference, …) in that order; truncated.
 */
export function summarizeArgs(args: unknown): string {
  let text: string;
  if (args === undefined || args === null) text = '';
  else if (typeof args !== 'object') text = String(args);
  else {
    const a = args as Record<string, unknown>;
    const parts: string[] = [];
    for (const key of SUMMARY_KEYS) {
      const v = a[key];
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
        parts.push(parts.length === 0 && (key === 'id' || key === 'reference') ? String(v) : `${key}=${v}`);
    }
    text = parts.join(', ');
  }
  return text.length > MAX_SUMMARY ? `${text.slice(0, MAX_SUMMARY - 1)}…` : text;
}

export class Engine<S extends JobSpecs = JobMap> {
  private readonly handlers = new Map<keyof S, JobHandler<S, keyof S>>();
  private readonly active = new Map<string, RunningJob<unknown, unknown>>();
  private readonly idle = new Set<() => void>();
  private nextId = 1;
  private closed = false;

  /** Registers the handler of `name`. Fails ALREADY_EXISTS (as CONFLICT) when the name is taken. */
  register<N extends keyof S & string>(name: N, handler: JobHandler<S, N>): void {
    if (this.handlers.has(name)) throw conflict(`job ${name}: already registered`);
    this.handlers.set(name, handler as unknown as JobHandler<S, keyof S>);
  }

  /** True when a handler is registered under `name`. */
  has(name: string): boolean {
    return this.handlers.has(name);
  }

  /** The registered job names, sorted. */
  names(): string[] {
    return [...this.handlers.keys()].map(String).sort();
  }

  /** The jobs running now, oldest first. */
  running(): JobInfo[] {
    return [...this.active.values()].map((j) => ({
      id: j.id,
      name: j.name,
      summary: j.summary,
      startedAt: j.startedAt,
    }));
  }

  /**
   * Runs job `name` with `args` and resolves with its result. Fails NOT_FOUND for an
   * unknown name, UNAVAILABLE once the engine is closed, CANCELLED when ctx is
   * cancelled before it starts (a handler sees later cancellation through ctx.signal),
   * and with the handler's error otherwise — a non-BerthError is wrapped, naming the job.
   */
  async job<N extends keyof S & string>(
    ctx: Context,
    name: N,
    args: S[N]['args'],
    opts: JobOptions<S[N]['event']> = {},
  ): Promise<S[N]['result']> {
    const handler = this.handlers.get(name);
    if (handler === undefined) throw notFound(`job ${name}: no such job`);
    if (this.closed) throw unavailable(`job ${name}: the engine is shutting down`);
    const summary = summarizeArgs(args);
    const call = `${name}(${summary})`;
    throwIfCancelled(ctx, `job ${call}`);
    const job = new RunningJob<S[N]['args'], S[N]['event']>(
      String(this.nextId++),
      name,
      args,
      summary,
      ctx,
      opts.onEvent,
    );
    this.active.set(job.id, job as RunningJob<unknown, unknown>);
    ctx.logger.info(`+job ${call}`, { job: job.id });
    try {
      const result = await traced(ctx, 'jobs', name, (inner, span) => {
        span?.setAttribute('job', job.id);
        if (summary !== '') span?.setAttribute('args', summary);
        return handler(inner, job as Job<S[keyof S]['args'], S[keyof S]['event']>);
      });
      job.status = 'ok';
      ctx.logger.info(`-job ${call} = OK (0)`, { job: job.id });
      return result as S[N]['result'];
    } catch (err) {
      job.status = 'err';
      const e = asJobError(err, ctx, call);
      ctx.logger.info(`-job ${call} = ERR (${e.code})`, { job: job.id, error: e.message });
      throw e;
    } finally {
      this.active.delete(job.id);
      if (this.active.size === 0) for (const wake of [...this.idle]) wake();
    }
  }

  /**
   * Refuses new jobs from now on and resolves once the running ones finished, or
   * when ctx is cancelled (then the jobs still running are left to their own ctx).
   */
  async close(ctx: Context): Promise<void> {
    this.closed = true;
    if (this.active.size === 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.idle.delete(done);
        ctx.signal.removeEventListener('abort', done);
        resolve();
      };
      this.idle.add(done);
      ctx.signal.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * A handler's failure as the job's error: BerthErrors kept, an abort as CANCELLED, anything else wrapped naming the
 * job.
 */
function asJobError(err: unknown, ctx: Context, call: string): BerthError {
  if (isBerthError(err)) return err;
  if (ctx.signal.aborted) return cancelled(`job ${call}: cancelled`, { cause: err });
  return wrap(err, `job ${call}`, ErrorCode.INTERNAL);
}
