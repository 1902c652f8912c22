// berthd's spans of one traced request sequence, joined into this process's span
// channel: shared by the suites that drive a private berthd over its socket (run,
// lifecycle), so their phases show the client's calls with the daemon's work beneath.
import { ApiClient } from '../../engine/client/api-client.js';
import { unavailable } from '../../engine/errdefs/errors.js';
import { clockBaseNs, spanChannel, type SpanRecord } from '../../engine/trace/index.js';

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
 * listening around the sample (the runner's phases) sees one tree.
 */
export function publishDaemonSpans(trace: DaemonTrace): number {
  const shift = Number(BigInt(trace.clockBaseNs) - clockBaseNs);
  for (const s of trace.spans) {
    const parentHex = s.attributes.traceparentParent;
    const parentId =
      s.parentId !== undefined
        ? s.parentId + DAEMON_ID_OFFSET
        : typeof parentHex === 'string'
          ? Number.parseInt(parentHex, 16)
          : undefined;
    spanChannel.publish({
      ...s,
      id: s.id + DAEMON_ID_OFFSET,
      parentId,
      startNs: s.startNs + shift,
      endNs: s.endNs + shift,
    });
  }
  return trace.spans.length;
}

/**
 * Fetches berthd's spans of `traceId` (`GET /berth/traces/{id}`) and publishes them
 * (publishDaemonSpans). Only when someone collects spans: otherwise no traceparent
 * went out and there is nothing to join. UNAVAILABLE when the daemon filed no span.
 */
export async function joinDaemonTrace(host: string, traceId: string): Promise<void> {
  if (!spanChannel.hasSubscribers) return;
  const trace = await new ApiClient(host).call<DaemonTrace>('GET', `/berth/traces/${traceId}`);
  if (trace.spans.length === 0) throw unavailable(`berthd trace ${traceId}: no spans of the run were filed`);
  publishDaemonSpans(trace);
}
