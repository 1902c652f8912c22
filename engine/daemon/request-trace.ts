// Joins a client's trace across the socket. A request carrying a W3C `traceparent`
// header runs inside a `daemon` span whose tree files its spans under the trace id
// as they end (the tree's sink), so the client can fetch them
// (`GET /berth/traces/{traceId}`) and merge them with its own:
// the daemon's root span names its parent (the client's span) and the daemon
// sends its clock base, both processes reading CLOCK_MONOTONIC.
import { clockBaseNs } from '../trace/clock.js';
import type { Context } from '../trace/context.js';
import { startSpan, type SpanRecord, type SpanSink } from '../trace/span.js';

export interface TraceParent {
  traceId: string;
  parentId: string;
  sampled: boolean;
}

/** Parses `00-<32 hex>-<16 hex>-<2 hex>`; undefined when absent or malformed (then the request is not traced). */
export function parseTraceparent(header: string | string[] | undefined): TraceParent | undefined {
  if (typeof header !== 'string') return undefined;
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(header.trim());
  if (m === null || m[1] === 'ff' || /^0+$/.test(m[2] as string) || /^0+$/.test(m[3] as string)) return undefined;
  return {
    traceId: m[2] as string,
    parentId: m[3] as string,
    sampled: (Number.parseInt(m[4] as string, 16) & 1) === 1,
  };
}

/** What `GET /berth/traces/{traceId}` answers. */
export interface DaemonTrace {
  traceId: string;
  /** The daemon's span clock origin (CLOCK_MONOTONIC ns, decimal). */
  clockBaseNs: string;
  pid: number;
  spans: SpanRecord[];
}

const KEEP_TRACES = 32;
/** How long a fetch waits for spans of its trace still open (a container's exit handling) before answering. */
const OPEN_SPANS_WAIT_MS = 2000;

/** One trace's spans: those ended and not fetched yet, and how many of its spans are still open. */
class TraceSpans implements SpanSink {
  readonly spans: SpanRecord[] = [];
  open = 0;
  private settled: (() => void)[] = [];

  opened(): void {
    this.open++;
  }

  ended(record: SpanRecord, closesOpened: boolean): void {
    this.spans.push(record);
    if (closesOpened && --this.open <= 0) for (const wake of this.settled.splice(0)) wake();
  }

  /** Resolves when no span is open, or after `ms`. */
  async quiet(ms: number): Promise<void> {
    if (this.open <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.settled.push(resolve);
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
  }
}

/**
 * The spans of sampled requests, filed by trace id as each span ends. A sampled request's `daemon` span carries a
 * sink (trace/span.ts): the spans of its tree are made and filed whether or not anyone listens to the span channels,
 * also those that end after the request answered (a container's `container.exit` under the start that ran it), while
 * unsampled requests made at the same time make no spans at all. The 32 most recently joined traces are kept.
 */
export class TraceStore {
  private readonly traces = new Map<string, TraceSpans>();

  /**
   * Runs `fn` inside a `daemon` span joined to `parent` when the request is sampled; its spans, and those of its
   * tree that end later, are filed under the trace id.
   */
  async run<T>(
    ctx: Context,
    parent: TraceParent | undefined,
    name: string,
    fn: (ctx: Context) => Promise<T>,
  ): Promise<T> {
    if (parent === undefined || !parent.sampled) return fn(ctx);
    const sink = this.touch(parent.traceId);
    const { span, ctx: inner } = startSpan(ctx, 'daemon', name, { traceparentParent: parent.parentId }, sink);
    try {
      const result = await fn(inner);
      span?.end();
      return result;
    } catch (err) {
      span?.end(err);
      throw err;
    }
  }

  /** Makes `traceId` the most recent trace (a new one starts empty), dropping the oldest beyond KEEP_TRACES. */
  private touch(traceId: string): TraceSpans {
    const trace = this.traces.get(traceId) ?? new TraceSpans();
    this.traces.delete(traceId);
    this.traces.set(traceId, trace);
    while (this.traces.size > KEEP_TRACES) this.traces.delete(this.traces.keys().next().value as string);
    return trace;
  }

  /**
   * The spans filed under `traceId` so far, sorted by start, once none of its spans is open (at most 2 s: an
   * exit's teardown still running when the client asked), and forgets them; spans that end later are kept for a
   * later call.
   */
  async take(traceId: string): Promise<DaemonTrace> {
    const trace = this.traces.get(traceId);
    await trace?.quiet(OPEN_SPANS_WAIT_MS);
    const spans = trace === undefined ? [] : trace.spans.splice(0).sort((a, b) => a.startNs - b.startNs);
    return { traceId, clockBaseNs: clockBaseNs.toString(), pid: process.pid, spans };
  }
}
