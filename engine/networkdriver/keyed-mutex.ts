// Serialises async work per key (one network's IPAM, one container's endpoint),
// so two concurrent callers never read-modify-write the same state at once.

export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs fn after every earlier fn of the same key has settled; returns its result. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const current = previous.then(fn, fn);
    const tail = current.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await current;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
