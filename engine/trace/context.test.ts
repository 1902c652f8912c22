import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { background, detached, runDetached, type Context } from './context.js';

describe('detached contexts', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('detached is not cancelled with its parent and keeps its logger', () => {
    const controller = new AbortController();
    const parent: Context = { ...background(), signal: controller.signal };
    const ctx = detached(parent);
    controller.abort();
    expect(ctx.signal.aborted).toBe(false);
    expect(ctx.logger).toBe(parent.logger);
  });

  it('runDetached leaves no timer pending once its work has ended, so its context is never cancelled afterwards', async () => {
    const before = vi.getTimerCount();
    let seen: Context | undefined;
    await expect(
      runDetached(background(), 60_000, async (ctx) => {
        seen = ctx;
        expect(vi.getTimerCount()).toBe(before + 1);
        return 'done';
      }),
    ).resolves.toBe('done');
    expect(vi.getTimerCount()).toBe(before);
    vi.advanceTimersByTime(120_000);
    expect(seen!.signal.aborted).toBe(false);
  });

  it('runDetached clears its timer when the work fails too', async () => {
    const before = vi.getTimerCount();
    await expect(runDetached(background(), 60_000, () => Promise.reject(new Error('undo failed')))).rejects.toThrow(
      'undo failed',
    );
    expect(vi.getTimerCount()).toBe(before);
  });

  it('runDetached cancels work still running after its timeout, whatever the parent does', async () => {
    const controller = new AbortController();
    const parent: Context = { ...background(), signal: controller.signal };
    controller.abort();
    let seen: Context | undefined;
    const running = runDetached(parent, 1_000, (ctx) => {
      seen = ctx;
      return new Promise<string>((resolve) => ctx.signal.addEventListener('abort', () => resolve('cancelled')));
    });
    expect(seen!.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1_000);
    await expect(running).resolves.toBe('cancelled');
    expect((seen!.signal.reason as Error).name).toBe('TimeoutError');
    expect(vi.getTimerCount()).toBe(0);
  });
});
