// Query parameters as Docker reads them: booleans (`1`, `true`, `True`; `0`,
// `false`, empty), integers, Unix times, and the JSON `filters` map, each failing
// with a 400 that names the parameter.
import { invalidArgument } from '../../errdefs/errors.js';
import type { Filters } from '../../jobs/job-map.js';

export function boolParam(value: string | null, name: string, fallback = false): boolean {
  if (value === null) return fallback;
  const v = value.toLowerCase();
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false' || v === '') return false;
  throw invalidArgument(`query parameter ${name}: ${JSON.stringify(value)} is not a boolean`);
}

export function intParam(value: string | null, name: string): number | undefined {
  if (value === null || value === '') return undefined;
  if (!/^-?\d+$/.test(value))
    throw invalidArgument(`query parameter ${name}: ${JSON.stringify(value)} is not an integer`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw invalidArgument(`query parameter ${name}: ${value} is out of range`);
  return n;
}

/** Unix seconds, possibly fractional (`1700000000.123456789`), or an RFC 3339 time. */
export function unixSeconds(value: string | null, name: string): number | undefined {
  if (value === null || value === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  const t = Date.parse(value);
  if (Number.isNaN(t))
    throw invalidArgument(
      `query parameter ${name}: ${JSON.stringify(value)} is neither Unix seconds nor an RFC 3339 time`,
    );
  return t / 1000;
}

/**
 * Docker's filters: `{"status":["running"]}`, or the older `{"status":{"running":true}}`.
 * Throws INVALID_ARGUMENT for anything else.
 */
export function parseFilters(value: string | null): Filters | undefined {
  if (value === null || value === '') return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch (err) {
    throw invalidArgument(`query parameter filters: malformed JSON: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw invalidArgument('query parameter filters: expected a JSON object');
  const filters: Filters = {};
  for (const [key, v] of Object.entries(raw as Record<string, unknown>)) {
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) filters[key] = v as string[];
    else if (v !== null && typeof v === 'object' && Object.values(v).every((x) => x === true))
      filters[key] = Object.keys(v);
    else throw invalidArgument(`query parameter filters: ${key} must be a list of strings`);
  }
  return filters;
}
