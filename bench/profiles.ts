// The run profiles: how much warm-up, how many samples and how much time each
// case gets. `quick` is for CI jobs, `default` is what `npm run bench` runs,
// `full` is for numbers that go into a paper.
import type { Profile } from './results/document.js';

export interface ProfileSettings {
  name: Profile;
  description: string;
  /**
   * Macro cases: warm-up runs (not recorded), then samples until maxSamples or maxTimeMs, never fewer than minSamples.
   */
  macro: { warmup: number; minSamples: number; maxSamples: number; maxTimeMs: number };
  /**
   * Micro cases (tinybench): warm-up for warmupTimeMs (at least warmupIterations),
   * then `rounds` interleaved rounds of timeMs each (at least `iterations` per round).
   * The ops per iteration are raised (from the warm-up's speed) so that a round
   * yields about `samplesPerRound` samples: enough for the statistics, few enough
   * for the bootstrap to stay cheap.
   */
  micro: {
    warmupTimeMs: number;
    warmupIterations: number;
    timeMs: number;
    iterations: number;
    rounds: number;
    samplesPerRound: number;
  };
  /** The suites a run of this profile takes when none is named ('all': every registered suite). */
  suites: 'all' | readonly string[];
  /** Suites multiply their workload sizes (layer counts, file counts, workers) by this. */
  scale: number;
}

export const profiles: Record<Profile, ProfileSettings> = {
  quick: {
    name: 'quick',
    description: 'CI jobs: a few minutes in total, wide confidence intervals',
    macro: { warmup: 1, minSamples: 5, maxSamples: 20, maxTimeMs: 5_000 },
    micro: { warmupTimeMs: 50, warmupIterations: 20, timeMs: 150, iterations: 20, rounds: 3, samplesPerRound: 100 },
    suites: 'all',
    scale: 0.25,
  },
  default: {
    name: 'default',
    description: 'npm run bench: at most 20 minutes on 2 cores',
    macro: { warmup: 3, minSamples: 10, maxSamples: 50, maxTimeMs: 30_000 },
    micro: { warmupTimeMs: 200, warmupIterations: 50, timeMs: 400, iterations: 50, rounds: 5, samplesPerRound: 200 },
    suites: 'all',
    scale: 1,
  },
  full: {
    name: 'full',
    description: 'publication numbers: many samples, long budgets',
    macro: { warmup: 5, minSamples: 30, maxSamples: 200, maxTimeMs: 120_000 },
    micro: {
      warmupTimeMs: 500,
      warmupIterations: 100,
      timeMs: 1_000,
      iterations: 100,
      rounds: 10,
      samplesPerRound: 400,
    },
    suites: 'all',
    scale: 2,
  },
};

export function isProfile(name: string): name is Profile {
  return Object.prototype.hasOwnProperty.call(profiles, name);
}

/** Scales a workload size by the profile, never below `min` (default 1). */
export function scaled(settings: ProfileSettings, size: number, min = 1): number {
  return Math.max(min, Math.round(size * settings.scale));
}
