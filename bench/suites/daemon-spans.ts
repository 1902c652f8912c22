// berthd's spans of one traced request sequence, joined into this process's span
// channel: shared by the suites that drive a daemon over its socket (run, lifecycle,
// workload), so their phases show the client's calls with the daemon's work beneath.
import { randomBytes } from 'node:crypto';
import { ApiClient } from '../../engine/client/api-client.js';
import { Http1Pool } from '../../engine/client/http1.js';
import { unavailable } from '../../engine/errdefs/errors.js';
import { clockBaseNs, spanChannel, startSpan, type Context, type SpanRecord } from '../../engine/trace/index.js';

/**
 * The connections the bench's clients of one daemon share, as one long-lived API client keeps its own (a sample's
 * client is new only for its trace id): a timed run makes no connection once the first has.
 */
const pools = new Map<string, Http1Pool>();
export function poolFor(host: string): Http1Pool {
  let pool = pools.get(host);
  if (pool === undefined) pools.set(host, (pool = new Http1Pool()));
  return pool;
}

/** Daemon span ids are moved past this, so they never collide with the bench's own. */
const DAEMON_ID_OFFSET = 1_000_000_000;

export interface DaemonTrace {
  clockBaseNs: string;
  pid: number;
  spans: SpanRecord[];
}

/**
 * Publishes berthd's spans of one trace into this process's span channel: ids
 * offset, times moved onto this process's clock base, each request span
 * re-parented under the client span named in its traceparent. A collector
 * listening around the sample (the runner's phases) sees one tree. Returns the
 * spans as published (on this process's clock).
 */
export function publishDaemonSpans(trace: DaemonTrace): SpanRecord[] {
  const shift = Number(BigInt(trace.clockBaseNs) - clockBaseNs);
  const published: SpanRecord[] = [];
  for (const s of trace.spans) {
    const parentHex = s.attributes.traceparentParent;
    const parentId =
      s.parentId !== undefined
        ? s.parentId + DAEMON_ID_OFFSET
        : typeof parentHex === 'string'
          ? Number.parseInt(parentHex, 16)
          : undefined;
    const record = { ...s, id: s.id + DAEMON_ID_OFFSET, parentId, startNs: s.startNs + shift, endNs: s.endNs + shift };
    spanChannel.publish(record);
    published.push(record);
  }
  return published;
}

/**
 * Fetches berthd's spans of `traceId` (`GET /berth/traces/{id}`) and publishes them
 * (publishDaemonSpans); returns them as published. Only when someone collects spans:
 * otherwise no traceparent went out and there is nothing to join (none returned).
 * UNAVAILABLE when the daemon filed no span.
 */
export async function joinDaemonTrace(host: string, traceId: string): Promise<SpanRecord[]> {
  if (!spanChannel.hasSubscribers) return [];
  const trace = await new ApiClient(host, { pool: poolFor(host) }).call<DaemonTrace>('GET', `/berth/traces/${traceId}`);
  if (trace.spans.length === 0) throw unavailable(`berthd trace ${traceId}: no spans of the run were filed`);
  return publishDaemonSpans(trace);
}

/** An API client whose calls are `client` spans, each sent as the traceparent of its requests. */
export interface TracedClient {
  client: ApiClient;
  /** The W3C trace id every request of this client carries. */
  traceId: string;
  /** Runs `fn` inside a `client` span named `name`; requests sent meanwhile carry it as their parent. */
  step<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Fetches the daemon's spans of the trace, publishes and returns them (joinDaemonTrace); untraced: none. */
  join(): Promise<SpanRecord[]>;
}

/**
 * A client on `host` whose steps are `client` spans (module client) under `ctx`.
 * With `traced` (berthd) each request carries `00-<traceId>-<step span>-01` while
 * someone collects spans, and join() files the daemon's spans beneath the steps;
 * other daemons get no traceparent and join() does nothing.
 */
export function tracedClient(ctx: Context, host: string, traced = true): TracedClient {
  const traceId = randomBytes(16).toString('hex');
  let parent = '';
  const client = new ApiClient(host, {
    pool: poolFor(host),
    traceparent: () => (parent === '' || !traced ? undefined : `00-${traceId}-${parent}-01`),
  });
  let stepped = false;
  return {
    client,
    traceId,
    async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
      const { span } = startSpan(ctx, 'client', name);
      parent = span === undefined ? '' : span.id.toString(16).padStart(16, '0');
      stepped ||= span !== undefined;
      try {
        const v = await fn();
        span?.end();
        return v;
      } catch (err) {
        span?.end(err);
        throw err;
      } finally {
        parent = '';
      }
    },
    async join() {
      return traced && stepped ? joinDaemonTrace(host, traceId) : [];
    },
  };
}
