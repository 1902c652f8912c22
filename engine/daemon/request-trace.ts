// Joins a client's trace across the socket. A request carrying a W3C `traceparent`
// header runs inside a `daemon` span; while such requests run the daemon collects
// spans, and keeps each finished request's span tree under the trace id so the
// client can fetch it (`GET /berth/traces/{traceId}`) and merge it with its own:
// the daemon's root span names its parent (the client's span) and the daemon
// sends its clock base, both processes reading CLOCK_MONOTONIC.
import { clockBaseNs } from '../trace/clock.js';
import { SpanCollector } from '../trace/collector.js';
import type { Context } from '../trace/context.js';
import { startSpan, type SpanRecord } from '../trace/span.js';

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

export class TraceStore {
  private readonly collector = new SpanCollector();
  private running = 0;
  private readonly finished = new Map<string, SpanRecord[]>();

  /**
   * Runs `fn` inside a `daemon` span joined to `parent` when the request is sampled,
   * and files the spans it produced under the trace id.
   */
  async run<T>(
    ctx: Context,
    parent: TraceParent | undefined,
    name: string,
    fn: (ctx: Context) => Promise<T>,
  ): Promise<T> {
    if (parent === undefined || !parent.sampled) return fn(ctx);
    if (this.running++ === 0) this.collector.start();
    const { span, ctx: inner } = startSpan(ctx, 'daemon', name, { traceparentParent: parent.parentId });
    try {
      const result = await fn(inner);
      span?.end();
      return result;
    } catch (err) {
      span?.end(err);
      throw err;
    } finally {
      if (span !== undefined) this.file(parent.traceId, this.collector.spansOf(span.id));
      if (--this.running === 0) {
        this.collector.stop();
        this.collector.clear();
      }
    }
  }

  private file(traceId: string, spans: SpanRecord[]): void {
    const list = this.finished.get(traceId) ?? [];
    list.push(...spans);
    this.finished.delete(traceId);
    this.finished.set(traceId, list);
    while (this.finished.size > KEEP_TRACES) this.finished.delete(this.finished.keys().next().value as string);
  }

  /** The spans filed under `traceId` (and forgets them). */
  take(traceId: string): DaemonTrace {
    const spans = this.finished.get(traceId) ?? [];
    this.finished.delete(traceId);
    return { traceId, clockBaseNs: clockBaseNs.toString(), pid: process.pid, spans };
  }
}
