// Result documents flattened into chart rows: one row per case and run, in a display
// unit, with the labels every chart uses. Reads only fields the result schema promises.
import type { CaseResult, ParameterValue, PhaseBreakdown, ResultDocument } from '../../bench/results/document.js';
import { convert, displayUnit } from './units.js';

/** A result document and the file it came from. */
export interface LoadedResult {
  file: string;
  doc: ResultDocument;
}

export interface Row {
  /** Short name of the run (file name without folder and .json). */
  run: string;
  suite: string;
  case: string;
  target: string;
  parameters: Record<string, ParameterValue>;
  /** The case's parameters as `k=v k=v` (sorted), empty when none. */
  params: string;
  /** `case k=v …`: the operation, without target and run. */
  operation: string;
  /** target, plus the run when several runs are loaded: what a chart's colour shows. */
  series: string;
  unit: string;
  direction: CaseResult['direction'];
  n: number;
  p50: number;
  low: number;
  high: number;
  samples: number[];
  phases: PhaseBreakdown[] | null;
  /** How the case was computed from others (ratio, difference, …); null for a measured case. */
  derived?: string | null;
}

/** The label suffix of a derived case, so no chart passes a ratio or difference off as a measurement. */
export function derivedSuffix(how: string | null | undefined): string {
  return how === null || how === undefined ? '' : ` (derived: ${how})`;
}

export function runName(file: string): string {
  return file.replace(/^.*[\\/]/, '').replace(/\.json$/, '');
}

function paramText(parameters: Record<string, ParameterValue>, skip: readonly string[] = []): string {
  return Object.keys(parameters)
    .filter((k) => !skip.includes(k))
    .sort()
    .map((k) => `${k}=${String(parameters[k])}`)
    .join(' ');
}

/** Every case of `suites` (all suites when empty) in every loaded run, in its own unit. */
export function toRows(results: readonly LoadedResult[], suites: readonly string[] = []): Row[] {
  const many = results.length > 1;
  const rows: Row[] = [];
  for (const { file, doc } of results) {
    const run = runName(file);
    for (const c of doc.cases) {
      if (suites.length > 0 && !suites.includes(c.suite)) continue;
      const params = paramText(c.parameters);
      rows.push({
        run,
        suite: c.suite,
        case: c.case,
        target: c.target,
        parameters: c.parameters,
        params,
        operation: `${params === '' ? c.case : `${c.case} ${params}`}${derivedSuffix(c.derived?.how)}`,
        series: many ? `${c.target} · ${run}` : c.target,
        unit: c.unit,
        direction: c.direction,
        n: c.stats.n,
        p50: c.stats.p50,
        low: c.stats.ci95.low,
        high: c.stats.ci95.high,
        samples: c.samples,
        phases: c.phases,
        derived: c.derived?.how ?? null,
      });
    }
  }
  return rows;
}

/** Rows converted to one display unit (chosen by displayUnit), with that unit. */
export function inOneUnit(rows: readonly Row[]): { rows: Row[]; unit: string } {
  const unit = displayUnit(rows.map((r) => ({ unit: r.unit, value: r.p50 })));
  const f = (r: Row, v: number) => convert(v, r.unit, unit);
  return {
    unit,
    rows: rows.map((r) => ({
      ...r,
      unit,
      p50: f(r, r.p50),
      low: f(r, r.low),
      high: f(r, r.high),
      samples: r.samples.map((v) => f(r, v)),
    })),
  };
}

/** The first parameter key, in `preferred` order, that rows carry with a value of `type`; else the first such key. */
export function pickParam(
  rows: readonly Row[],
  preferred: readonly string[],
  type: 'number' | 'string',
): string | undefined {
  const has = (k: string) => rows.some((r) => typeof r.parameters[k] === type);
  const found = preferred.find(has);
  if (found !== undefined) return found;
  for (const r of rows) for (const k of Object.keys(r.parameters).sort()) if (typeof r.parameters[k] === type) return k;
  return undefined;
}

/** `operation` without the parameters in `skip` (those an axis or the colour already shows). */
export function operationWithout(r: Row, skip: readonly string[]): string {
  const p = paramText(r.parameters, skip);
  return `${p === '' ? r.case : `${r.case} ${p}`}${derivedSuffix(r.derived)}`;
}

/** Sample counts of rows as `n = 30` or `n = 5–30 per case`. */
export function sampleCounts(rows: readonly Row[]): string {
  if (rows.length === 0) return 'no samples';
  const ns = rows.map((r) => r.n);
  const min = Math.min(...ns);
  const max = Math.max(...ns);
  return min === max ? `n = ${min} samples per case` : `n = ${min}–${max} samples per case`;
}

