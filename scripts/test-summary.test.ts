// The CI summary: counts summed over runs, skips grouped by the reason in their titles,
// and a missing or failing report never reading as green.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NO_REASON, summarize, summaryLines } from './test-summary.js';

const t = (
  title: string,
  status: string,
  ancestorTitles: string[] = [],
  meta?: object,
  failureMessages?: string[],
) => ({ title, status, ancestorTitles, meta, failureMessages });

function report(over: object, tests: ReturnType<typeof t>[] = []): string {
  return JSON.stringify({
    numPassedTests: 0,
    numFailedTests: 0,
    numPendingTests: 0,
    numTodoTests: 0,
    numFailedTestSuites: 0,
    numTotalTests: 1,
    success: true,
    testResults: [{ name: 'x.test.ts', assertionResults: tests }],
    ...over,
  });
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('test summary', () => {
  it('sums two runs and groups skips by the reason in the test or suite title', () => {
    const full = report({ numPassedTests: 5, numPendingTests: 2, numTotalTests: 7 }, [
      t('a (skipped: needs skopeo (apt package skopeo))', 'skipped'),
      t('b', 'skipped', ['outer (skipped: needs root)', 'inner']),
    ]);
    const fresh = report({ numPassedTests: 3, numPendingTests: 3, numTotalTests: 6 }, [
      t('a (skipped: needs skopeo (apt package skopeo))', 'skipped'),
      t('c', 'skipped', [], { skipReason: 'no cgroup2 mount' }),
      t('d', 'skipped'),
      t('e', 'passed'),
    ]);
    const { summary, errors } = summarize([
      { file: 'full.json', text: full },
      { file: 'fresh.json', text: fresh },
    ]);
    expect(errors).toEqual([]);
    expect(summary.ok).toBe(true);
    expect(summaryLines(summary)).toEqual([
      'skipped, by reason:',
      '     2  needs skopeo (apt package skopeo)',
      `     1  ${NO_REASON}`,
      '     1  needs root',
      '     1  no cgroup2 mount',
      '8 passed, 0 failed, 5 skipped',
    ]);
  });

  it('counts a file that failed to load, and a missing report, as failures', () => {
    const { summary, errors } = summarize([
      { file: 'a.json', text: report({ numPassedTests: 1, numFailedTestSuites: 1, success: false }) },
      { file: 'b.json', text: undefined },
    ]);
    expect(summary.ok).toBe(false);
    expect(summaryLines(summary).at(-1)).toBe('1 passed, 2 failed, 0 skipped');
    expect(errors).toEqual(['test report b.json: cannot be read']);
  });

  it('names failed tests and tests that passed only on a retry, with their first error line, last', () => {
    const r = report({ numPassedTests: 2, numFailedTests: 1, success: false, numTotalTests: 3 }, [
      t('steady', 'passed', [], undefined, []),
      t('wobbly', 'passed', ['outer'], undefined, ['AssertionError: expected 1 to be 2\n    at x.test.ts:3:1']),
      t('broken', 'failed', ['outer'], undefined, ['Error: boom\n    at y']),
    ]);
    const { summary } = summarize([{ file: 'r.json', text: r }]);
    expect(summary.ok).toBe(false);
    expect(summaryLines(summary)).toEqual([
      'passed only on a retry (flaky, to be fixed):',
      '  x.test.ts > outer > wobbly: AssertionError: expected 1 to be 2',
      'failed:',
      '  x.test.ts > outer > broken: Error: boom',
      '2 passed, 1 failed, 0 skipped, 1 flaky',
    ]);
  });

  it('exits 1 on a failure and 0 on a clean run, from the command line', () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'berth-summary-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'ok.json'), report({ numPassedTests: 1 }));
    writeFileSync(join(dir, 'bad.json'), report({ numPassedTests: 1, numFailedTests: 1, success: false }));
    const run = (...files: string[]) =>
      spawnSync(
        process.execPath,
        ['--import', 'tsx', join(import.meta.dirname, 'test-summary.ts'), ...files.map((f) => join(dir, f))],
        { encoding: 'utf8' },
      );
    const ok = run('ok.json');
    expect([ok.status, ok.stdout]).toEqual([0, '1 passed, 0 failed, 0 skipped\n']);
    const bad = run('ok.json', 'bad.json');
    expect([bad.status, bad.stdout]).toEqual([1, '2 passed, 1 failed, 0 skipped\n']);
  });
});
