// Prints the closing line CI reads, `N passed, N failed, N skipped`, from the JSON reports
// vitest writes (`--reporter=json --outputFile=FILE`), summed over every report given (one
// per run of the suite), after the skips grouped by the reason their titles carry and the
// name and first error line of every test that failed, or that passed only on a retry (a
// flaky test: CI runs with `--retry=1`, and names each one so that it gets fixed, not
// forgotten). The names come last so that the tail of a CI log shows them.
// Exits 1 when a report is missing or counts a failure, so a crashed run never reads as green.
import { readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { reasonInTitle } from '../testkit/needs.js';

interface AssertionResult {
  title: string;
  ancestorTitles: string[];
  status: string;
  failureMessages?: string[];
  meta?: { skipReason?: string };
}

interface VitestReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests?: number;
  numFailedTestSuites: number;
  numTotalTests: number;
  success: boolean;
  testResults?: { name: string; assertionResults: AssertionResult[] }[];
}

/** What the reports add up to; `reasons` counts skipped tests by reason. */
export interface Summary {
  passed: number;
  failed: number;
  skipped: number;
  reasons: Map<string, number>;
  /** Tests that failed, then tests that passed only on a retry: `file > name: first error line`. */
  failures: string[];
  flaky: string[];
  ok: boolean;
}

export const NO_REASON = '(no reason in the title)';

/** Sums `reports`; a report that is missing or unreadable counts one failure. */
export function summarize(reports: { file: string; text: string | undefined }[]): {
  summary: Summary;
  errors: string[];
} {
  const s: Summary = { passed: 0, failed: 0, skipped: 0, reasons: new Map(), failures: [], flaky: [], ok: true };
  const errors: string[] = [];
  for (const { file, text } of reports) {
    let r: VitestReport;
    try {
      if (text === undefined) throw new Error('cannot be read');
      r = JSON.parse(text) as VitestReport;
    } catch (err) {
      errors.push(`test report ${file}: ${(err as Error).message}`);
      s.failed += 1;
      s.ok = false;
      continue;
    }
    s.passed += r.numPassedTests;
    // A file that fails to load has no tests to count: count it as a failure.
    s.failed += r.numFailedTests + (r.numFailedTests === 0 ? r.numFailedTestSuites : 0);
    s.skipped += r.numPendingTests + (r.numTodoTests ?? 0);
    if (!r.success || r.numTotalTests === 0) s.ok = false;
    for (const f of r.testResults ?? []) {
      for (const t of f.assertionResults) {
        const errs = t.failureMessages ?? [];
        if (t.status === 'failed') s.failures.push(describeTest(f.name, t, errs));
        else if (t.status === 'passed' && errs.length > 0) s.flaky.push(describeTest(f.name, t, errs));
      }
    }
    for (const t of (r.testResults ?? []).flatMap((f) => f.assertionResults)) {
      if (t.status !== 'skipped' && t.status !== 'pending' && t.status !== 'todo') continue;
      const reason =
        t.meta?.skipReason ??
        [t.title, ...[...t.ancestorTitles].reverse()].map(reasonInTitle).find((x) => x !== undefined) ??
        NO_REASON;
      s.reasons.set(reason, (s.reasons.get(reason) ?? 0) + 1);
    }
  }
  if (s.failed > 0) s.ok = false;
  return { summary: s, errors };
}

function describeTest(file: string, t: AssertionResult, errs: string[]): string {
  const name = [...t.ancestorTitles, t.title].join(' > ');
  const first = (errs[0] ?? '').split('\n')[0]?.trim() ?? '';
  const rel = isAbsolute(file) ? relative(process.cwd(), file) : file;
  return `${rel} > ${name}${first ? `: ${first.slice(0, 300)}` : ''}`;
}

/** The lines CI prints: skips by reason (most first), failed and flaky tests, then the closing count line. */
export function summaryLines(s: Summary): string[] {
  const byCount = [...s.reasons].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return [
    ...(byCount.length > 0
      ? ['skipped, by reason:', ...byCount.map(([why, n]) => `  ${String(n).padStart(4)}  ${why}`)]
      : []),
    ...(s.flaky.length > 0 ? ['passed only on a retry (flaky, to be fixed):', ...s.flaky.map((x) => `  ${x}`)] : []),
    ...(s.failures.length > 0 ? ['failed:', ...s.failures.map((x) => `  ${x}`)] : []),
    `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped${s.flaky.length > 0 ? `, ${s.flaky.length} flaky` : ''}`,
  ];
}

function main(files: string[]): void {
  if (files.length === 0) {
    process.stderr.write('usage: test-summary <vitest-json-report>...\n');
    process.exit(2);
  }
  const { summary, errors } = summarize(
    files.map((file) => {
      try {
        return { file, text: readFileSync(file, 'utf8') };
      } catch {
        return { file, text: undefined };
      }
    }),
  );
  for (const e of errors) process.stderr.write(`${e}\n`);
  for (const line of summaryLines(summary)) console.log(line);
  process.exit(summary.ok ? 0 : 1);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href)
  main(process.argv.slice(2));
