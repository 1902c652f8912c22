// Checks a result document against results/schema/result.schema.json and the
// invariants a schema cannot express, so no malformed result reaches disk or a chart.

import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { invalidArgument } from '../../engine/errdefs/errors.js';
import type { ResultDocument } from './document.js';
import { readJsonFile } from '../read-json.js';
import { migrateResult } from './migrate.js';

/** Where the result schema lives (the file notebooks and the compare tool read too). */
export const RESULT_SCHEMA_URL = new URL('../../results/schema/result.schema.json', import.meta.url);

/** Errors listed in one message at most; the rest are counted. */
const MAX_LISTED = 20;

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

let compiled: ValidateFunction | undefined;

/** The compiled schema validator, built on first use (a few milliseconds) and kept. */
function validator(): ValidateFunction {
  if (compiled === undefined) {
    const schema = JSON.parse(readFileSync(RESULT_SCHEMA_URL, 'utf8')) as object;
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictTuples: false, allowUnionTypes: true });
    ajv.addFormat('date-time', {
      type: 'string',
      validate: (s: string) => ISO_DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)),
    });
    compiled = ajv.compile(schema);
  }
  return compiled;
}

/** One ajv error as `<pointer>: <what is wrong>` (the experiment records' validator uses it too). */
export function describeSchemaError(e: ErrorObject): string {
  const where = e.instancePath === '' ? '/' : e.instancePath;
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'enum':
      return `${where}: must be one of ${(params.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'const':
      return `${where}: must be ${JSON.stringify(params.allowedValue)}`;
    case 'type':
      return `${where}: must be ${String(params.type).split(',').join(' or ')}`;
    case 'additionalProperties':
      return `${where}: unknown property '${String(params.additionalProperty)}'`;
    case 'required':
      return `${where}: missing required property '${String(params.missingProperty)}'`;
    case 'propertyNames':
      return `${where}: bad property name '${String(params.propertyName)}'`;
    default:
      return `${where}: ${e.message ?? e.keyword}`;
  }
}

function inOrder(values: number[]): boolean {
  return values.every((v, i) => i === 0 || values[i - 1] <= v);
}

/** Problems a schema cannot see: counts, orderings, stats that disagree with samples. */
function invariantProblems(doc: ResultDocument): string[] {
  const problems: string[] = [];
  if (Date.parse(doc.run.finishedAt) < Date.parse(doc.run.startedAt)) {
    problems.push('/run/finishedAt: is before startedAt');
  }
  doc.cases.forEach((c, i) => {
    const at = `/cases/${i}/stats`;
    const s = c.stats;
    if (s.n !== c.samples.length) problems.push(`${at}/n: is ${s.n} but there are ${c.samples.length} samples`);
    if (!inOrder([s.min, s.p50, s.p95, s.p99, s.max])) {
      problems.push(
        `${at}: min ≤ p50 ≤ p95 ≤ p99 ≤ max does not hold (${s.min}, ${s.p50}, ${s.p95}, ${s.p99}, ${s.max})`,
      );
    }
    if (!inOrder([s.ci95.low, s.p50, s.ci95.high])) {
      problems.push(`${at}/ci95: ci95.low ≤ p50 ≤ ci95.high does not hold (${s.ci95.low}, ${s.p50}, ${s.ci95.high})`);
    }
    if (c.samples.length > 0) {
      let min = Infinity;
      let max = -Infinity;
      for (const x of c.samples) {
        if (x < min) min = x;
        if (x > max) max = x;
      }
      if (s.min !== min) problems.push(`${at}/min: is ${s.min} but the smallest sample is ${min}`);
      if (s.max !== max) problems.push(`${at}/max: is ${s.max} but the largest sample is ${max}`);
    }
    if (c.runs !== undefined) {
      const runs = doc.run.repeat?.runs;
      if (runs === undefined) problems.push(`/cases/${i}/runs: present but run.repeat is absent`);
      if (c.runs.sampleRun.length !== c.samples.length)
        problems.push(
          `/cases/${i}/runs/sampleRun: has ${c.runs.sampleRun.length} entries for ${c.samples.length} samples`,
        );
      if (runs !== undefined && c.runs.sampleRun.some((r) => r >= runs))
        problems.push(`/cases/${i}/runs/sampleRun: names a run ≥ run.repeat.runs (${runs})`);
      const counted = c.runs.perRun.reduce((sum, r) => sum + r.n, 0);
      if (counted !== c.samples.length)
        problems.push(`/cases/${i}/runs/perRun: counts ${counted} samples, the case has ${c.samples.length}`);
    }
  });
  if (doc.run.repeat !== undefined && doc.run.repeat.runIds.length !== doc.run.repeat.runs) {
    problems.push(`/run/repeat/runIds: has ${doc.run.repeat.runIds.length} ids for ${doc.run.repeat.runs} runs`);
  }
  return problems;
}

/**
 * Every problem of `doc` as `<JSON pointer>: <problem>` lines, schema errors first,
 * then invariants (checked only once the schema holds); empty when valid. Never throws.
 */
export function resultProblems(doc: unknown): string[] {
  const validate = validator();
  if (!validate(doc)) {
    return [...new Set((validate.errors ?? []).map(describeSchemaError))];
  }
  return invariantProblems(doc as ResultDocument);
}

/**
 * Returns `doc` typed as a ResultDocument when it follows the schema and its
 * invariants (stats.n equals the sample count, min ≤ p50 ≤ p95 ≤ p99 ≤ max,
 * ci95.low ≤ p50 ≤ ci95.high, min/max match the samples, finishedAt ≥ startedAt).
 * Otherwise throws INVALID_ARGUMENT naming `subject` and listing each problem:
 * `result document: /cases/0/stats/p50: must be number; /run/profile: must be one of quick, default, full`.
 * Pure; the schema is compiled once per process. Cost O(size of the document).
 */
export function validateResult(doc: unknown, subject = 'result document'): ResultDocument {
  const problems = resultProblems(doc);
  if (problems.length > 0) {
    const listed = problems.slice(0, MAX_LISTED).join('; ');
    const more = problems.length > MAX_LISTED ? `; … and ${problems.length - MAX_LISTED} more` : '';
    throw invalidArgument(`${subject}: ${listed}${more}`, { details: { problems } });
  }
  return doc as ResultDocument;
}

/**
 * Reads, parses and validates a result file, and brings a schema version 1 file up to
 * version 2 (migrateResult). Fails with NOT_FOUND (or another errno class) when it
 * cannot be read, INVALID_ARGUMENT when it is not JSON or not a valid result; every
 * message starts with `result file <path>`.
 */
export async function readResult(path: string): Promise<ResultDocument> {
  const subject = `result file ${path}`;
  return migrateResult(validateResult(await readJsonFile(path, subject), subject));
}
