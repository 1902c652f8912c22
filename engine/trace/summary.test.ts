// Tests of the per-phase summary: self time with overlapping parallel children,
// clipping to the parent, per-name aggregation (values computed by hand).
import { describe, expect, it } from 'vitest';
import type { SpanRecord } from './span.js';
import { formatSummary, summarize } from './summary.js';

function span(
  id: number,
  parentId: number | undefined,
  name: string,
  startNs: number,
  endNs: number,
  status: SpanRecord['status'] = 'ok',
): SpanRecord {
  return {
    id,
    traceId: 1,
    parentId,
    name,
    module: name.split('.')[0],
    startNs,
    endNs,
    attributes: {},
    status,
    error: status === 'ok' ? undefined : { code: 'X', message: 'x' },
    origin: 'node',
  };
}

describe('summarize', () => {
  // p [0,100]; children c: A [10,40], B [30,60] (overlaps A), C [80,120] (runs past p);
  // A has a child d [15,25].
  const spans = [
    span(1, undefined, 'job.p', 0, 100),
    span(2, 1, 'drv.c', 10, 40),
    span(3, 1, 'drv.c', 30, 60, 'error'),
    span(4, 1, 'drv.c', 80, 120),
    span(5, 2, 'net.d', 15, 25),
  ];

  it('merges overlapping children and clips them to the parent', () => {
    const rows = summarize(spans);
    expect(rows.map((r) => r.name)).toEqual(['drv.c', 'job.p', 'net.d']); // by self time, descending
    const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
    // p: covered = [10,60] ∪ [80,100] = 50 + 20 = 70 → self 30
    expect(byName['job.p']).toMatchObject({
      count: 1,
      totalNs: 100,
      selfNs: 30,
      minNs: 100,
      maxNs: 100,
      errors: 0,
      module: 'job',
    });
    // c: A 30 − d 10 = 20, B 30, C 40 → self 90 of total 100
    expect(byName['drv.c']).toMatchObject({ count: 3, totalNs: 100, selfNs: 90, minNs: 30, maxNs: 40, errors: 1 });
    expect(byName['drv.c'].meanNs).toBeCloseTo(100 / 3, 10);
    expect(byName['net.d']).toMatchObject({ count: 1, totalNs: 10, selfNs: 10 });
  });

  it('never gives negative self time, even when children cover the parent twice over', () => {
    const rows = summarize([
      span(1, undefined, 'a.p', 0, 10),
      span(2, 1, 'a.c', 0, 10),
      span(3, 1, 'a.c', 0, 10),
      span(4, 1, 'a.c', 2, 12),
    ]);
    expect(rows.find((r) => r.name === 'a.p')!.selfNs).toBe(0);
    expect(rows.find((r) => r.name === 'a.c')!.selfNs).toBe(30);
  });

  it('touching children count once each; an empty input gives no rows', () => {
    const rows = summarize([span(1, undefined, 'a.p', 0, 10), span(2, 1, 'a.c', 0, 4), span(3, 1, 'a.c', 4, 6)]);
    expect(rows.find((r) => r.name === 'a.p')!.selfNs).toBe(4);
    expect(summarize([])).toEqual([]);
  });

  it('formats a table with one line per span name', () => {
    const text = formatSummary(summarize(spans));
    const lines = text.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^span\s+count\s+total ms\s+self ms/);
    expect(lines[1]).toMatch(/^drv\.c\s+3\s+0\.000\s+0\.000/);
  });
});
