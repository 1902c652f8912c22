// Serialises operations on one layer id (create, get, put, remove) so concurrent
// calls cannot both mount, or both build the same temp dir; different ids run in parallel.

export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs fn after every earlier call for `key` has settled; its result or error passes through. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
