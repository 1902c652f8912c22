// One line of results/history.jsonl: a run reduced to each case's median and interval,
// to follow a metric across commits. Browser-safe (the history notebook imports it).
import type { CaseResult, ResultDocument } from '../results/document.js';
import { caseKey } from './case-key.js';

export const HISTORY_VERSION = 1 as const;

export interface HistoryCase {
  key: string;
  suite: string;
  case: string;
  target: string;
  parameters: CaseResult['parameters'];
  unit: string;
  direction: CaseResult['direction'];
  n: number;
  p50: number;
  low: number;
  high: number;
  /** How the case was derived from others (ratio, difference, …), when it was; absent for measured cases. */
  derived?: string;
}

export interface HistoryLine {
  historyVersion: typeof HISTORY_VERSION;
  runId: string;
  startedAt: string;
  gitCommit: string | null;
  gitDirty: boolean | null;
  profile: string;
  berthVersion: string;
  hostname: string;
  hostFingerprint: string;
  /** The result file the line was made from, as given when it was appended. */
  file: string;
  cases: HistoryCase[];
}

/** The history line of a validated result document. Pure. */
export function historyLine(doc: ResultDocument, file: string): HistoryLine {
  return {
    historyVersion: HISTORY_VERSION,
    runId: doc.run.id,
    startedAt: doc.run.startedAt,
    gitCommit: doc.run.gitCommit,
    gitDirty: doc.run.gitDirty,
    profile: doc.run.profile,
    berthVersion: doc.run.berthVersion,
    hostname: doc.host.hostname,
    hostFingerprint: doc.host.fingerprint,
    file,
    cases: doc.cases.map((c) => ({
      key: caseKey(c),
      suite: c.suite,
      case: c.case,
      target: c.target,
      parameters: c.parameters,
      unit: c.unit,
      direction: c.direction,
      n: c.stats.n,
      p50: c.stats.p50,
      low: c.stats.ci95.low,
      high: c.stats.ci95.high,
      ...(c.derived !== undefined ? { derived: c.derived.how } : {}),
    })),
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses history.jsonl text: one JSON object per non-empty line. Throws an Error
 * naming `subject` and the line number when a line is not JSON or lacks the fields
 * a line must have (historyVersion 1, runId, startedAt, cases with key, unit, p50,
 * low, high). Pure; O(size).
 */
export function parseHistory(text: string, subject = 'history'): HistoryLine[] {
  const lines: HistoryLine[] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    const at = `${subject} line ${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (err) {
      throw new Error(`${at}: not JSON: ${(err as Error).message}`);
    }
    if (!isRecord(v) || v.historyVersion !== HISTORY_VERSION)
      throw new Error(`${at}: not a history line of version ${HISTORY_VERSION}`);
    if (typeof v.runId !== 'string' || typeof v.startedAt !== 'string' || Number.isNaN(Date.parse(v.startedAt)))
      throw new Error(`${at}: runId and startedAt (a date) are required`);
    if (!Array.isArray(v.cases)) throw new Error(`${at}: cases must be an array`);
    v.cases.forEach((c, j) => {
      if (
        !isRecord(c) ||
        typeof c.key !== 'string' ||
        typeof c.unit !== 'string' ||
        ![c.p50, c.low, c.high].every((x) => typeof x === 'number')
      ) {
        throw new Error(`${at}: cases[${j}] needs key, unit, p50, low and high`);
      }
    });
    lines.push(v as unknown as HistoryLine);
  });
  return lines;
}
