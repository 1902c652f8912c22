// What the suites' end-to-end tests share: one registered suite run through the real
// runner in --test mode, which must succeed and write a schema-valid document.
import { expect } from 'vitest';
import type { ProfileSettings } from '../profiles.js';
import type { HostInfo } from '../results/document.js';
import { validateResult } from '../results/validate.js';
import { runBenchmarks, type RunOutcome } from '../runner.js';
import { findSuite } from './index.js';

/**
 * Runs suite `suite` (by its registered name) into `dataRoot`; fails the test, with the run's progress lines, when the
 * run failed or its document is not valid. Returns the document.
 */
export async function runSuiteInTest(opts: {
  suite: string;
  settings: ProfileSettings;
  seed: number;
  dataRoot: string;
  host: HostInfo;
  targets?: readonly string[];
}): Promise<RunOutcome['document']> {
  const lines: string[] = [];
  const { document, failed } = await runBenchmarks({
    suites: [findSuite(opts.suite)!],
    settings: opts.settings,
    seed: opts.seed,
    dataRoot: opts.dataRoot,
    ...(opts.targets !== undefined ? { targets: opts.targets } : {}),
    argv: ['--test'],
    progress: (l) => lines.push(l),
    hostInfo: async () => opts.host,
  });
  expect(failed, lines.join('\n')).toBe(false);
  expect(() => validateResult(document)).not.toThrow();
  return document;
}
