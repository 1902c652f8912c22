// Tests of the run profiles: each is bigger than the one before, and the helpers
// reject names that are not profiles.
import { describe, expect, it } from 'vitest';
import { isProfile, profiles, scaled } from './profiles.js';
import { PROFILES } from './results/document.js';

describe('profiles', () => {
  it('defines every profile of the schema, each taking more samples and time than the one before', () => {
    expect(Object.keys(profiles).sort()).toEqual([...PROFILES].sort());
    const order = [profiles.quick, profiles.default, profiles.full];
    for (let i = 1; i < order.length; i++) {
      const [a, b] = [order[i - 1], order[i]];
      expect(b.macro.minSamples).toBeGreaterThan(a.macro.minSamples);
      expect(b.macro.maxSamples).toBeGreaterThan(a.macro.maxSamples);
      expect(b.macro.maxTimeMs).toBeGreaterThan(a.macro.maxTimeMs);
      expect(b.micro.timeMs * b.micro.rounds).toBeGreaterThan(a.micro.timeMs * a.micro.rounds);
      expect(b.scale).toBeGreaterThan(a.scale);
    }
    for (const p of order) {
      expect(p.macro.minSamples).toBeLessThanOrEqual(p.macro.maxSamples);
      expect(p.micro.rounds).toBeGreaterThanOrEqual(2);
    }
  });

  it('isProfile accepts only profile names', () => {
    expect(isProfile('quick')).toBe(true);
    expect(isProfile('turbo')).toBe(false);
    expect(isProfile('constructor')).toBe(false);
    expect(isProfile('toString')).toBe(false);
  });

  it('scaled multiplies by the profile scale and never goes below the minimum', () => {
    expect(scaled(profiles.default, 20)).toBe(20);
    expect(scaled(profiles.quick, 20)).toBe(5);
    expect(scaled(profiles.full, 20)).toBe(40);
    expect(scaled(profiles.quick, 1)).toBe(1);
    expect(scaled(profiles.quick, 2, 3)).toBe(3);
  });
});
