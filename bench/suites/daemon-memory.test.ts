import { afterEach, describe, expect, it, vi } from 'vitest';
import { IDLE_TRIM_MS } from '../../engine/daemon/idle-trim.js';
import { IDLE_READ_WAIT_MS, idleRssReads } from './daemon-memory.js';

describe('idleRssReads', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads only once the daemon idled past its allocator trim, then 5 reads', async () => {
    expect(IDLE_READ_WAIT_MS).toBeGreaterThan(IDLE_TRIM_MS);
    vi.useFakeTimers();
    let reads: number[] | undefined;
    const pending = idleRssReads(process.pid).then((r) => (reads = r));
    await vi.advanceTimersByTimeAsync(IDLE_READ_WAIT_MS - 1);
    expect(reads).toBeUndefined();
    // the idle wait, then 5 reads 50 ms apart
    await vi.advanceTimersByTimeAsync(1 + 5 * 50);
    await pending;
    expect(reads).toHaveLength(5);
    for (const mib of reads!) expect(mib).toBeGreaterThan(1);
  });

  it('fails naming the process when it is gone', async () => {
    vi.useFakeTimers();
    const pending = idleRssReads(2 ** 22 + 1, 1);
    const failed = expect(pending).rejects.toThrow(/process 4194305: gone/);
    await vi.advanceTimersByTimeAsync(IDLE_READ_WAIT_MS + 50);
    await failed;
  });
});
