// Exports spans in the Chrome Trace Event Format (the JSON Perfetto and
// chrome://tracing open). Complete events ("ph":"X") must nest properly on one
// thread track, and berth's spans overlap when work runs in parallel (layers of a
// pull), so spans are laid out on lanes: a span goes on its parent's lane when it
// fits inside what is open there, otherwise on the first lane where it fits, or
// a new one. Each lane is one "thread" of the trace; times are microseconds.
import type { SpanRecord } from './span.js';

export interface ChromeTraceEvent {
  name: string;
  cat: string;
  ph: 'X' | 'M';
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: ChromeTraceEvent[];
  displayTimeUnit: 'ns' | 'ms';
  otherData?: Record<string, unknown>;
}

interface Lane {
  open: { end: number; id: number }[];
}

export function toChromeTrace(spans: readonly SpanRecord[], otherData?: Record<string, unknown>, pid = 1): ChromeTrace {
  const sorted = [...spans].sort((a, b) => a.startNs - b.startNs || b.endNs - a.endNs);
  const lanes: Lane[] = [];
  const laneOf = new Map<number, number>();
  const events: ChromeTraceEvent[] = [];

  const fits = (lane: Lane, s: SpanRecord): boolean => {
    while (lane.open.length > 0 && lane.open[lane.open.length - 1].end <= s.startNs) lane.open.pop();
    return lane.open.length === 0 || lane.open[lane.open.length - 1].end >= s.endNs;
  };

  for (const s of sorted) {
    let index = s.parentId !== undefined ? laneOf.get(s.parentId) : undefined;
    if (index === undefined || !fits(lanes[index], s)) {
      index = lanes.findIndex((l) => fits(l, s));
      if (index < 0) {
        lanes.push({ open: [] });
        index = lanes.length - 1;
      }
    }
    lanes[index].open.push({ end: s.endNs, id: s.id });
    laneOf.set(s.id, index);
    events.push({
      name: s.name,
      cat: s.module,
      ph: 'X',
      ts: s.startNs / 1000,
      dur: Math.max(0, s.endNs - s.startNs) / 1000,
      pid,
      tid: index + 1,
      args: {
        ...s.attributes,
        spanId: s.id,
        ...(s.parentId !== undefined ? { parentId: s.parentId } : {}),
        ...(s.status !== 'ok' ? { status: s.status, error: s.error?.message } : {}),
        ...(s.origin !== 'node' ? { origin: s.origin } : {}),
      },
    });
  }
  const meta: ChromeTraceEvent[] = [
    { name: 'process_name', cat: '__metadata', ph: 'M', ts: 0, pid, tid: 0, args: { name: 'berth' } },
    ...lanes.map((_, i) => ({
      name: 'thread_name',
      cat: '__metadata',
      ph: 'M' as const,
      ts: 0,
      pid,
      tid: i + 1,
      args: { name: `lane ${i + 1}` },
    })),
  ];
  return { traceEvents: [...meta, ...events], displayTimeUnit: 'ns', ...(otherData ? { otherData } : {}) };
}
