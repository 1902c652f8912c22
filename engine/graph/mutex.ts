// A promise-chain mutex: the graph's stores serialise their record updates
// (read-modify-write of refcounts and reference files) through one of these.

export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after every earlier run() settled; returns its result. A failing fn does not block later ones. */
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}
