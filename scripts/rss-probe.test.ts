// rss-probe's smaps breakdown: every resident page of a process counted once, under the kind of its mapping.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { positiveCount, smapsBreakdown } from './rss-probe.js';

describe('smapsBreakdown', () => {
  it("sums to the process's Rss and names the node binary's text, the brk heap and V8's pages", () => {
    const parts = smapsBreakdown(process.pid);
    const rollup = Number(/^Rss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${process.pid}/smaps_rollup`, 'utf8'))![1]);
    const sum = Object.values(parts).reduce((a, b) => a + b, 0);
    // two reads of a running process: the same within what it touched between them
    expect(Math.abs(sum - rollup)).toBeLessThan(rollup * 0.05);
    expect(parts['node r-xp']).toBeGreaterThan(1024);
    expect(parts.brk).toBeGreaterThan(0);
    expect(parts['v8 page']).toBeGreaterThan(256);
  });

  it('refuses a process that does not exist, naming its smaps', () => {
    expect(() => smapsBreakdown(2 ** 22 + 1)).toThrow(/\/proc\/4194305\/smaps/);
  });
});

describe('positiveCount', () => {
  it('takes a whole number of 1 or more and refuses anything else, naming the option', () => {
    expect(positiveCount('3', 'rounds')).toBe(3);
    for (const bad of ['0', '-1', '1.5', 'abc', '', '3x'])
      expect(() => positiveCount(bad, 'runs')).toThrow(/--runs .*whole number of 1 or more/);
  });
});
