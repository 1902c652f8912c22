// Proves result files are written only when valid, atomically and without leftovers,
// round-trip through readResult, and land where defaultResultPath says.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exampleResult } from '../../results/schema/example-result.js';
import { summarize } from '../stats.js';
import type { ResultDocument } from './document.js';
import { readResult } from './validate.js';
import { defaultResultPath, writeResult } from './write.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), `berth-write-${process.pid}-`));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeResult', () => {
  it('round-trips a valid document through readResult, creating directories', async () => {
    const path = join(dir, 'results', 'runs', 'a.json');
    const doc = exampleResult();
    await writeResult(path, doc);
    expect(await readResult(path)).toEqual(doc);
    expect(await readdir(join(dir, 'results', 'runs'))).toEqual(['a.json']);
    expect((await readFile(path, 'utf8')).endsWith('}\n')).toBe(true);
  });

  it('accepts stats made by summarize', async () => {
    const doc = exampleResult();
    const samples = [12.5, 11.9, 13.1, 12.2, 40.3, 12.0, 12.4];
    doc.cases[0] = { ...doc.cases[0], samples, stats: summarize(samples, { seed: 7 }) };
    const path = join(dir, 'summarized.json');
    await writeResult(path, doc);
    expect((await readResult(path)).cases[0].stats).toEqual(doc.cases[0].stats);
  });

  it('writes nothing for an invalid document', async () => {
    const path = join(dir, 'sub', 'bad.json');
    const doc = exampleResult();
    doc.cases[0].stats.n = 99;
    await expect(writeResult(path, doc)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining(`result file ${path}: /cases/0/stats/n: is 99 but there are 5 samples`),
    });
    expect(existsSync(path)).toBe(false);
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps the old file when the new document is invalid', async () => {
    const path = join(dir, 'keep.json');
    await writeResult(path, exampleResult());
    const before = await readFile(path, 'utf8');
    const bad = { ...exampleResult(), warnings: [1] } as unknown as ResultDocument;
    await expect(writeResult(path, bad)).rejects.toThrow('/warnings/0: must be string');
    expect(await readFile(path, 'utf8')).toBe(before);
    expect(await readdir(dir)).toEqual(['keep.json']);
  });

  it('replaces an existing file and leaves no temp file when the rename fails', async () => {
    const path = join(dir, 'r.json');
    await writeFile(path, 'old');
    const doc = exampleResult();
    doc.warnings = ['second'];
    await writeResult(path, doc);
    expect((await readResult(path)).warnings).toEqual(['second']);

    const occupied = join(dir, 'occupied.json');
    await mkdir(join(occupied, 'child'), { recursive: true });
    await expect(writeResult(occupied, exampleResult())).rejects.toThrow(`result file ${occupied}: `);
    expect((await readdir(dir)).sort()).toEqual(['occupied.json', 'r.json']);
  });
});

describe('defaultResultPath', () => {
  it.each<[Date | string, string, 'quick' | 'default' | 'full', string]>([
    ['2026-11-28T04:01:27.512Z', 'bench-1', 'quick', '20261128-040127-bench-1-quick.json'],
    [new Date(Date.UTC(2025, 0, 2, 3, 4, 5)), 'host.example', 'full', '20250102-030405-host.example-full.json'],
    ['2026-11-28T06:01:27+02:00', 'my host/ä', 'default', '20261128-040127-my-host-default.json'],
    ['2026-11-28T04:01:27Z', '...', 'quick', '20261128-040127-host-quick.json'],
  ])('%s %s %s → %s', (startedAt, host, profile, name) => {
    expect(defaultResultPath('/repo', startedAt, host, profile)).toBe(`/repo/results/runs/${name}`);
  });

  it('rejects a bad date or profile', () => {
    expect(() => defaultResultPath('/repo', 'soon', 'h', 'quick')).toThrow(
      'result path: start time soon is not a date',
    );
    expect(() => defaultResultPath('/repo', new Date(), 'h', 'fast' as 'quick')).toThrow(
      'profile fast must be one of quick, default, full',
    );
  });
});
