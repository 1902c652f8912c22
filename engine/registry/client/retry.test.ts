// Backoff, Retry-After and the classification of transient failures.
import { describe, expect, it } from 'vitest';
import { notFound } from '../../errdefs/errors.js';
import { backoffMs, isTransient, isTransientStatus, parseRetryAfter, TransientError, withRetry } from './retry.js';

const policy = { attempts: 4, baseMs: 100, maxMs: 1000 };

describe('retry', () => {
  it('backs off exponentially with full jitter, capped, and honours Retry-After', () => {
    expect(backoffMs(policy, 1, undefined, () => 0.999)).toBe(99);
    expect(backoffMs(policy, 3, undefined, () => 0.5)).toBe(200);
    expect(backoffMs(policy, 10, undefined, () => 0.999)).toBe(999);
    expect(backoffMs(policy, 1, 0)).toBe(0);
    expect(backoffMs(policy, 1, 60_000)).toBe(1000);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  it('retries network errors and 5xx/429, not client errors or cancellations', () => {
    expect(isTransientStatus(503)).toBe(true);
    expect(isTransientStatus(429)).toBe(true);
    expect(isTransientStatus(501)).toBe(false);
    expect(isTransientStatus(404)).toBe(false);
    expect(isTransient(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isTransient(new TransientError('503', undefined))).toBe(true);
    expect(isTransient(notFound('x'))).toBe(false);
    expect(isTransient(Object.assign(new Error('aborted'), { name: 'AbortError' }))).toBe(false);
  });

  it('runs until success, and gives up after the attempts with the last error', async () => {
    let n = 0;
    const fastPolicy = { attempts: 3, baseMs: 1, maxMs: 2 };
    expect(
      await withRetry(fastPolicy, new AbortController().signal, async () =>
        ++n < 3 ? Promise.reject(new TransientError(`t${n}`, 0)) : 'ok',
      ),
    ).toBe('ok');
    n = 0;
    await expect(
      withRetry(fastPolicy, new AbortController().signal, async () => Promise.reject(new TransientError(`t${++n}`, 0))),
    ).rejects.toThrow('t3');
    n = 0;
    await expect(
      withRetry(fastPolicy, new AbortController().signal, async () => Promise.reject(notFound(`n${++n}`))),
    ).rejects.toThrow('n1');
  });
});
