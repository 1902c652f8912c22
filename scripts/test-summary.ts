// Prints the closing line CI reads, `N passed, N failed, N skipped`, from the JSON reports
// vitest writes (`--reporter=json --outputFile=FILE`), summed over every report given (one
// per run of the suite), after the skips grouped by the reason their titles carry.
// Exits 1 when a report is missing or counts a failure, so a crashed run never reads as green.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { reasonInTitle } from '../testkit/needs.js';

interface AssertionResult {
  title: string;
  ancestorTitles: string[];
  status: string;
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
  ok: boolean;
}

export const NO_REASON = '(no reason in the title)';

/** Sums `reports`; a report that is missing or unreadable counts one failure. */
export function summarize(reports: { file: string; text: string | undefined }[]): { summary: Summary; errors: string[] } {
  const s: Summary = { passed: 0, failed: 0, skipped: 0, reasons: new Map(), ok: true };
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
    for (const t of (r.testResults ?? []).flatMap((f) => f.assertionResults)) {
      if (t.status !== 'skipped' && t.status !== 'pending' && t.status !== 'todo') continue;
      const reason = t.meta?.skipReason ?? [t.title, ...[...t.ancestorTitles].reverse()].map(reasonInTitle).find((x) => x !== undefined) ?? NO_REASON;
      s.reasons.set(reason, (s.reasons.get(reason) ?? 0) + 1);
    }
  }
  if (s.failed > 0) s.ok = false;
  return { summary: s, errors };
}

/** The lines CI prints: skips by reason (most first), then the closing count line. */
export function summaryLines(s: Summary): string[] {
  const byCount = [...s.reasons].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return [
    ...(byCount.length > 0 ? ['skipped, by reason:', ...byCount.map(([why, n]) => `  ${String(n).padStart(4)}  ${why}`)] : []),
    `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`,
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

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main(process.argv.slice(2));
