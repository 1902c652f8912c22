// The shape of a result document, as results/schema/result.schema.json defines it.
// The schema is the contract (notebooks, figures and compare read only what it
// promises); these types mirror it for the TypeScript that writes and reads it.

/** The version this harness writes; readers also accept version 1 files and migrate them (migrate.ts). */
export const SCHEMA_VERSION = 2 as const;
/** Every version a reader accepts. */
export type SchemaVersion = 1 | 2;

export const PROFILES = ['quick', 'default', 'full'] as const;
export type Profile = (typeof PROFILES)[number];

/** The units a case may report in; the schema rejects any other. */
export const UNITS = [
  'ns',
  'us',
  'ms',
  's',
  'B',
  'KiB',
  'MiB',
  'B/s',
  'MiB/s',
  'Gbit/s',
  'ops/s',
  'count',
  'ratio',
  'percent',
] as const;
export type Unit = (typeof UNITS)[number];

export type ParameterValue = string | number | boolean;

export interface ResultDocument {
  schemaVersion: SchemaVersion;
  run: RunInfo;
  host: HostInfo;
  /** Every suite that was asked for, with what became of it. */
  suites: SuiteOutcome[];
  cases: CaseResult[];
  /** Things a reader must know (host busy, a peer skipped, a quirk worked around). */
  warnings: string[];
}

export interface RunInfo {
  id: string;
  startedAt: string; // ISO 8601
  finishedAt: string; // ISO 8601
  gitCommit: string | null;
  gitDirty: boolean | null;
  profile: Profile;
  argv: string[];
  seed: number;
  berthVersion: string;
  /** CPU the benchmark process was pinned to, if any. */
  cpuPinning: number[] | null;
  /** Present when the document merges several runs of the profile (bench --repeat, a multi-run baseline). */
  repeat?: { runs: number; runIds: string[] };
  /** The test-only slowdown of BERTH_BENCH_INJECT_DELAY, when one was injected. */
  injectedDelay?: InjectedDelay | null;
}

/** A known slowdown injected into some cases (the A/B detection experiment). */
export interface InjectedDelay {
  /** BERTH_BENCH_INJECT_DELAY as given. */
  spec: string;
  suite: string;
  case: string;
  /** Parameters (and `target`) a delayed case must have, as strings; empty: every case of the name. */
  parameters: Record<string, string>;
  /** Busy-wait added as a fraction of each timed operation's own time. */
  fraction: number;
}

export interface PeerInfo {
  found: boolean;
  version: string | null;
  path: string | null;
}

export interface HostInfo {
  hostname: string;
  kernel: string; // uname -r
  os: string; // PRETTY_NAME of /etc/os-release
  arch: string;
  /** `cores` counts logical CPUs (processor entries of /proc/cpuinfo); null when unknown. */
  cpu: { model: string; cores: number | null; mhz: number | null };
  memoryBytes: number;
  /**
   * The filesystem the data root lives on: the mount whose mount point is the longest
   * prefix of the data root's real path. `mountOptions` are the per-mount options,
   * `superOptions` the filesystem's own (e.g. `discard`).
   */
  dataRoot: {
    path: string;
    filesystem: string;
    mountPoint: string | null;
    mountSource: string | null;
    mountOptions: string | null;
    superOptions: string | null;
  };
  /** v1: only v1 hierarchies; v2: unified only; hybrid: v1 controllers plus a cgroup2 mount. */
  cgroup: { version: 'v1' | 'v2' | 'hybrid'; v2Path: string | null; controllers: string[] };
  node: string;
  loadAverage: [number, number, number];
  /**
   * docker, dockerd, containerd, podman, runc, crun, docker-registry, skopeo, umoci,
   * iperf3, hyperfine (and more as suites need them), each found or not.
   */
  peers: Record<string, PeerInfo>;
  /**
   * A short hash (16 hex digits) of the fields that make two hosts comparable: arch,
   * CPU model, cores, memory (MiB), kernel, data root filesystem, cgroup version.
   */
  fingerprint: string;
}

export interface SuiteOutcome {
  name: string;
  status: 'ran' | 'skipped' | 'not-built' | 'failed';
  reason: string | null;
  durationMs: number | null;
}

export interface Stats {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  stddev: number;
  /** Bootstrap confidence interval of the median. */
  ci95: { low: number; high: number; level: number; resamples: number; method: 'bootstrap-percentile' };
}

export interface PhaseBreakdown {
  /** Span name, e.g. `graphdriver.overlay2.get`. */
  name: string;
  module: string;
  /** Calls of this span per operation (mean over samples). */
  callsPerOp: number;
  /** Self and total time per operation, always in nanoseconds. */
  selfNs: { p50: number; mean: number };
  totalNs: { p50: number; mean: number };
  /** Samples in which the span appeared (the figures above are over those); absent in older files. */
  samples?: number;
}

/** How a derived case was computed (see result.schema.json `derivation`). */
export const DERIVATIONS = ['ratio', 'difference', 'throughput', 'scaled', 'recorded-alongside'] as const;
export type Derivation = (typeof DERIVATIONS)[number];
export type Pairing = 'interleaved' | 'reference-median' | 'same-sample' | 'unknown';

export interface DerivedFrom {
  /** Case keys (bench/compare/case-key.ts) of the inputs. */
  from: string[];
  how: Derivation;
  pairing: Pairing;
}

/** Between-run spread of a case measured in several runs. */
export interface RunSpread {
  /** Run index of each sample, parallel to `samples`. */
  sampleRun: number[];
  perRun: { run: number; n: number; p50: number }[];
  relativeStddev: number | null;
  ci95: { low: number; high: number; level: number; resamples: number; method: 'hierarchical-bootstrap' };
}

export interface CaseResult {
  suite: string;
  case: string;
  target: string;
  parameters: Record<string, ParameterValue>;
  /**
   * Unit of samples and stats, one of UNITS (the schema enforces it). Typed `string`
   * so suites may carry a unit through; prefer `Unit` where one is written.
   */
  unit: string;
  direction: 'lower-is-better' | 'higher-is-better';
  /** How the samples were taken, in a sentence (tool, warm-up, what one sample times). */
  method: string;
  warmup: number;
  /** In the order taken (not sorted). */
  samples: number[];
  stats: Stats;
  phases: PhaseBreakdown[] | null;
  notes: string[];
  /** Present when the case was computed from other cases: never gated on by compare. */
  derived?: DerivedFrom;
  /** Present when the document holds several runs. */
  runs?: RunSpread;
}
