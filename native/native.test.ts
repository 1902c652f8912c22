import { describe, expect, it } from 'vitest';
import { native } from './index.js';
import { clockBaseNs, fromMonotonicNs, nowNs } from '../engine/trace/clock.js';

describe('native core', () => {
  it('exports a version', () => {
    expect(native().version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('reads CLOCK_MONOTONIC on the same time line as process.hrtime', () => {
    const before = process.hrtime.bigint();
    const t = native().monotonicNs();
    const after = process.hrtime.bigint();
    expect(typeof t).toBe('bigint');
    expect(t >= before && t <= after).toBe(true);
    const span = fromMonotonicNs(t);
    expect(span).toBeGreaterThanOrEqual(0);
    expect(span).toBeLessThanOrEqual(nowNs());
    expect(clockBaseNs <= t).toBe(true);
  });
});
