// The monotonic clock every span uses. Node's process.hrtime.bigint() reads
// CLOCK_MONOTONIC, the same clock the native child stamps its setup steps with,
// so both kinds of timestamp land on one time line.
//
// Times are kept as Number nanoseconds since `clockBaseNs` (taken when this module
// loads): a bigint allocation per timestamp would cost more than the span itself,
// and absolute CLOCK_MONOTONIC nanoseconds stop being exact in a double after about
// 104 days of uptime.

export const clockBaseNs: bigint = process.hrtime.bigint();

/** Nanoseconds since clockBaseNs. */
export function nowNs(): number {
  return Number(process.hrtime.bigint() - clockBaseNs);
}

/** Converts an absolute CLOCK_MONOTONIC reading (e.g. from the native child) to span time. */
export function fromMonotonicNs(absolute: bigint): number {
  return Number(absolute - clockBaseNs);
}
