// instrument(module, impl) returns an object with impl's interface whose methods
// each open a span, so module code carries no tracing calls (the way containerd
// wraps a Snapshotter in its metadata store). The wrapper inherits from impl, so
// properties, `in` checks for optional abilities and instanceof still work.
//
// Cost: with no subscriber on `berth:span` or the method's own channel, a call
// pays two hasSubscribers reads and one apply (measured by the `trace` bench
// suite). With a subscriber it pays a Span, a derived Context and a publish.
//
// A method's first argument, when it is a Context, is replaced by a context whose
// span is the new one, so calls made inside nest under it. A method that returns
// a Promise ends its span when the promise settles; any other return value ends
// it at once (a returned stream is timed up to its creation, not its consumption).
import { isContext, withSpan, type Context } from './context.js';
import { boundaryChannel, Span, spanChannel, type Attributes } from './span.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFn = (...args: any[]) => any;

export interface InstrumentOptions<T> {
  /** Span attributes taken from a call's arguments (ids, sizes). Must not throw. */
  attributes?: { [K in keyof T]?: T[K] extends AnyFn ? (...args: Parameters<T[K]>) => Attributes : never };
  /** Span attributes taken from a call's result (bytes written, counts). Must not throw. */
  results?: { [K in keyof T]?: T[K] extends AnyFn ? (result: Awaited<ReturnType<T[K]>>) => Attributes : never };
  /** Only these methods are wrapped; by default every function found on impl and its prototypes. */
  methods?: (keyof T & string)[];
}

export function instrument<T extends object>(module: string, impl: T, options: InstrumentOptions<T> = {}): T {
  const wrapper = Object.create(impl) as Record<string, unknown>;
  for (const method of options.methods ?? methodNames(impl)) {
    const fn = (impl as Record<string, unknown>)[method];
    if (typeof fn !== 'function') throw new TypeError(`instrument ${module}: ${method} is not a method`);
    const attrs = (options.attributes as Record<string, AnyFn> | undefined)?.[method];
    const results = (options.results as Record<string, AnyFn> | undefined)?.[method];
    wrapper[method] = wrapMethod(module, method, impl, fn as AnyFn, attrs, results);
  }
  return wrapper as T;
}

function wrapMethod(
  module: string,
  method: string,
  target: object,
  fn: AnyFn,
  attrs: AnyFn | undefined,
  results: AnyFn | undefined,
): AnyFn {
  const channel = boundaryChannel(module, method);
  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    if (!spanChannel.hasSubscribers && !channel.hasSubscribers) return fn.apply(target, args);
    const first = args[0];
    const parent = isContext(first) ? (first as Context) : undefined;
    const span = new Span(module, method, parent?.span, attrs ? attrs(...args) : undefined, channel);
    if (parent !== undefined) args[0] = withSpan(parent, span);
    let result: unknown;
    try {
      result = fn.apply(target, args);
    } catch (err) {
      span.end(err);
      throw err;
    }
    if (result instanceof Promise) {
      return result.then(
        (value: unknown) => {
          if (results) span.setAttributes(results(value));
          span.end();
          return value;
        },
        (err: unknown) => {
          span.end(err);
          throw err;
        },
      );
    }
    if (results) span.setAttributes(results(result));
    span.end();
    return result;
  };
  Object.defineProperty(wrapped, 'name', { value: method });
  return wrapped;
}

/** Function-valued properties of obj and its prototypes, up to Object.prototype. */
function methodNames(obj: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = obj; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key === 'constructor' || names.has(key)) continue;
      const desc = Object.getOwnPropertyDescriptor(o, key);
      if (desc && typeof desc.value === 'function') names.add(key);
    }
  }
  return [...names];
}
