// Spans: one timed, named piece of work at a module boundary, nested through the
// Context. A span is published only when it ends, as a plain SpanRecord, on two
// diagnostics channels: `berth:span` (everything; the collector listens there) and
// `berth:<module>:<method>` (one boundary, for a listener that wants only that).
// When neither has a subscriber no span object is made at all: see instrument.ts.
import diagnostics from 'node:diagnostics_channel';
import { BerthError } from '../errdefs/errors.js';
import { nowNs } from './clock.js';
import { withSpan, type Context } from './context.js';

export type AttributeValue = string | number | boolean;
export type Attributes = Record<string, AttributeValue>;

export type SpanStatus = 'ok' | 'error' | 'cancelled';

/** A finished span, as published and exported. Times are ns since clockBaseNs. */
export interface SpanRecord {
  id: number;
  /** The id of the root span of this tree. */
  traceId: number;
  parentId: number | undefined;
  /** `<module>.<method>`, e.g. `graphdriver.overlay2.get`. */
  name: string;
  module: string;
  startNs: number;
  endNs: number;
  attributes: Attributes;
  status: SpanStatus;
  error: { code: string; message: string } | undefined;
  /** Where the time was measured: in this process, or by the native child (its own clock reads). */
  origin: 'node' | 'native';
}

/**
 * Where a tree's spans go besides the channels: a root span given one (a daemon request that joined a client's
 * trace) passes it to every span under it, and those spans are made even when nobody listens to the channels, so
 * the tree is complete (also the parts that end after its request) while the rest of the process pays nothing.
 * `opened` is told of each span made in the tree, `ended` of each record with whether it closes one of those (a
 * record timed elsewhere comes ended, never opened), so the owner knows how many are still open.
 */
export interface SpanSink {
  opened(): void;
  ended(record: SpanRecord, closesOpened: boolean): void;
}

export const SPAN_CHANNEL = 'berth:span';
export const spanChannel = diagnostics.channel(SPAN_CHANNEL);

const boundaryChannels = new Map<string, diagnostics.Channel>();

/** The channel of one boundary: `berth:graphdriver.overlay2:get`. */
export function boundaryChannel(module: string, method: string): diagnostics.Channel {
  const key = `berth:${module}:${method}`;
  let ch = boundaryChannels.get(key);
  if (ch === undefined) {
    ch = diagnostics.channel(key);
    boundaryChannels.set(key, ch);
  }
  return ch;
}

let nextId = 1;

export class Span {
  readonly id: number;
  readonly traceId: number;
  readonly parentId: number | undefined;
  readonly startNs: number;
  readonly attributes: Attributes;
  /** The tree's sink: the one given to its root, inherited from the parent. */
  readonly sink: SpanSink | undefined;
  private ended = false;

  constructor(
    readonly module: string,
    readonly method: string,
    parent: Span | undefined,
    attributes: Attributes | undefined,
    private readonly channel: diagnostics.Channel | undefined,
    startNs: number = nowNs(),
    sink: SpanSink | undefined = parent?.sink,
  ) {
    this.sink = sink;
    sink?.opened();
    this.id = nextId++;
    this.traceId = parent ? parent.traceId : this.id;
    this.parentId = parent?.id;
    this.attributes = attributes ? { ...attributes } : {};
    this.startNs = startNs;
  }

  get name(): string {
    return `${this.module}.${this.method}`;
  }

  setAttribute(key: string, value: AttributeValue): this {
    this.attributes[key] = value;
    return this;
  }

  setAttributes(attributes: Attributes): this {
    Object.assign(this.attributes, attributes);
    return this;
  }

  /** Ends the span (once; later calls are ignored) and publishes its record. */
  end(error?: unknown, endNs: number = nowNs()): SpanRecord | undefined {
    if (this.ended) return undefined;
    this.ended = true;
    const record: SpanRecord = {
      id: this.id,
      traceId: this.traceId,
      parentId: this.parentId,
      name: this.name,
      module: this.module,
      startNs: this.startNs,
      endNs,
      attributes: this.attributes,
      status: error === undefined ? 'ok' : statusOf(error),
      error: error === undefined ? undefined : describe(error),
      origin: 'node',
    };
    publish(record, this.channel, this.sink, true);
    return record;
  }
}

