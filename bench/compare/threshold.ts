// Regression thresholds: one default and per-case bounds (in the spirit of Kata's
// checkmetrics), read from a small JSON file and looked up by case identity.
import { invalidArgument } from '../../engine/errdefs/errors.js';
import type { ParameterValue } from '../results/document.js';
import type { CaseIdentity } from './case-key.js';
import { readJsonFile } from '../read-json.js';

/** The threshold when neither the command line nor a bounds file names one: 10 %. */
export const DEFAULT_THRESHOLD = 0.1;

/** One per-case bound; absent fields match any case. */
export interface CaseBound {
  suite: string;
  case?: string;
  target?: string;
  /** Matches when every listed parameter has this value (a subset match). */
  parameters?: Record<string, ParameterValue>;
  /** Allowed worsening as a fraction (0.25 = 25 %). */
  threshold: number;
}

export interface Bounds {
  /** Default threshold as a fraction, when the file sets one. */
  threshold?: number;
  /** Checked in file order; the first that matches wins (list specific before general). */
  cases: CaseBound[];
}

/**
 * Parses a threshold as a percentage: `10%`, `10` and `2.5%` mean 10 %, 10 % and
 * 2.5 % and come back as fractions (0.1, 0.1, 0.025). Fails with INVALID_ARGUMENT
 * naming `subject` for anything else, negative values included. Pure.
 */
export function parseThreshold(value: string | number, subject = 'threshold'): number {
  const text = typeof value === 'number' ? String(value) : value.trim();
  const m = /^(\d+(?:\.\d+)?)\s*%?$/.exec(text);
  if (m === null) throw invalidArgument(`${subject} ${JSON.stringify(value)}: expected a percentage such as 10%`);
  const percent = Number(m[1]);
  if (!Number.isFinite(percent)) throw invalidArgument(`${subject} ${JSON.stringify(value)}: not a finite percentage`);
  return percent / 100;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a parsed bounds document: `{ "threshold": "10%", "cases": [{ "suite": "run",
 * "case": "start", "target": "berth", "parameters": {"image": "busybox"},
 * "threshold": "25%" }] }`. Thresholds are percentages (strings with or without `%`,
 * or numbers meaning percent). Fails with INVALID_ARGUMENT naming `subject` and the
 * offending entry. Pure.
 */
export function parseBounds(doc: unknown, subject = 'bounds'): Bounds {
  if (!isRecord(doc)) throw invalidArgument(`${subject}: must be a JSON object`);
  for (const key of Object.keys(doc)) {
    if (key !== 'threshold' && key !== 'cases')
      throw invalidArgument(`${subject}: unknown property '${key}' (expected threshold, cases)`);
  }
  const bounds: Bounds = { cases: [] };
  if (doc.threshold !== undefined) bounds.threshold = thresholdField(doc.threshold, `${subject}: threshold`);
  if (doc.cases === undefined) return bounds;
  if (!Array.isArray(doc.cases)) throw invalidArgument(`${subject}: cases must be an array`);
  doc.cases.forEach((entry, i) => {
    const at = `${subject}: cases[${i}]`;
    if (!isRecord(entry)) throw invalidArgument(`${at}: must be an object`);
    for (const key of Object.keys(entry)) {
      if (!['suite', 'case', 'target', 'parameters', 'threshold'].includes(key))
        throw invalidArgument(`${at}: unknown property '${key}'`);
    }
    if (typeof entry.suite !== 'string' || entry.suite === '')
      throw invalidArgument(`${at}: suite must be a non-empty string`);
    for (const key of ['case', 'target'] as const) {
      if (entry[key] !== undefined && typeof entry[key] !== 'string')
        throw invalidArgument(`${at}: ${key} must be a string`);
    }
    if (entry.parameters !== undefined) {
      if (!isRecord(entry.parameters)) throw invalidArgument(`${at}: parameters must be an object`);
      for (const [k, v] of Object.entries(entry.parameters)) {
        if (!['string', 'number', 'boolean'].includes(typeof v))
          throw invalidArgument(`${at}: parameter ${k} must be a string, number or boolean`);
      }
    }
    if (entry.threshold === undefined) throw invalidArgument(`${at}: missing threshold`);
    bounds.cases.push({
      suite: entry.suite,
      case: entry.case as string | undefined,
      target: entry.target as string | undefined,
      parameters: entry.parameters as Record<string, ParameterValue> | undefined,
      threshold: thresholdField(entry.threshold, `${at}: threshold`),
    });
  });
  return bounds;
}

function thresholdField(v: unknown, subject: string): number {
  if (typeof v !== 'string' && typeof v !== 'number')
    throw invalidArgument(`${subject}: must be a percentage such as "10%"`);
  return parseThreshold(v, subject);
}

/** Reads and checks a bounds file; errors start with `bounds file <path>`. */
export async function readBounds(path: string): Promise<Bounds> {
  const subject = `bounds file ${path}`;
  return parseBounds(await readJsonFile(path, subject), subject);
}

/** Whether `bound` applies to case `c`. */
export function boundMatches(bound: CaseBound, c: CaseIdentity): boolean {
  if (bound.suite !== c.suite) return false;
  if (bound.case !== undefined && bound.case !== c.case) return false;
  if (bound.target !== undefined && bound.target !== c.target) return false;
  for (const [k, v] of Object.entries(bound.parameters ?? {})) {
    if (c.parameters[k] !== v) return false;
  }
  return true;
}

/**
 * The threshold for case `c`: the first matching per-case bound, else `fallback`
 * (the command line's), else the bounds file's default, else DEFAULT_THRESHOLD.
 */
export function thresholdFor(c: CaseIdentity, bounds: Bounds | undefined, fallback: number | undefined): number {
  const hit = bounds?.cases.find((b) => boundMatches(b, c));
  return hit?.threshold ?? fallback ?? bounds?.threshold ?? DEFAULT_THRESHOLD;
}
