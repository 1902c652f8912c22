// berthd's memory when it goes idle: V8 keeps the garbage of a burst of work (a pull, the runs) in its heap pages until
// a major collection it may never run in a quiet process, and glibc keeps the pages freed (a pull's buffers, the
// threadpool threads' arenas) in its heaps, resident, until malloc_trim gives them back (docs/host-notes.md "berthd's
// memory"). An idle timer runs both once the daemon has had no request for a while, and waits for the next request
// before it arms again: an idle daemon wakes once, never periodically. The timer is unref'd: it never keeps berthd
// running.
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

/**
 * How much V8's used heap must have grown since the last idle collection for the next idle time to run one: a client
 * that polls (a `ps` every 2 s, just past the idle time) then costs a collection per few MiB it made V8 allocate, not
 * one per request.
 */
export const IDLE_GC_MIN_GROWTH_BYTES = 1 << 20;

export interface IdleReclaimHooks {
  /** V8's used heap in bytes. */
  heapUsed(): number;
  /** V8's memory reduction: full collections with compaction, its empty pages given back. */
  collect(): void;
  /** The allocator's trim (trimMemory). */
  trim(): void;
  /** The process's resident bytes. */
  rss(): number;
}

const realHooks: IdleReclaimHooks = {
  heapUsed: () => process.memoryUsage().heapUsed,
  collect: () => native().v8LowMemory(),
  trim: () => native().mallocTrim(),
  rss: () => process.memoryUsage.rss(),
};

/** What one idle reclaim did: whether V8 collected, and the MiB of resident memory given back. */
export interface IdleReclaim {
  collected: boolean;
  releasedMiB: number;
}

/**
 * berthd's work once idle (the idle timer's onIdle): V8's memory reduction (Isolate::LowMemoryNotification), when its
 * used heap grew by `minGrowthBytes` since the last one (always the first time), then the allocator's trim, which
 * then also gives back what the collection freed outside V8's heap (ArrayBuffers' memory). The collection costs the
 * main thread a few tens of ms; a request arriving meanwhile waits for it.
 */
export function idleReclaimer(
  minGrowthBytes = IDLE_GC_MIN_GROWTH_BYTES,
  hooks: IdleReclaimHooks = realHooks,
): () => IdleReclaim {
  let usedAfterLast: number | undefined;
  return () => {
    const before = hooks.rss();
    let collected = false;
    if (usedAfterLast === undefined || hooks.heapUsed() - usedAfterLast >= minGrowthBytes) {
      hooks.collect();
      usedAfterLast = hooks.heapUsed();
      collected = true;
    }
    hooks.trim();
    return { collected, releasedMiB: (before - hooks.rss()) / 1048576 };
  };
}
