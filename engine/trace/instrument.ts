// instrument(module, impl) returns an object with impl's interface whose methods
// each open a span, so module code carries no tracing calls (the way containerd
// wraps a Snapshotter in its metadata store). The wrapper inherits from impl, so
// properties, `in` checks for optional abilities and instanceof still work; every
// method, wrapped or not, runs with impl as `this`.
//
// Cost: with no subscriber on `berth:span` or the method's own channel, a call
// pays two hasSubscribers reads, a look at its context's span and one apply
// (measured by the `trace` bench suite). With a subscriber, or under a span whose
// tree has a sink (span.ts), it pays a Span, a derived Context and a publish.
//
// A method's first argument, when it is a Context, is replaced by a context whose
// span is the new one, so calls made inside nest under it. A method that returns
// a Promise ends its span when the promise settles; any other return value ends
// it at once (a returned stream is timed up to its creation, not its consumption).
//
// Work a call timed inside itself comes back as data (TimedStep: the native
// child's clock reads, a driver's named setup steps) on its result or on its
// error; the `steps` and `errorSteps` options turn those into child spans of the
// call's span, so the module itself never records a span.
import { background, isContext, withSpan, type Context } from './context.js';
import { boundaryChannel, recordSpan, Span, spanChannel, type Attributes } from './span.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFn = (...args: any[]) => any;

/** A piece of a call timed by the callee, as data; recorded as a child span of the call's span. */
export interface TimedStep {
  module: string;
  method: string;
  /** Span time (ns since clockBaseNs, see clock.ts). */
  startNs: number;
  endNs: number;
  attributes?: Attributes;
  /** Set when the step failed: an Error, or the errno name the child reported. */
  error?: unknown;
  /** Who read the clock: this process, or the native child. */
  origin?: 'node' | 'native';
}

export interface InstrumentOptions<T> {
  /** Span attributes taken from a call's arguments (ids, sizes). Must not throw. */
  attributes?: { [K in keyof T]?: T[K] extends AnyFn ? (...args: Parameters<T[K]>) => Attributes : never };
  /** Span attributes taken from a call's result (bytes written, counts). Must not throw. */
  results?: { [K in keyof T]?: T[K] extends AnyFn ? (result: Awaited<ReturnType<T[K]>>) => Attributes : never };
  /** Steps timed inside a call, taken from its result. Must not throw. */
  steps?: { [K in keyof T]?: T[K] extends AnyFn ? (result: Awaited<ReturnType<T[K]>>) => readonly TimedStep[] : never };
  /** Steps a failed call carries on its error (any method); an empty list when it has none. Must not throw. */
  errorSteps?: (error: unknown) => readonly TimedStep[];
  /** Only these methods are wrapped; by default every function found on impl and its prototypes. */
  methods?: readonly (keyof T & string)[];
}

/** instrument's signature: what a module that composes parts of its own accepts from its composer. */
export type Instrumenter = <T extends object>(module: string, impl: T, options?: InstrumentOptions<T>) => T;

/** An Instrumenter that leaves every part as it is (nobody asked for spans). */
export const notInstrumented: Instrumenter = (_module, impl) => impl;

export function instrument<T extends object>(module: string, impl: T, options: InstrumentOptions<T> = {}): T {
  const wrapper = Object.create(impl) as Record<string, unknown>;
  const wrapped = options.methods ?? methodNames(impl);
  // Methods left unwrapped run on impl too, as the wrapped ones do: state they
  // change (a writer's offset) is impl's, whichever of its methods reads it.
  if (options.methods !== undefined) {
    for (const method of methodNames(impl)) {
      if (!(wrapped as readonly string[]).includes(method))
        wrapper[method] = ((impl as Record<string, AnyFn>)[method] as AnyFn).bind(impl);
    }
  }
  for (const method of wrapped) {
    const fn = (impl as Record<string, unknown>)[method];
    if (typeof fn !== 'function') throw new TypeError(`instrument ${module}: ${method} is not a method`);
    const attrs = (options.attributes as Record<string, AnyFn> | undefined)?.[method];
    const results = (options.results as Record<string, AnyFn> | undefined)?.[method];
    const steps = (options.steps as Record<string, AnyFn> | undefined)?.[method];
    wrapper[method] = wrapMethod(module, method, impl, fn as AnyFn, {
      attrs,
      results,
      steps,
      errorSteps: options.errorSteps,
    });
  }
  return wrapper as T;
}

interface MethodHooks {
  attrs: AnyFn | undefined;
  results: AnyFn | undefined;
  steps: AnyFn | undefined;
  errorSteps: ((error: unknown) => readonly TimedStep[]) | undefined;
}

function wrapMethod(module: string, method: string, target: object, fn: AnyFn, hooks: MethodHooks): AnyFn {
  const { attrs, results, steps, errorSteps } = hooks;
  const channel = boundaryChannel(module, method);
  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    const first = args[0];
    // a context's span with a sink (or anything else's: the check below sorts them out) traces the call too
    if (
      !spanChannel.hasSubscribers &&
      !channel.hasSubscribers &&
      (first as { span?: { sink?: unknown } } | null | undefined)?.span?.sink === undefined
    )
      return fn.apply(target, args);
    const parent = isContext(first) ? first : undefined;
    const span = new Span(module, method, parent?.span, attrs ? attrs(...args) : undefined, channel);
    const inner = withSpan(parent ?? background(), span);
    if (parent !== undefined) args[0] = inner;
    const fail = (err: unknown): never => {
      if (errorSteps) recordSteps(inner, errorSteps(err));
      span.end(err);
      throw err;
    };
    const succeed = (value: unknown): unknown => {
      if (results) span.setAttributes(results(value));
      if (steps) recordSteps(inner, steps(value) as readonly TimedStep[]);
      span.end();
      return value;
    };
    let result: unknown;
    try {
      result = fn.apply(target, args);
    } catch (err) {
      return fail(err);
    }
    return result instanceof Promise ? result.then(succeed, fail) : succeed(result);
  };
  Object.defineProperty(wrapped, 'name', { value: method });
  return wrapped;
}

function recordSteps(ctx: Context, steps: readonly TimedStep[]): void {
  for (const step of steps) recordSpan(ctx, step);
}

/** Function-valued properties of obj and its prototypes, up to Object.prototype. */
function methodNames(obj: object): string[] {
  const names = new Set<string>();
  for (
    let o: object | null = obj;
    o !== null && o !== Object.prototype;
    o = Object.getPrototypeOf(o) as object | null
  ) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key === 'constructor' || names.has(key)) continue;
      const desc = Object.getOwnPropertyDescriptor(o, key);
      if (desc && typeof desc.value === 'function') names.add(key);
    }
  }
  return [...names];
}
