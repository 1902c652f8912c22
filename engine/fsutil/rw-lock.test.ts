import { describe, expect, it } from 'vitest';
import { RWLock } from './rw-lock.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const drain = () => new Promise<void>((r) => setImmediate(r));

describe('RWLock', () => {
  it('lets shared holders overlap', async () => {
    const lock = new RWLock();
    const gate = deferred();
    const log: string[] = [];
    const a = lock.shared(async () => {
      log.push('a in');
      await gate.promise;
    });
    const b = lock.shared(async () => {
      log.push('b in');
    });
    await b; // finishes while a still holds the lock shared
    expect(log).toEqual(['a in', 'b in']);
    gate.resolve();
    await a;
  });

  it('gives an exclusive holder the lock alone, and a later shared request waits behind a waiting exclusive one', async () => {
    const lock = new RWLock();
    const log: string[] = [];
    const reader = deferred();
    const r1 = lock.shared(async () => {
      log.push('r1 in');
      await reader.promise;
      log.push('r1 out');
    });
    const w = lock.exclusive(async () => {
      log.push('w');
    });
    const r2 = lock.shared(async () => {
      log.push('r2');
    });
    await drain();
    expect(log).toEqual(['r1 in']);
    reader.resolve();
    await Promise.all([r1, w, r2]);
    expect(log).toEqual(['r1 in', 'r1 out', 'w', 'r2']);
  });

  it('releases after a failure', async () => {
    const lock = new RWLock();
    await expect(lock.exclusive(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(lock.shared(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lock.exclusive(async () => 'free')).toBe('free');
  });
});
