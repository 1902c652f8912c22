// Version 1 result files stay readable: the reader migrates them to version 2, marking
// the derived cases they held and renaming what version 2 renamed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exampleResult } from '../../results/schema/example-result.js';
import type { CaseResult, ResultDocument } from './document.js';
import { migrateResult } from './migrate.js';
import { readResult, validateResult } from './validate.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), `berth-migrate-${process.pid}-`));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A version 1 document (as version 1 wrote it: no derived, runs or phase sample counts). */
function v1(cases: Partial<CaseResult>[]): ResultDocument {
  const doc = exampleResult();
  const base = doc.cases[0];
  delete base.phases![0].samples;
  return { ...doc, schemaVersion: 1, cases: cases.map((c) => ({ ...base, ...c })) };
}

describe('migrateResult', () => {
  it('marks the derived cases of a version 1 file by name, renames runtime via to level, and names the zstd decoder from the notes', async () => {
    const doc = v1([
      { suite: 'runtime', case: 'create-start-exit', target: 'crun', parameters: { netns: true, via: 'cli' } },
      { suite: 'runtime', case: 'goal-vs-crun', target: 'berth', parameters: { netns: true }, unit: 'ratio' },
      {
        suite: 'pull',
        case: 'cold-pull',
        target: 'berth',
        parameters: { image: 'app', compression: 'zstd' },
        notes: ["zstd decoded by the system's libzstd (libzstd.so.1) through berth's native core."],
      },
      {
        suite: 'pull',
        case: 'cold-pull-vs-docker',
        target: 'berth',
        parameters: { image: 'app', compression: 'gzip' },
        unit: 'ratio',
      },
      { suite: 'graphdriver', case: 'inodes', target: 'berth', parameters: {}, unit: 'count' },
      { suite: 'namespaces', case: 'clone', target: 'berth', parameters: {} },
    ]);
    expect(validateResult(doc)).toBe(doc);
    const file = join(dir, 'v1.json');
    await writeFile(file, JSON.stringify(doc));
    const m = await readResult(file);
    expect(m.schemaVersion).toBe(2);
    expect(m.cases.map((c) => c.derived?.how ?? null)).toEqual([
      null,
      'ratio',
      null,
      'ratio',
      'recorded-alongside',
      null,
    ]);
    expect(m.cases[1].derived).toEqual({ from: [], how: 'ratio', pairing: 'unknown' });
    expect(m.cases[0].parameters).toEqual({ netns: true, level: 'cli' });
    expect(m.cases[2].parameters).toEqual({ image: 'app', compression: 'zstd', decoder: 'libzstd' });
    expect(m.cases[3].parameters).toEqual({ image: 'app', compression: 'gzip' });
    // the migrated document is a valid version 2 document; the input is untouched
    expect(validateResult(m)).toBe(m);
    expect(doc.cases[0].parameters).toEqual({ netns: true, via: 'cli' });
  });

  it('returns a version 2 document as it is', () => {
    const doc = exampleResult();
    expect(migrateResult(doc)).toBe(doc);
  });
});
