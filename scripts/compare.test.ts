// The compare command end to end on files: exit status, schema errors, JSON output.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from './compare.js';
import { normalSamples, syntheticCase, syntheticDocument } from './synthetic-results.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), `berth-compare-${process.pid}-`));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(
    argv,
    (s) => (out += s),
    (s) => (err += s),
  );
  return { code, out, err };
}

async function docFile(name: string, mean: number, seed: number, startedAt?: string): Promise<string> {
  const doc = syntheticDocument(
    [
      syntheticCase({
        suite: 'run',
        case: 'start',
        target: 'berth',
        unit: 'ms',
        samples: normalSamples(seed, 30, mean, mean * 0.08),
      }),
    ],
    { runId: name, startedAt },
  );
  const file = path.join(dir, name);
  await writeFile(file, JSON.stringify(doc));
  return file;
}

describe('npm run compare', () => {
  it('exits 1 on a regression and writes the JSON report', async () => {
    const base = await docFile('base.json', 100, 1);
    const cand = await docFile('cand.json', 125, 2);
    const json = path.join(dir, 'out', 'report.json');
    const r = await run([base, cand, '--threshold', '10%', '--json', json]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('REGRESSION');
    const report = JSON.parse(await readFile(json, 'utf8'));
    expect(report.regressions).toBe(1);
    expect(report.cases[0].verdict).toBe('regression');
  });

  it('exits 0 when the shift is inside a per-case bound', async () => {
    const base = await docFile('base.json', 100, 1);
    const cand = await docFile('cand.json', 125, 2);
    const bounds = path.join(dir, 'bounds.json');
    await writeFile(bounds, JSON.stringify({ cases: [{ suite: 'run', case: 'start', threshold: '40%' }] }));
    const r = await run([base, cand, '--bounds', bounds]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('within bound');
  });

  it('rejects an invalid result file with the schema error and exit 2', async () => {
    const base = await docFile('base.json', 100, 1);
    const bad = path.join(dir, 'bad.json');
    const doc = JSON.parse(await readFile(base, 'utf8'));
    doc.cases[0].unit = 'furlongs';
    delete doc.run.profile;
    await writeFile(bad, JSON.stringify(doc));
    const r = await run([base, bad]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`result file ${bad}:`);
    expect(r.err).toContain('/cases/0/unit: must be one of');
    expect(r.err).toContain("/run: missing required property 'profile'");
  });

  it('exits 2 with usage on a missing file argument or a bad threshold', async () => {
    const base = await docFile('base.json', 100, 1);
    expect((await run([base])).err).toContain('expected one or more baseline files and a candidate file');
    const r = await run([base, base, '--threshold', 'lots']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--threshold "lots"');
  });

  it('names a missing file', async () => {
    const base = await docFile('base.json', 100, 1);
    const r = await run([base, path.join(dir, 'nope.json')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`result file ${path.join(dir, 'nope.json')}: ENOENT`);
  });

  it('--interleaved pairs runs by time across a drifting host: a shift that rides on the drift is found, the drift alone is not', async () => {
    // the host slows by 15 % a slot; A B B A A B: each pair shares its slot's level
    const at = (slot: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + slot * 61_000).toISOString();
    const level = (slot: number) => 100 * 1.15 ** (slot >> 1);
    const side = async (prefix: string, slots: number[], shift: number) =>
      Promise.all(slots.map((s, i) => docFile(`${prefix}-${i}.json`, level(s) * shift, 10 + s, at(s))));
    const a = await side('a', [0, 3, 4], 1);
    const same = await side('same', [1, 2, 5], 1);
    const slower = await side('slow', [1, 2, 5], 1.25);
    const json = path.join(dir, 'paired.json');
    const hit = await run(['--threshold', '10%', '--json', json, '--interleaved', ...a, '--', ...slower]);
    expect(hit.err).toBe('');
    expect(hit.code).toBe(1);
    expect(hit.out).toMatch(/REGRESSION/);
    expect(hit.out).toMatch(/3p 3↑/);
    const report = JSON.parse(await readFile(json, 'utf8'));
    expect(
      report.pairs.map((p: { baselineRun: string; candidateRun: string }) => [p.baselineRun, p.candidateRun]),
    ).toEqual([
      ['a-0.json', 'slow-0.json'],
      ['a-1.json', 'slow-1.json'],
      ['a-2.json', 'slow-2.json'],
    ]);
    const flat = await run(['--interleaved', ...a, '--', ...same]);
    expect(flat.code).toBe(0);
    expect((await run(['--interleaved', ...a, ...same])).err).toMatch(/separate the baseline runs .* with a lone --/);
    expect((await run(['--interleaved', a[0], '--', ...same])).err).toMatch(
      /at least 2 baseline and 2 candidate runs, got 1 and 3/,
    );
    expect((await run([a[0], '--', same[0]])).err).toMatch(/only with --interleaved/);
  });
});
