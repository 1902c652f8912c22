// A per-key async mutex: read-modify-write of one repository's index.json runs
// alone, while other repositories proceed. In-process only (one server per root).

export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>();

  /**
   * Runs `fn` once every earlier holder of `key` has finished; returns its result.
   * A failing `fn` releases the lock like a succeeding one. Costs one promise per call.
   */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
