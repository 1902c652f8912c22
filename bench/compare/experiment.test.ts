// Recording an A/A–A/B experiment: provenance from the runs themselves, refusal of runs that
// do not describe one commit on one host, and a validator that catches counts that disagree.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticExperiment, syntheticExperimentRun } from '../../scripts/synthetic-results.js';
import {
  experimentPath,
  experimentRecord,
  readExperimentsUnder,
  summarizeExperiment,
  validateExperiment,
} from './experiment.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), `berth-experiment-${process.pid}-`));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('experiment records', () => {
  it('carry the host class, commit, load range, injected case and every run id', () => {
    const r = syntheticExperiment();
    expect(r.schemaVersion).toBe(1);
    expect(r.recorded.inject).toBe('trace/call n=0');
    expect(r.recorded.runIds).toHaveLength(8);
    expect(r.recorded.loadAverage1m.min).toBeLessThanOrEqual(r.recorded.loadAverage1m.max);
    expect(r.recorded.hostClass).toMatch(/^[a-z0-9.-]+$/);
    expect(experimentPath(r)).toBe(`results/experiments/${r.recorded.hostClass}/aa-ab-trace-quick.json`);
    expect(r.ab[0]).toMatchObject({ slowdown: 0.5, detected: 3, injectedCases: 3 });
    const il = syntheticExperiment(true);
    expect(experimentPath(il)).toBe(`results/experiments/${r.recorded.hostClass}/aa-ab-trace-quick-interleaved.json`);
    expect(validateExperiment(JSON.parse(JSON.stringify(il)))).toEqual(il);
  });

  it('refuse runs from two hosts or two commits, and B runs without one injected case', () => {
    const a = [1, 2, 3].map((s) => syntheticExperimentRun(s));
    const b = new Map([[0.5, [10].map((s) => syntheticExperimentRun(s, 1.5))]]);
    const summary = summarizeExperiment(a, b);
    const otherHost = structuredClone(a);
    otherHost[1].host.fingerprint = '0000000000000000';
    expect(() => experimentRecord(summary, otherHost, b)).toThrow(/was made on host 0000000000000000/);
    const otherCommit = structuredClone(a);
    otherCommit[2].run.gitCommit = 'f'.repeat(40);
    expect(() => experimentRecord(summary, otherCommit, b)).toThrow(/measured commit f{40}/);
    expect(() => experimentRecord(summary, a, new Map([[0.5, a]]))).toThrow(/share one injected case \(found ""\)/);
  });

  it('are validated: schema errors and rates that disagree with their counts are named', () => {
    const r = syntheticExperiment();
    expect(() => validateExperiment({ ...r, schemaVersion: 2 })).toThrow(/\/schemaVersion: must be 1/);
    expect(() => validateExperiment({ ...r, aa: { ...r.aa, falsePositives: r.aa.cases + 1 } }, 'x.json')).toThrow(
      /x\.json: .*\/aa\/falsePositives: exceeds \/aa\/cases/,
    );
    const ab = [{ ...r.ab[0], rate: 0.25 }];
    expect(() => validateExperiment({ ...r, ab })).toThrow(/\/ab\/0\/rate: is not detected \/ injectedCases/);
    const { recorded, ...bare } = r;
    expect(recorded).toBeDefined();
    expect(() => validateExperiment(bare)).toThrow(/missing required property 'recorded'/);
    const il = syntheticExperiment(true);
    const aa = { ...il.interleaved!.aa, falsePositives: il.interleaved!.aa.cases + 1 };
    expect(() => validateExperiment({ ...il, interleaved: { ...il.interleaved!, aa } })).toThrow(
      /\/interleaved\/aa\/falsePositives: exceeds \/interleaved\/aa\/cases/,
    );
  });

  it('are read from every json file below a folder, and a bad one is named', async () => {
    expect(await readExperimentsUnder(path.join(dir, 'absent'))).toEqual([]);
    const r = syntheticExperiment();
    await mkdir(path.join(dir, 'ok', 'class-a'), { recursive: true });
    await writeFile(path.join(dir, 'ok', 'class-a', 'aa-ab-trace-quick.json'), JSON.stringify(r));
    expect(await readExperimentsUnder(path.join(dir, 'ok'))).toEqual([r]);
    await writeFile(path.join(dir, 'ok', 'class-a', 'bad.json'), '{"schemaVersion":1}');
    await expect(readExperimentsUnder(path.join(dir, 'ok'))).rejects.toThrow(/experiment file .*bad\.json: /);
  });
});
