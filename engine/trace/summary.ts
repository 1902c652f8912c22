// The per-phase summary: for each span name, how often it ran, its total time
// and its self time (the part not covered by its children). Children that run in
// parallel are merged as intervals, so self time never goes negative.
import type { SpanRecord } from './span.js';

export interface PhaseSummary {
  name: string;
  module: string;
  count: number;
  totalNs: number;
  selfNs: number;
  meanNs: number;
  minNs: number;
  maxNs: number;
  errors: number;
}

export function summarize(spans: readonly SpanRecord[]): PhaseSummary[] {
  const children = new Map<number, SpanRecord[]>();
  for (const s of spans) {
    if (s.parentId === undefined) continue;
    let list = children.get(s.parentId);
    if (list === undefined) children.set(s.parentId, (list = []));
    list.push(s);
  }
  const byName = new Map<string, PhaseSummary>();
  for (const s of spans) {
    const duration = Math.max(0, s.endNs - s.startNs);
    const self = duration - covered(s, children.get(s.id) ?? []);
    let p = byName.get(s.name);
    if (p === undefined) {
      p = {
        name: s.name,
        module: s.module,
        count: 0,
        totalNs: 0,
        selfNs: 0,
        meanNs: 0,
        minNs: Infinity,
        maxNs: 0,
        errors: 0,
      };
      byName.set(s.name, p);
    }
    p.count++;
    p.totalNs += duration;
    p.selfNs += self;
    p.minNs = Math.min(p.minNs, duration);
    p.maxNs = Math.max(p.maxNs, duration);
    if (s.status !== 'ok') p.errors++;
  }
  for (const p of byName.values()) p.meanNs = p.totalNs / p.count;
  return [...byName.values()].sort((a, b) => b.selfNs - a.selfNs);
}

/** Length of the union of the children's intervals, clipped to the parent's. */
function covered(parent: SpanRecord, kids: readonly SpanRecord[]): number {
  if (kids.length === 0) return 0;
  const iv = kids
    .map((k) => [Math.max(parent.startNs, k.startNs), Math.min(parent.endNs, k.endNs)] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let total = 0;
  let curStart = -Infinity;
  let curEnd = -Infinity;
  for (const [a, b] of iv) {
    if (a > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = a;
      curEnd = b;
    } else if (b > curEnd) curEnd = b;
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

/** A fixed-width table of the summary for a terminal. */
export function formatSummary(rows: readonly PhaseSummary[]): string {
  const ms = (ns: number) => (ns / 1e6).toFixed(3);
  const header = ['span', 'count', 'total ms', 'self ms', 'mean ms', 'max ms'];
  const lines = rows.map((r) => [r.name, String(r.count), ms(r.totalNs), ms(r.selfNs), ms(r.meanNs), ms(r.maxNs)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [fmt(header), ...lines.map(fmt)].join('\n');
}
