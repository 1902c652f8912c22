// A known, test-only slowdown of chosen cases (BERTH_BENCH_INJECT_DELAY), so the
// regression check's detection rate can be measured against a change of known size.
import { invalidArgument } from '../engine/errdefs/errors.js';
import type { InjectedDelay } from './results/document.js';
import type { CaseInfo } from './suite.js';

/** The environment variable that asks for the delay. */
export const INJECT_DELAY_ENV = 'BERTH_BENCH_INJECT_DELAY';

const SPEC = /^\s*([A-Za-z0-9._-]+)\/([A-Za-z0-9._-]+)((?:\s+[A-Za-z0-9._-]+=[^\s=]+)*)\s*:\s*(\d+(?:\.\d+)?)\s*%\s*$/;

/**
 * Parses `<suite>/<case> [k=v …]:<percent>%`, e.g. `trace/call mode=sync tracing=plain:10%`
 * or `runtime/create-start-exit target=berth level=in-process:25%`: every case of that
 * suite and name whose parameters (and, for `target=`, target) print as given is slowed
 * by busy-waiting that percentage of each timed operation's own time. Undefined for an
 * empty or absent value; INVALID_ARGUMENT naming the variable for anything else. Pure.
 */
export function parseInjectDelay(spec: string | undefined): InjectedDelay | undefined {
  if (spec === undefined || spec.trim() === '') return undefined;
  const m = SPEC.exec(spec);
  if (m === null)
    throw invalidArgument(
      `${INJECT_DELAY_ENV} ${JSON.stringify(spec)}: expected <suite>/<case> [k=v …]:<percent>%, e.g. trace/call mode=sync:10%`,
    );
  const fraction = Number(m[4]) / 100;
  if (!(fraction > 0 && fraction <= 10))
    throw invalidArgument(`${INJECT_DELAY_ENV} ${JSON.stringify(spec)}: the percentage must be within (0, 1000]`);
  const parameters: Record<string, string> = {};
  for (const pair of m[3].trim().split(/\s+/).filter(Boolean)) {
    const [k, v] = pair.split('=');
    parameters[k] = v;
  }
  return { spec, suite: m[1], case: m[2], parameters, fraction };
}

/** Whether `delay` applies to case `c`. Pure. */
export function delayApplies(delay: InjectedDelay | undefined | null, c: CaseInfo): boolean {
  if (delay === undefined || delay === null || delay.suite !== c.suite || delay.case !== c.case) return false;
  return Object.entries(delay.parameters).every(([k, v]) =>
    k === 'target' ? c.target === v : k in c.parameters && String(c.parameters[k]) === v,
  );
}

/** Busy-waits `ns` nanoseconds on the monotonic clock (a sleep would add the timer's slack). */
export function spinNs(ns: number): void {
  if (!(ns > 0)) return;
  const until = process.hrtime.bigint() + BigInt(Math.round(ns));
  while (process.hrtime.bigint() < until) {
    // spin
  }
}

/** The note a delayed case carries, so nobody mistakes its figures for berth's own. */
export function delayNote(delay: InjectedDelay): string {
  return `Test-only slowdown injected (${INJECT_DELAY_ENV}=${delay.spec}): each timed operation was followed, inside the timing, by a busy-wait of ${(delay.fraction * 100).toFixed(1)} % of its own time (a case timing itself inside a C child: its figure scaled by ${(1 + delay.fraction).toFixed(3)}).`;
}
