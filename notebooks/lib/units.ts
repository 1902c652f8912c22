// Unit conversion for charts: cases of one chart may report in different units of one
// family (ms and us, MiB/s and Gbit/s); a chart shows them in one unit.

/** Size of one unit in its family's base unit (ns for time, B for size, B/s for rate). */
const FAMILIES: Record<string, Record<string, number>> = {
  time: { ns: 1, us: 1e3, ms: 1e6, s: 1e9 },
  size: { B: 1, KiB: 1024, MiB: 1024 * 1024 },
  rate: { 'B/s': 1, 'MiB/s': 1024 * 1024, 'Gbit/s': 1e9 / 8 },
};

/** time, size, rate, or the unit itself for units without relatives (ops/s, count, …). */
export function unitFamily(unit: string): string {
  for (const [family, units] of Object.entries(FAMILIES)) if (unit in units) return family;
  return unit;
}

export const isTimeUnit = (unit: string): boolean => unitFamily(unit) === 'time';
/** Rates and throughputs: what a "throughput" chart shows. */
export const isRateUnit = (unit: string): boolean => unitFamily(unit) === 'rate' || unit === 'ops/s';

/**
 * `value` in `from` expressed in `to`. Fails (throws Error naming both) when the two
 * units are not of one family. Pure.
 */
export function convert(value: number, from: string, to: string): number {
  if (from === to) return value;
  const family = FAMILIES[unitFamily(from)];
  if (family === undefined || !(to in family)) throw new Error(`unit ${from}: cannot be converted to ${to}`);
  return (value * family[from]) / family[to];
}

/**
 * The unit a chart shows a set of values in: for times the largest of ns/us/ms/s in
 * which the median value is at least 1, for other families the most frequent unit.
 */
export function displayUnit(values: { unit: string; value: number }[]): string {
  if (values.length === 0) return '';
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v.unit, (counts.get(v.unit) ?? 0) + 1);
  const common = [...counts].sort((a, b) => b[1] - a[1])[0][0];
  if (!isTimeUnit(common)) return common;
  const ns = values.map((v) => convert(v.value, v.unit, 'ns')).sort((a, b) => a - b);
  const median = ns[Math.floor(ns.length / 2)];
  return median >= 1e9 ? 's' : median >= 1e6 ? 'ms' : median >= 1e3 ? 'us' : 'ns';
}

/** The unit as an axis label shows it (us → µs). */
export function unitLabel(unit: string): string {
  return unit === 'us' ? 'µs' : unit;
}
