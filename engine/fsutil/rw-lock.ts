// A shared/exclusive lock, first come first served (in-process): the Graph lets image
// puts and container layer creation run side by side (shared) and gives deletes and
// gc the store to themselves (exclusive), so gc never sees a half-put image.

interface Waiter {
  exclusive: boolean;
  grant: () => void;
}

/**
 * Requests are granted in arrival order: a shared request behind a waiting exclusive
 * one waits too, so writers are never starved. A failing fn releases like a
 * succeeding one.
 */
export class RWLock {
  private readers = 0;
  private writer = false;
  private readonly queue: Waiter[] = [];

  /** Runs `fn` while holding the lock shared; waits behind an earlier exclusive request. */
  shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.hold(false, fn);
  }

  /** Runs `fn` while holding the lock alone. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.hold(true, fn);
  }

  private async hold<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    await new Promise<void>((grant) => {
      this.queue.push({ exclusive, grant });
      this.pump();
    });
    try {
      return await fn();
    } finally {
      if (exclusive) this.writer = false;
      else this.readers--;
      this.pump();
    }
  }

  private pump(): void {
    while (this.queue.length > 0 && !this.writer) {
      const next = this.queue[0]!;
      if (next.exclusive) {
        if (this.readers > 0) return;
        this.writer = true;
      } else {
        this.readers++;
      }
      this.queue.shift();
      next.grant();
    }
  }
}
