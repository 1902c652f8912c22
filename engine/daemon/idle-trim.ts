// berthd's memory when it goes idle: glibc keeps the pages a burst of work freed (a pull's buffers, the threadpool
// threads' arenas) in its heaps, resident, until malloc_trim gives them back (docs/host-notes.md "berthd's memory").
// An idle timer runs the trim once the daemon has had no request for a while, and waits for the next request before
// it arms again: an idle daemon wakes once, never periodically. The timer is unref'd: it never keeps berthd running.
import { native } from '../../native/index.js';

export interface IdleTimer {
  /** Activity (a request started or ended): the idle time counts again from now; arms the timer if it was not. */
  touch(): void;
  /** Disarms the timer for good. */
  stop(): void;
}

/**
 * Calls `onIdle` once `idleMs` passed with no touch(), counted from the creation (the start-up) or the last touch;
 * then not again until the next touch. One timer at most is armed, and touch() only records the time while it is.
 */
export function idleTimer(idleMs: number, onIdle: () => void, now: () => number = () => performance.now()): IdleTimer {
  if (!Number.isFinite(idleMs) || idleMs <= 0) throw new TypeError(`idle timer: idleMs must be > 0, not ${idleMs}`);
  let last = now();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = (ms: number): void => {
    timer = setTimeout(fire, ms);
    timer.unref();
  };
  const fire = (): void => {
    timer = undefined;
    if (stopped) return;
    const left = idleMs - (now() - last);
    if (left > 0) arm(left);
    else onIdle();
  };
  arm(idleMs);
  return {
    touch() {
      last = now();
      if (timer === undefined && !stopped) arm(idleMs);
    },
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** How long berthd waits without a request before it gives freed memory back. */
export const IDLE_TRIM_MS = 1000;

/** Gives the allocator's free pages back to the kernel (malloc_trim); the MiB of resident memory released. */
export function trimMemory(): number {
  const before = process.memoryUsage.rss();
  native().mallocTrim();
  return (before - process.memoryUsage.rss()) / 1048576;
}
