// Docker's health check rules as tables: the merge over the image's check, the
// probe command, the folding of results (streak, start period, five kept), the
// output cut, and Go's duration text in the timeout message.
import { describe, expect, it } from 'vitest';
import type { Health } from '../api/types.js';
import {
  applyProbeResult,
  goDuration,
  mergeHealthcheck,
  OutputBuffer,
  probeCommand,
  startingHealth,
} from './health.js';

const result = (exitCode: number, startMs: number) => ({
  Start: new Date(startMs).toISOString(),
  End: new Date(startMs + 1).toISOString(),
  ExitCode: exitCode,
  Output: '',
});

describe('health check rules', () => {
  it('merges the request over the image field by field', () => {
    const image = { Test: ['CMD', 'a'], Interval: 5, Timeout: 6, Retries: 2 };
    expect(mergeHealthcheck(undefined, image)).toEqual(image);
    expect(mergeHealthcheck({ Retries: 9 }, image)).toEqual({ ...image, Retries: 9 });
    expect(mergeHealthcheck({ Test: ['NONE'] }, image)).toMatchObject({ Test: ['NONE'] });
    expect(mergeHealthcheck({ Test: ['CMD', 'b'] }, undefined)).toEqual({ Test: ['CMD', 'b'] });
  });

  it.each([
    [{ Test: ['CMD', '/bin/check', '-q'] }, ['/bin/check', '-q']],
    [{ Test: ['CMD-SHELL', 'curl -f x || exit 1'] }, ['/bin/sh', '-c', 'curl -f x || exit 1']],
    [{ Test: ['NONE'] }, undefined],
    [{ Test: [] }, undefined],
    [undefined, undefined],
  ])('probe command of %j', (hc, argv) => {
    expect(probeCommand(hc)).toEqual(argv);
  });

  it('counts failures to unhealthy, not within the start period, and keeps five results', () => {
    const started = Date.parse('2026-01-01T00:00:00Z');
    const h: Health = startingHealth(undefined);
    const opts = { retries: 2, startPeriodMs: 1000, startedAt: new Date(started).toISOString() };
    applyProbeResult(h, result(1, started + 100), opts);
    expect(h).toMatchObject({ Status: 'starting', FailingStreak: 0 });
    applyProbeResult(h, result(1, started + 2000), opts);
    expect(h).toMatchObject({ Status: 'starting', FailingStreak: 1 });
    expect(applyProbeResult(h, result(2, started + 3000), opts)).toBe('starting');
    expect(h).toMatchObject({ Status: 'unhealthy', FailingStreak: 2 });
    applyProbeResult(h, result(0, started + 4000), opts);
    expect(h).toMatchObject({ Status: 'healthy', FailingStreak: 0 });
    for (let i = 0; i < 4; i++) applyProbeResult(h, result(1, started + 5000 + i), opts);
    expect(h.Log).toHaveLength(5);
    expect(h.Status).toBe('unhealthy');
    expect(startingHealth(h)).toMatchObject({ Status: 'starting', FailingStreak: 0, Log: h.Log });
  });

  it('cuts output at 4096 bytes with ...', () => {
    const out = new OutputBuffer();
    out.write(Buffer.alloc(4000, 'a'));
    expect(out.toString()).toHaveLength(4000);
    out.write(Buffer.alloc(200, 'b'));
    expect(out.toString()).toBe(`${'a'.repeat(4000)}${'b'.repeat(96)}...`);
  });

  it.each([
    [0, '0s'],
    [300, '300ms'],
    [1500, '1.5s'],
    [30_000, '30s'],
    [90_000, '1m30s'],
    [3_600_000, '1h0m0s'],
  ])('goDuration(%d) = %s', (ms, text) => {
    expect(goDuration(ms)).toBe(text);
  });
});
