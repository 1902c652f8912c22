// In-process async locks built on promise chains: KeyedLock serialises work per key
// (one layer id, one repository, one network), Mutex is the same for a single key.
// They order callers of this process only; nothing here locks across processes.

/**
 * Runs async functions one at a time per key, in call order; different keys run in
 * parallel. A failing function releases the key like a succeeding one. Costs one
 * promise per call and one map entry per busy key (removed when the key is idle).
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Runs `fn` once every earlier call for `key` has settled; its result or error passes through. */
  run<T>(key: string, fn: () => Promise<T> | T): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const current = previous.then(() => fn()); // tails never reject
    const tail = current.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return current;
  }

  /** Keys with a running or waiting call (for tests and leak checks). */
  get busyKeys(): number {
    return this.#tails.size;
  }
}

/** A KeyedLock of one key: runs functions one at a time, in call order. */
export class Mutex {
  readonly #lock = new KeyedLock();

  /** Runs `fn` after every earlier run() settled; returns its result. A failing fn does not block later ones. */
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.#lock.run('', fn);
  }
}
