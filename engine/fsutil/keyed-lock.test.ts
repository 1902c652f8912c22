import { describe, expect, it } from 'vitest';
import { KeyedLock, Mutex } from './keyed-lock.js';

/** A promise resolved from outside, to hold a lock open for as long as a test wants. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets every already-queued promise reaction run. */
const drain = () => new Promise<void>((r) => setImmediate(r));

describe('KeyedLock', () => {
  it('runs calls of one key one at a time, in call order', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const gate = deferred();
    const a = lock.run('k', async () => {
      log.push('a start');
      await gate.promise;
      log.push('a end');
      return 'a';
    });
    const b = lock.run('k', async () => {
      log.push('b');
      return 'b';
    });
    await drain();
    expect(log).toEqual(['a start']);
    gate.resolve();
    expect(await Promise.all([a, b])).toEqual(['a', 'b']);
    expect(log).toEqual(['a start', 'a end', 'b']);
  });

  it('runs different keys in parallel', async () => {
    const lock = new KeyedLock();
    const gate = deferred();
    const held = lock.run('x', () => gate.promise);
    let otherRan = false;
    await lock.run('y', () => {
      otherRan = true;
    });
    expect(otherRan).toBe(true);
    gate.resolve();
    await held;
  });

  it('releases the key when a call fails, sync or async, and passes the error through', async () => {
    const lock = new KeyedLock();
    const asyncFail = lock.run('k', async () => {
      throw new Error('async boom');
    });
    const syncFail = lock.run('k', () => {
      throw new Error('sync boom');
    });
    const after = lock.run('k', () => 'after');
    await expect(asyncFail).rejects.toThrow('async boom');
    await expect(syncFail).rejects.toThrow('sync boom');
    expect(await after).toBe('after');
  });

  it('forgets idle keys', async () => {
    const lock = new KeyedLock();
    await Promise.all([lock.run('a', () => 1), lock.run('b', () => 2), lock.run('a', () => 3)]);
    await drain();
    expect(lock.busyKeys).toBe(0);
  });
});

describe('Mutex', () => {
  it('serialises every call', async () => {
    const mutex = new Mutex();
    let inside = 0;
    let most = 0;
    const work = async () => {
      inside++;
      most = Math.max(most, inside);
      await drain();
      inside--;
    };
    await Promise.all([mutex.run(work), mutex.run(work), mutex.run(work)]);
    expect(most).toBe(1);
  });
});
