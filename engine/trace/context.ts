// The Context every boundary call takes first: it carries the current span (so
// spans nest without globals), the logger and the AbortSignal that cancels the
// operation. Contexts are immutable; the with* helpers derive new ones.
import { cancelled } from '../errdefs/errors.js';
import { defaultLogger, type Logger } from './logger.js';
import type { Span } from './span.js';

export interface Context {
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** The span the next boundary call nests under; undefined when nobody traces. */
  readonly span: Span | undefined;
}

const never = new AbortController().signal;

/** The root context: never cancelled, the default logger, no span. */
export function background(logger: Logger = defaultLogger): Context {
  return { signal: never, logger, span: undefined };
}

export function withSpan(ctx: Context, span: Span | undefined): Context {
  return { signal: ctx.signal, logger: ctx.logger, span };
}

export function withLogger(ctx: Context, logger: Logger): Context {
  return { signal: ctx.signal, logger, span: ctx.span };
}

/**
 * A context that keeps ctx's logger and span but is not cancelled with it: for
 * undo and cleanup paths (release what a cancelled create allocated, record an
 * exit) that must run to the end although their caller gave up. runDetached bounds
 * such work in time.
 */
export function detached(ctx: Context): Context {
  return { signal: never, logger: ctx.logger, span: ctx.span };
}

/**
 * Runs `work` on a detached context (see detached) that is cancelled after `timeoutMs`, so a stuck cleanup cannot
 * hang forever. The timer is cleared once `work` settles: nothing stays pending after the work (AbortSignal.timeout
 * would keep its timer for the whole `timeoutMs`). Settles as `work` does.
 */
export async function runDetached<T>(ctx: Context, timeoutMs: number, work: (ctx: Context) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
    timeoutMs,
  );
  timer.unref();
  try {
    return await work({ signal: controller.signal, logger: ctx.logger, span: ctx.span });
  } finally {
    clearTimeout(timer);
  }
}

/** A context cancelled when either the parent's signal or `signal` aborts. */
export function withSignal(ctx: Context, signal: AbortSignal): Context {
  const combined = ctx.signal === never ? signal : AbortSignal.any([ctx.signal, signal]);
  return { signal: combined, logger: ctx.logger, span: ctx.span };
}

/**
 * A context cancelled by `controller`, which ctx's signal aborts too until unlink() is called, and unlink (call it
 * once the work is done). For short-lived work under a long-lived context (a request under the daemon's): withSignal's
 * AbortSignal.any files each derived signal in the parent's dependants, which Node 20 never prunes (about 70 bytes
 * per call kept for the parent's life), while this leaves nothing on the parent after unlink.
 */
export function linkedContext(ctx: Context, controller: AbortController): { ctx: Context; unlink: () => void } {
  const parent = ctx.signal;
  const abort = (): void => controller.abort(parent.reason);
  if (parent.aborted) abort();
  else if (parent !== never) parent.addEventListener('abort', abort, { once: true });
  return {
    ctx: { signal: controller.signal, logger: ctx.logger, span: ctx.span },
    unlink: () => parent.removeEventListener('abort', abort),
  };
}

/** A context cancelled after `ms` milliseconds (or earlier with its parent). */
export function withTimeout(ctx: Context, ms: number): Context {
  return withSignal(ctx, AbortSignal.timeout(ms));
}

/** Throws a CANCELLED BerthError naming `subject` if the context was cancelled. */
export function throwIfCancelled(ctx: Context, subject: string): void {
  if (ctx.signal.aborted) {
    const reason = ctx.signal.reason as unknown;
    const why = reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason);
    throw cancelled(`${subject}: cancelled (${why})`, { cause: reason });
  }
}

export function isContext(value: unknown): value is Context {
  return (
    typeof value === 'object' && value !== null && (value as Context).signal instanceof AbortSignal && 'logger' in value
  );
}
