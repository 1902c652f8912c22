// Tests of the Chrome trace export: valid JSON, complete events that nest properly
// on every thread track (checked on randomized span trees), metadata events.
import { describe, expect, it } from 'vitest';
import { toChromeTrace, type ChromeTraceEvent } from './chrome-trace.js';
import type { SpanRecord } from './span.js';

/** A small seeded generator (mulberry32), so a failing tree can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random trees: children inside their parent, siblings often overlapping (parallel work). */
function randomSpans(seed: number): SpanRecord[] {
  const r = rng(seed);
  const spans: SpanRecord[] = [];
  let id = 1;
  const add = (parent: SpanRecord | undefined, start: number, end: number, depth: number): void => {
    const s: SpanRecord = {
      id: id++,
      traceId: parent ? parent.traceId : id - 1,
      parentId: parent?.id,
      name: `m${depth}.op${Math.floor(r() * 3)}`,
      module: `m${depth}`,
      startNs: start,
      endNs: end,
      attributes: { depth },
      status: r() < 0.1 ? 'error' : 'ok',
      error: undefined,
      origin: r() < 0.2 ? 'native' : 'node',
    };
    spans.push(s);
    if (depth >= 4 || end - start < 10) return;
    const kids = Math.floor(r() * 4);
    for (let k = 0; k < kids; k++) {
      const a = start + Math.floor(r() * (end - start));
      const b = a + Math.floor(r() * (end - a));
      add(s, a, b, depth + 1);
    }
  };
  const roots = 1 + Math.floor(r() * 3);
  for (let i = 0; i < roots; i++) {
    const a = Math.floor(r() * 1_000_000);
    add(undefined, a, a + 1 + Math.floor(r() * 2_000_000), 0);
  }
  return spans;
}

/** Every pair of complete events on one thread is either disjoint or nested. */
function checkNesting(events: readonly ChromeTraceEvent[]): void {
  const byTid = new Map<number, { start: number; end: number }[]>();
  for (const e of events) {
    if (e.ph !== 'X') continue;
    const start = Math.round(e.ts * 1000);
    const end = start + Math.round((e.dur ?? 0) * 1000);
    let list = byTid.get(e.tid);
    if (list === undefined) byTid.set(e.tid, (list = []));
    list.push({ start, end });
  }
  for (const [tid, list] of byTid) {
    list.sort((a, b) => a.start - b.start || b.end - a.end);
    const stack: { start: number; end: number }[] = [];
    for (const e of list) {
      while (stack.length > 0 && stack[stack.length - 1].end <= e.start) stack.pop();
      const top = stack[stack.length - 1];
      if (top !== undefined && e.end > top.end) {
        throw new Error(`tid ${tid}: [${e.start},${e.end}] overlaps [${top.start},${top.end}] without nesting`);
      }
      stack.push(e);
    }
  }
}

describe('toChromeTrace', () => {
  it('lays randomized span trees out so events nest properly on every lane', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const spans = randomSpans(seed);
      const trace = toChromeTrace(spans);
      const events = trace.traceEvents.filter((e) => e.ph === 'X');
      expect(events).toHaveLength(spans.length);
      expect(new Set(events.map((e) => e.args?.spanId))).toEqual(new Set(spans.map((s) => s.id)));
      expect(() => checkNesting(events), `seed ${seed}`).not.toThrow();
    }
  });

  it('is valid JSON that round-trips, with times in microseconds', () => {
    const spans = randomSpans(7);
    const trace = toChromeTrace(spans, { runId: 'r1' });
    const parsed = JSON.parse(JSON.stringify(trace)) as typeof trace;
    expect(parsed).toEqual(trace);
    expect(parsed.displayTimeUnit).toBe('ns');
    expect(parsed.otherData).toEqual({ runId: 'r1' });
    const first = spans[0];
    const ev = parsed.traceEvents.find((e) => e.args?.spanId === first.id)!;
    expect(ev.ts).toBe(first.startNs / 1000);
    expect(ev.dur).toBe((first.endNs - first.startNs) / 1000);
    expect(ev.cat).toBe(first.module);
    expect(ev.name).toBe(first.name);
  });

  it('writes process and thread metadata for every lane used', () => {
    const trace = toChromeTrace(randomSpans(3), undefined, 42);
    const meta = trace.traceEvents.filter((e) => e.ph === 'M');
    const tids = new Set(trace.traceEvents.filter((e) => e.ph === 'X').map((e) => e.tid));
    expect(meta.filter((m) => m.name === 'process_name')).toEqual([
      { name: 'process_name', cat: '__metadata', ph: 'M', ts: 0, pid: 42, tid: 0, args: { name: 'berth' } },
    ]);
    const threads = meta.filter((m) => m.name === 'thread_name');
    expect(new Set(threads.map((t) => t.tid))).toEqual(tids);
    for (const t of threads) expect(t.args).toEqual({ name: `lane ${t.tid}` });
    expect(trace.traceEvents.every((e) => e.pid === 42)).toBe(true);
  });

  it('keeps sequential children on their parent lane and moves parallel ones aside', () => {
    const base = {
      traceId: 1,
      module: 'm',
      attributes: {},
      status: 'ok' as const,
      error: undefined,
      origin: 'node' as const,
    };
    const spans: SpanRecord[] = [
      { ...base, id: 1, parentId: undefined, name: 'm.root', startNs: 0, endNs: 100_000 },
      { ...base, id: 2, parentId: 1, name: 'm.a', startNs: 10_000, endNs: 40_000 },
      { ...base, id: 3, parentId: 1, name: 'm.b', startNs: 50_000, endNs: 90_000 },
      { ...base, id: 4, parentId: 1, name: 'm.c', startNs: 60_000, endNs: 95_000 },
    ];
    const trace = toChromeTrace(spans);
    const tid = (id: number) => trace.traceEvents.find((e) => e.args?.spanId === id)!.tid;
    expect([tid(1), tid(2), tid(3)]).toEqual([1, 1, 1]);
    expect(tid(4)).not.toBe(1);
    const c = trace.traceEvents.find((e) => e.args?.spanId === 4)!;
    expect(c.args).toMatchObject({ parentId: 1 });
  });

  it('puts status, error and native origin into args', () => {
    const trace = toChromeTrace([
      {
        id: 9,
        traceId: 9,
        parentId: undefined,
        name: 'native.clone',
        module: 'native',
        startNs: 0,
        endNs: 1000,
        attributes: { flags: 'NEWNET' },
        status: 'error',
        error: { code: 'EPERM', message: 'clone: EPERM' },
        origin: 'native',
      },
    ]);
    const ev = trace.traceEvents.find((e) => e.ph === 'X')!;
    expect(ev.args).toEqual({ flags: 'NEWNET', spanId: 9, status: 'error', error: 'clone: EPERM', origin: 'native' });
  });
});
