// The shape of a result document, as results/schema/result.schema.json defines it.
// The schema is the contract (notebooks, figures and compare read only what it
// promises); these types mirror it for the TypeScript that writes and reads it.

export const SCHEMA_VERSION = 1 as const;

export type Profile = 'quick' | 'default' | 'full';

export type ParameterValue = string | number | boolean;

export interface ResultDocument {
  schemaVersion: typeof SCHEMA_VERSION;
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
  cpu: { model: string; cores: number; mhz: number | null };
  memoryBytes: number;
  dataRoot: { path: string; filesystem: string; mountSource: string | null; mountOptions: string | null };
  cgroup: { version: 'v1' | 'v2' | 'hybrid'; v2Path: string | null; controllers: string[] };
  node: string;
  loadAverage: [number, number, number];
  /** docker, containerd, podman, runc, crun, docker-registry, skopeo, iperf3 (and more as suites need them). */
  peers: Record<string, PeerInfo>;
  /** A short hash of the fields that make two hosts comparable (cpu, cores, memory, kernel, fs). */
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
}

export interface CaseResult {
  suite: string;
  case: string;
  target: string;
  parameters: Record<string, ParameterValue>;
  /** Unit of samples and stats: ns, us, ms, s, B, B/s, MiB/s, ops/s, count, ratio. */
  unit: string;
  direction: 'lower-is-better' | 'higher-is-better';
  /** How the samples were taken, in a sentence (tool, warm-up, what one sample times). */
  method: string;
  warmup: number;
  samples: number[];
  stats: Stats;
  phases: PhaseBreakdown[] | null;
  notes: string[];
}