/** One line per loaded run: its host (model, cores, memory, kernel, filesystem, cgroup, fingerprint) and commit. */
export function hostLines(results: readonly LoadedResult[]): string[] {
  return results.map(({ file, doc }) => {
    const h = doc.host;
    const gib = (h.memoryBytes / 2 ** 30).toFixed(0);
    const commit =
      doc.run.gitCommit === null
        ? 'no commit'
        : `commit ${doc.run.gitCommit.slice(0, 10)}${doc.run.gitDirty ? '+dirty' : ''}`;
    return `${runName(file)}: ${h.hostname}, ${h.cpu.model} ×${h.cpu.cores ?? '? (core count unknown)'}, ${gib} GiB, Linux ${h.kernel}, ${h.dataRoot.filesystem}, cgroup ${h.cgroup.version}, host fingerprint ${h.fingerprint}; ${doc.run.profile} profile, ${commit}, ${doc.run.startedAt}`;
  });
}

/** `k=v` for numbers and booleans, the bare value for strings (`overlay2`, `depth=20`). */
export function paramValue(key: string, value: ParameterValue | undefined): string {
  if (value === undefined) return `${key}=–`;
  return typeof value === 'string' ? value : `${key}=${String(value)}`;
}

/**
 * The parameters that tell `rows` apart, minus `exclude`, strings first: a parameter
 * whose value follows from the others (`flags` from `namespaces`, `imageBytes` from `image`
 * and `bytes`) is left out, numeric ones before strings, then the longer-valued first.
 */
export function varyingParams(rows: readonly Row[], exclude: readonly string[] = []): string[] {
  const all = [...new Set(rows.flatMap((r) => Object.keys(r.parameters)))].sort();
  const differs = (k: string) => new Set(rows.map((r) => JSON.stringify(r.parameters[k] ?? null))).size > 1;
  const isString = (k: string) => rows.some((r) => typeof r.parameters[k] === 'string');
  let varying = all
    .filter((k) => !exclude.includes(k) && differs(k))
    .sort((a, b) => Number(isString(b)) - Number(isString(a)));
  const excluded = all.filter((k) => exclude.includes(k) && differs(k));
  const avgLen = (k: string) =>
    rows.reduce((s, r) => s + String(r.parameters[k] ?? '').length, 0) / Math.max(rows.length, 1);
  // numeric parameters first (sizes and counts usually follow from a named variant), then the longer-valued
  for (const k of [...varying].sort((a, b) => Number(isString(a)) - Number(isString(b)) || avgLen(b) - avgLen(a))) {
    const others = varying.filter((o) => o !== k);
    if (others.length === 0) continue;
    const seen = new Map<string, string>();
    const determined = rows.every((r) => {
      const ctx = [...others, ...excluded].map((o) => JSON.stringify(r.parameters[o] ?? null)).join('|');
      const v = JSON.stringify(r.parameters[k] ?? null);
      if (!seen.has(ctx)) seen.set(ctx, v);
      return seen.get(ctx) === v;
    });
    if (determined) varying = others;
  }
  return varying;
}

/** The parameters every row has with one value, as `k=v`, minus `exclude`. */
export function constantParams(rows: readonly Row[], exclude: readonly string[] = []): string[] {
  if (rows.length === 0) return [];
  const keys = Object.keys(rows[0].parameters)
    .filter((k) => !exclude.includes(k))
    .sort();
  return keys
    .filter((k) => rows.every((r) => JSON.stringify(r.parameters[k]) === JSON.stringify(rows[0].parameters[k])))
    .map((k) => `${k}=${String(rows[0].parameters[k])}`);
}

/** A row's values of `keys` joined with ` · ` (`overlay2 · none`), or `fallback` when there are none. */
export function labelOf(r: Row, keys: readonly string[], fallback: string): string {
  const parts = keys.filter((k) => r.parameters[k] !== undefined).map((k) => paramValue(k, r.parameters[k]));
  return parts.length === 0 ? fallback : parts.join(' · ');
}

/** Identity of a row across calls (run, suite, case, target, parameters). */
export function rowKey(r: Row): string {
  return `${r.run}|${r.suite}|${r.case}|${r.target}|${r.params}`;
}

/** A readable name of a case for warnings: `suite/case target [k=v …]`. */
export function caseName(r: Row): string {
  return `${r.suite}/${r.case} ${r.target}${r.params === '' ? '' : ` [${r.params}]`}${r.run === '' ? '' : ` in ${r.run}`}`;
}

/** Rows whose median and interval are finite numbers: the others cannot be drawn. */
export function drawable(r: Row): boolean {
  return r.n > 0 && Number.isFinite(r.p50) && Number.isFinite(r.low) && Number.isFinite(r.high);
}

/**
 * Splits the parameters that tell `rows` apart into those every series has (rows of a
 * chart: `image`, `compression`) and those only some series carry (berth's
 * `concurrency`, which skopeo and the reference lack): the latter belong in the series'
 * name, so that all targets of one variant share a row.
 */
export function splitParams(
  rows: readonly Row[],
  seriesOf: (r: Row) => string,
  exclude: readonly string[] = [],
): { rowKeys: string[]; seriesKeys: string[] } {
  const varying = varyingParams(rows, exclude);
  const series = [...new Set(rows.map(seriesOf))];
  const everywhere = (k: string) =>
    series.every((s) => rows.filter((r) => seriesOf(r) === s).every((r) => r.parameters[k] !== undefined));
  return { rowKeys: varying.filter(everywhere), seriesKeys: varying.filter((k) => !everywhere(k)) };
}
