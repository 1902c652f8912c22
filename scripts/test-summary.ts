// Prints the closing line CI reads, `N passed, N failed, N skipped`, from the
// JSON report vitest writes (`--reporter=json --outputFile=FILE`). Exits 1 when
// the report is missing or counts a failure, so a crashed run never reads as green.
import { readFileSync } from 'node:fs';

interface VitestReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests?: number;
  numFailedTestSuites: number;
  numTotalTests: number;
  success: boolean;
}

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: test-summary <vitest-json-report>\n');
  process.exit(2);
}

let report: VitestReport;
try {
  report = JSON.parse(readFileSync(file, 'utf8')) as VitestReport;
} catch (err) {
  process.stderr.write(`test report ${file}: ${(err as Error).message}\n`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const skipped = report.numPendingTests + (report.numTodoTests ?? 0);
// A file that fails to load has no tests to count: count it as a failure.
const failed = report.numFailedTests + (report.numFailedTests === 0 ? report.numFailedTestSuites : 0);
console.log(`${report.numPassedTests} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || !report.success || report.numTotalTests === 0 ? 1 : 0);