function statusOf(error: unknown): SpanStatus {
  if (error instanceof BerthError) return error.code === 'CANCELLED' ? 'cancelled' : 'error';
  return (error as Error | undefined)?.name === 'AbortError' ? 'cancelled' : 'error';
}

function describe(error: unknown): { code: string; message: string } {
  if (error instanceof BerthError) return { code: error.code, message: error.message };
  const e = error as NodeJS.ErrnoException | undefined;
  return {
    code: typeof e?.code === 'string' ? e.code : 'UNKNOWN',
    message: e instanceof Error ? e.message : String(error),
  };
}

function publish(
  record: SpanRecord,
  channel: diagnostics.Channel | undefined,
  sink: SpanSink | undefined,
  closesOpened: boolean,
): void {
  if (spanChannel.hasSubscribers) spanChannel.publish(record);
  if (channel?.hasSubscribers) channel.publish(record);
  sink?.ended(record, closesOpened);
}

/** True when anyone listens to all spans or to this boundary. */
function tracing(channel?: diagnostics.Channel): boolean {
  return spanChannel.hasSubscribers || (channel !== undefined && channel.hasSubscribers);
}

/**
 * Opens a span under ctx's span and returns it with the context to pass down.
 * When nobody listens and the tree has no sink, returns no span and ctx unchanged (no allocation).
 * A sink given here is the new span's (and its tree's) instead of the parent's.
 */
export function startSpan(
  ctx: Context,
  module: string,
  method: string,
  attributes?: Attributes,
  sink: SpanSink | undefined = ctx.span?.sink,
): { span: Span | undefined; ctx: Context } {
  const channel = boundaryChannel(module, method);
  if (sink === undefined && !tracing(channel)) return { span: undefined, ctx };
  const span = new Span(module, method, ctx.span, attributes, channel, undefined, sink);
  return { span, ctx: withSpan(ctx, span) };
}

/**
 * Runs fn inside a span (sync or async); the span ends when fn returns, throws,
 * or its promise settles. For code that is not an instrumented interface (jobs).
 */
export function traced<T>(
  ctx: Context,
  module: string,
  method: string,
  fn: (ctx: Context, span: Span | undefined) => T,
  attributes?: Attributes,
): T {
  const { span, ctx: inner } = startSpan(ctx, module, method, attributes);
  if (span === undefined) return fn(ctx, undefined);
  let result: T;
  try {
    result = fn(inner, span);
  } catch (err) {
    span.end(err);
    throw err;
  }
  if (result instanceof Promise) {
    return result.then(
      (value) => {
        span.end();
        return value;
      },
      (err: unknown) => {
        span.end(err);
        throw err;
      },
    ) as T;
  }
  span.end();
  return result;
}

/**
 * Publishes a span timed elsewhere (the native child's setup steps, a kernel
 * operation timed by the addon) as a child of ctx's span. Returns the record, or
 * undefined when nobody listens.
 */
export function recordSpan(
  ctx: Context,
  span: {
    module: string;
    method: string;
    startNs: number;
    endNs: number;
    attributes?: Attributes;
    error?: unknown;
    origin?: 'node' | 'native';
  },
): SpanRecord | undefined {
  const channel = boundaryChannel(span.module, span.method);
  const parent = ctx.span;
  if (parent?.sink === undefined && !tracing(channel)) return undefined;
  const id = nextId++;
  const record: SpanRecord = {
    id,
    traceId: parent ? parent.traceId : id,
    parentId: parent?.id,
    name: `${span.module}.${span.method}`,
    module: span.module,
    startNs: span.startNs,
    endNs: span.endNs,
    attributes: span.attributes ? { ...span.attributes } : {},
    status: span.error === undefined ? 'ok' : statusOf(span.error),
    error: span.error === undefined ? undefined : describe(span.error),
    origin: span.origin ?? 'node',
  };
  publish(record, channel, parent?.sink, false);
  return record;
}
