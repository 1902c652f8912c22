// Docker's health check rules, without the running: the Healthcheck of a create
// request merged over the image's (HEALTHCHECK), checked, turned into the command
// a probe runs, and a probe's result folded into State.Health (status, failing
// streak, the last five results with their output cut as Docker cuts it). The
// health monitor (engine/jobs/health-monitor.ts) runs the probes.
import type { Health, HealthcheckResult, HealthConfig, HealthStatus } from '../api/types.js';
import { invalidArgument } from '../errdefs/errors.js';

const NS_PER_MS = 1_000_000;

/** Docker's defaults (daemon/health.go), in nanoseconds; retries a count. */
export const HEALTH_DEFAULTS = {
  interval: 30_000 * NS_PER_MS,
  timeout: 30_000 * NS_PER_MS,
  startPeriod: 0,
  startInterval: 5_000 * NS_PER_MS,
  retries: 3,
} as const;

/** Results kept in State.Health.Log. */
export const MAX_LOG_ENTRIES = 5;
/** Bytes of a probe's output kept; more is cut and marked with `...`. */
export const MAX_OUTPUT_LEN = 4096;

const DURATIONS = ['Interval', 'Timeout', 'StartPeriod', 'StartInterval'] as const;

/**
 * Docker's merge of a request's Healthcheck over the image's: no request check
 * takes the image's; an empty Test takes the image's Test, and each zero
 * duration or retry count the image's value.
 */
export function mergeHealthcheck(
  req: HealthConfig | null | undefined,
  image: HealthConfig | null | undefined,
): HealthConfig | undefined {
  if (req === undefined || req === null) return image ?? undefined;
  const out: HealthConfig = { ...req };
  if (image === undefined || image === null) return out;
  if (!out.Test || out.Test.length === 0) out.Test = image.Test ?? [];
  for (const k of [...DURATIONS, 'Retries'] as const) if (!out[k] && image[k]) out[k] = image[k];
  return out;
}

/**
 * Checks a (merged) Healthcheck as Docker's daemon does: each duration 0 or at
 * least 1ms, retries not negative, a known test type. INVALID_ARGUMENT naming the field.
 */
export function checkHealthcheck(hc: HealthConfig | null | undefined): void {
  if (hc === undefined || hc === null) return;
  if (typeof hc !== 'object' || Array.isArray(hc)) throw invalidArgument('Healthcheck: expected an object');
  for (const k of DURATIONS) {
    const v = hc[k];
    if (v === undefined || v === null || v === 0) continue;
    if (typeof v !== 'number' || !Number.isInteger(v))
      throw invalidArgument(`Healthcheck: ${k} ${JSON.stringify(v)}: expected nanoseconds`);
    if (v < NS_PER_MS) throw invalidArgument(`Healthcheck: ${k} in Healthcheck cannot be less than 1ms`);
  }
  const r = hc.Retries;
  if (r !== undefined && r !== null && (typeof r !== 'number' || !Number.isInteger(r) || r < 0))
    throw invalidArgument(`Healthcheck: Retries ${JSON.stringify(r)}: cannot be negative`);
  const test = hc.Test;
  if (test === undefined || test === null || test.length === 0) return;
  if (!Array.isArray(test) || test.some((t) => typeof t !== 'string'))
    throw invalidArgument('Healthcheck: Test must be a list of strings');
  if (!['NONE', 'CMD', 'CMD-SHELL'].includes(test[0]!))
    throw invalidArgument(`Healthcheck: unknown test type ${JSON.stringify(test[0])}: expected NONE, CMD or CMD-SHELL`);
  if (test[0] !== 'NONE' && test.length < 2) throw invalidArgument(`Healthcheck: ${test[0]} needs a command`);
}

/** The command a probe runs, or undefined when the container has no health check (none, NONE or empty). */
export function probeCommand(hc: HealthConfig | null | undefined): string[] | undefined {
  const test = hc?.Test;
  if (!test || test.length < 2) return undefined;
  if (test[0] === 'CMD') return test.slice(1);
  if (test[0] === 'CMD-SHELL') return ['/bin/sh', '-c', ...test.slice(1)];
  return undefined;
}

/** The timings of a check with Docker's defaults filled in, in milliseconds. */
export function healthTimings(hc: HealthConfig): {
  intervalMs: number;
  timeoutMs: number;
  startPeriodMs: number;
  startIntervalMs: number;
  retries: number;
} {
  const ms = (v: number | undefined, d: number) => (v && v > 0 ? v : d) / NS_PER_MS;
  return {
    intervalMs: ms(hc.Interval, HEALTH_DEFAULTS.interval),
    timeoutMs: ms(hc.Timeout, HEALTH_DEFAULTS.timeout),
    startPeriodMs: ms(hc.StartPeriod, HEALTH_DEFAULTS.startPeriod),
    startIntervalMs: ms(hc.StartInterval, HEALTH_DEFAULTS.startInterval),
    retries: hc.Retries && hc.Retries > 0 ? hc.Retries : HEALTH_DEFAULTS.retries,
  };
}

/** A probe's output as Docker keeps it: the first MAX_OUTPUT_LEN bytes, `...` added when more came. */
export class OutputBuffer {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  private truncated = false;

  write(data: Buffer): void {
    const keep = Math.min(MAX_OUTPUT_LEN - this.length, data.length);
    if (keep > 0) {
      this.chunks.push(data.subarray(0, keep));
      this.length += keep;
    }
    if (keep < data.length) this.truncated = true;
  }

  toString(): string {
    const out = Buffer.concat(this.chunks).toString('utf8');
    return this.truncated ? `${out}...` : out;
  }
}

/** The health a start begins with: starting, no failures, the earlier runs' log kept (as Docker keeps it). */
export function startingHealth(previous: Health | undefined): Health {
  return { Status: 'starting', FailingStreak: 0, Log: previous?.Log ?? [] };
}

/**
 * Folds one probe result into `health` (Docker's handleProbeResult): exit code 0
 * is healthy and resets the streak; anything else is a failure, not counted while
 * the container is starting within its start period; `retries` failures in a row
 * make it unhealthy. Returns the status before the result.
 */
export function applyProbeResult(
  health: Health,
  result: HealthcheckResult,
  opts: { retries: number; startPeriodMs: number; startedAt: string },
): HealthStatus {
  const before = health.Status;
  health.Log = [...health.Log, result].slice(-MAX_LOG_ENTRIES);
  if (result.ExitCode === 0) {
    health.FailingStreak = 0;
    health.Status = 'healthy';
    return before;
  }
  const inStartPeriod =
    health.Status === 'starting' && Date.parse(result.Start) - Date.parse(opts.startedAt) < opts.startPeriodMs;
  if (!inStartPeriod) {
    health.FailingStreak++;
    if (health.FailingStreak >= opts.retries) health.Status = 'unhealthy';
  }
  return before;
}

/** The health part of Docker's Status line: `health: starting`, `healthy`, `unhealthy`. */
export function healthText(status: HealthStatus): string {
  return status === 'starting' ? 'health: starting' : status;
}

/** A duration as Go's time.Duration prints it (`30s`, `500ms`, `1m30s`, `1.5s`), from milliseconds. */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}
