// Retries of transient registry failures: exponential backoff with full jitter,
// Retry-After honoured, and the classification of what is worth retrying.
import { setTimeout as delay } from 'node:timers/promises';
import { BerthError, isBerthError } from '../../errdefs/errors.js';

export interface RetryPolicy {
  /** Attempts in all, the first included (default 5). */
  attempts: number;
  /** First backoff in ms (default 200); doubles each retry. */
  baseMs: number;
  /** Longest single wait in ms (default 10 s), Retry-After included. */
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 200, maxMs: 10_000 };

/** Network errors a new attempt may cure. */
const transientErrno = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** An HTTP status a new attempt may cure (429 and 5xx except 501 and 505). */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/** A failure that says to wait `retryAfterMs` (from Retry-After) before trying again. */
export class TransientError extends BerthError {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
    cause?: unknown,
  ) {
    super('UNAVAILABLE', message, cause === undefined ? {} : { cause });
  }
}

/** Whether `err` is worth another attempt: a TransientError or a network error; never a cancellation. */
export function isTransient(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  if (isBerthError(err)) return false;
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.name === 'AbortError') return false;
  if (typeof e?.code === 'string' && transientErrno.has(e.code)) return true;
  return typeof e?.message === 'string' && /socket hang up|aborted|premature close/i.test(e.message);
}

/** Retry-After as ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The wait before retry number `retry` (1-based): Retry-After when given, else a random share of base·2^(retry-1). */
export function backoffMs(
  policy: RetryPolicy,
  retry: number,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined) return Math.min(policy.maxMs, retryAfterMs);
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** (retry - 1));
  return Math.floor(random() * cap);
}

/**
 * Runs `fn` until it succeeds, fails with a non-transient error, or the attempts
 * run out (the last error is thrown). `fn` gets the attempt number (0-based).
 * Waits are cut short by `signal`, which rejects with its AbortError.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  signal: AbortSignal,
  fn: (attempt: number) => Promise<T>,
  onRetry?: (err: unknown, waitMs: number) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt + 1 >= policy.attempts || !isTransient(err) || signal.aborted) throw err;
      const wait = backoffMs(policy, attempt + 1, err instanceof TransientError ? err.retryAfterMs : undefined);
      onRetry?.(err, wait);
      await delay(wait, undefined, { signal });
    }
  }
}
