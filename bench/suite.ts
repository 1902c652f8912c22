// The interface every benchmark suite implements (trace, pull, run, network, …):
// a suite turns the run's settings into a list of cases, and the runner measures them.
import type { Context } from '../engine/trace/index.js';
import type { ProfileSettings } from './profiles.js';
import type { Derivation, Pairing, ParameterValue, PhaseBreakdown, Profile, Stats, Unit } from './results/document.js';

/** What a suite gets when it builds its cases. */
export interface SuiteContext {
  profile: Profile;
  /** Warm-up, samples, budgets and the parameter scale of the profile. */
  settings: ProfileSettings;
  /** Targets the user asked for (every known target when none was named). */
  targets: readonly string[];
  /** Where a suite keeps temporary data (the backing store recorded in the host info). */
  dataRoot: string;
  /** The run's seed; corpora and random choices derive from it. */
  seed: number;
  /** Adds a line to the document's warnings. */
  warn(message: string): void;
}

/** What every case declares about itself; these fields go into the result document. */
export interface CaseInfo {
  suite: string;
  case: string;
  target: string;
  parameters: Record<string, ParameterValue>;
  /** Unit of the samples (micro cases: ns). */
  unit: Unit;
  direction: 'lower-is-better' | 'higher-is-better';
  /** How one sample is taken, in a sentence. The runner appends its warm-up/sample policy. */
  method: string;
  notes?: string[];
  /**
   * Cases with the same suite and group are measured interleaved (A B A B …) so
   * drift hits all alike. Default: the case name plus its parameters, so only the
   * targets of one comparison interleave.
   */
  group?: string;
}

/** A measured case's final samples and statistics, as its notes hook sees them. */
export interface FinalResult {
  info: CaseInfo;
  /** In the order taken. */
  samples: readonly number[];
  stats: Stats;
  phases: readonly PhaseBreakdown[] | null;
}

/** What a measured (micro or macro) case may add to its notes once it is done. */
export interface ResultNotesHook {
  /**
   * Notes computed from the case's final samples and stats (a goal met or not, a
   * figure measured beside the samples), appended after `notes`. Called once, after
   * every case of its group ran and the stats are computed, only when the case
   * succeeded; `group` holds the final results of the other cases of its group that
   * succeeded (e.g. the reference a goal compares to). A throw becomes a warning
   * naming the case, which keeps its other notes. Suites put such notes here rather
   * than changing `notes` during the run.
   */
  resultNotes?: (result: FinalResult, group: readonly FinalResult[]) => string[];
}

/**
 * A micro case: a fast operation run many times by tinybench; unit ns per op.
 * `fn(ops)` must perform the operation `ops` times (a loop the case owns, so the
 * call site stays monomorphic); one tinybench sample is the mean per op of that
 * batch. Async when `fn` returns a promise (set `async: true`).
 */
export interface MicroCase extends CaseInfo, ResultNotesHook {
  kind: 'micro';
  fn: (ops: number) => unknown;
  async?: boolean;
  /**
   * Minimum operations per tinybench iteration (default 1). The runner raises it
   * from the warm-up's speed so a round gives the profile's samples per round;
   * batching also amortizes the timer's own cost.
   */
  opsPerIteration?: number;
  /** Once before the case's first measurement. */
  setup?: () => void | Promise<void>;
  /** Once after the case, also when it failed. */
  teardown?: () => void | Promise<void>;
  /**
   * Before each stretch of this case's measurement (its warm-up, each round);
   * afterRun after it, always. Cases of a group interleave, so global state
   * (a diagnostics_channel subscription) belongs here, not in setup.
   */
  beforeRun?: () => void;
  afterRun?: () => void;
  /** After every tinybench iteration, untimed (e.g. clear a collector). */
  afterEach?: () => void;
}

/** What a macro sample reports: nothing (the runner times the call) or the measured value in the case's unit. */
export type SampleValue = number | void | undefined;

/**
 * A macro case: an async operation measured once per sample by the runner.
 * When `sample` returns a number it is the sample (in `unit`); otherwise the
 * runner times the call and converts to `unit` (which must be ns, us, ms or s).
 * Teardowns run also when the sample or the setup failed, and in a cancelled run (Ctrl-C) also for a case whose
 * setup was not run, so they must cope with a setup that did not happen; teardown and afterSample get a context that
 * is not cancelled with the run (clean-up runs to its end).
 */
export interface MacroCase extends CaseInfo, ResultNotesHook {
  kind: 'macro';
  setup?: (ctx: Context) => void | Promise<void>;
  teardown?: (ctx: Context) => void | Promise<void>;
  beforeSample?: (ctx: Context, index: number) => void | Promise<void>;
  afterSample?: (ctx: Context, index: number) => void | Promise<void>;
  sample: (ctx: Context, index: number) => Promise<SampleValue> | SampleValue;
  /** Collect spans around each sample and report a per-phase breakdown. */
  phases?: boolean;
  /**
   * Fewer warm-up runs or samples than the profile's for this case (each taken as the smaller of the two; never more):
   * for cases whose samples cost seconds and whose statistics hold with fewer. The runner's policy text says so.
   */
  sampling?: { warmup?: number; minSamples?: number };
}

export type CaseDef = MicroCase | MacroCase;

/** The samples a case produced, by interleaved round, as a suite's derive() sees them. */
export interface MeasuredCase {
  info: CaseInfo;
  samples: number[];
  /** samples split by interleaved round (micro) or one round holding all (macro). */
  rounds: number[][];
  /** The case's final notes: `info.notes` and then what its resultNotes hook added. */
  notes?: readonly string[];
}

/**
 * A case computed from others (e.g. an overhead = instrumented − baseline). `derived`
 * names its inputs and how they were combined; the result file records it (as case
 * keys), compare never gates on such a case (its inputs are gated) and notebooks
 * label it.
 */
export interface DerivedCase extends CaseInfo {
  samples: number[];
  derived: {
    from: readonly CaseInfo[];
    how: Derivation;
    /**
     * interleaved: sample i of each input, taken side by side; reference-median: each sample against the other input's
     * median; same-sample: one input's own samples.
     */
    pairing: Pairing;
  };
  /**
   * Lines for the document's warnings (e.g. a cross-check whose outside figure disagrees with
   * berth's); the runner adds them once, from the call whose cases it keeps.
   */
  warnings?: readonly string[];
}

export interface Suite {
  name: string;
  description: string;
  /** Targets this suite can measure (berth, docker, runc, …). */
  targets?: string[];
  /** A reason to skip the whole suite on this host ("needs root", "crun not installed"), or undefined. */
  requires?: (dataRoot: string) => Promise<string | undefined>;
  cases(ctx: SuiteContext): CaseDef[];
  /**
   * Cases computed from measured ones, after all cases of the suite ran. Gets only
   * the cases that succeeded (in the order the suite listed them), so it must leave
   * out a derived case whose inputs are missing and keep the others. When cases
   * failed, the runner calls it once more with stand-ins (one sample each) for the
   * failed ones, only to name in a warning the derived cases that were left out
   * (it discards that call's result): so it must not depend on being called once.
   */
  derive?: (measured: readonly MeasuredCase[]) => DerivedCase[];
}

/** A suite as the registry lists it: built ones load lazily, the others are reported as not built. */
export interface RegisteredSuite {
  name: string;
  description: string;
  load?: () => Promise<Suite>;
}
