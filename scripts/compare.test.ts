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

async function docFile(name: string, mean: number, seed: number): Promise<string> {
  const doc = syntheticDocument([
    syntheticCase({
      suite: 'run',
      case: 'start',
      target: 'berth',
      unit: 'ms',
      samples: normalSamples(seed, 30, mean, mean * 0.08),
    }),
  ]);
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
});
