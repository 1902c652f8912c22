// Proves the result schema accepts the full example, stays in step with the TS types,
// documents every property, and that bad documents fail with readable messages.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError, isBerthError } from '../../engine/errdefs/errors.js';
import { exampleResult } from '../../results/schema/example-result.js';
import { DERIVATIONS, PROFILES, UNITS, type DerivedFrom, type ResultDocument, type RunSpread } from './document.js';
import { RESULT_SCHEMA_URL, readResult, resultProblems, validateResult } from './validate.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const schema = JSON.parse(readFileSync(RESULT_SCHEMA_URL, 'utf8')) as Json;

function rejection(doc: unknown, subject?: string): BerthError {
  try {
    validateResult(doc, subject);
  } catch (err) {
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    return err as BerthError;
  }
  throw new Error('document was accepted');
}

describe('result schema', () => {
  it('accepts the complete example document', () => {
    const doc = exampleResult();
    expect(resultProblems(doc)).toEqual([]);
    expect(validateResult(doc)).toBe(doc);
  });

  it('has $id, title and a description on every property', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.$id).toMatch(/^https:\/\//);
    expect(schema.title).toBeTruthy();
    const missing: string[] = [];
    const walk = (node: Json, path: string): void => {
      for (const [name, sub] of Object.entries<Json>(node.properties ?? {})) {
        if (typeof sub.description !== 'string' || sub.description.length < 3) missing.push(`${path}/${name}`);
        walk(sub, `${path}/${name}`);
      }
      if (node.items && typeof node.items === 'object') walk(node.items, `${path}[]`);
    };
    walk(schema, '');
    for (const [name, def] of Object.entries<Json>(schema.$defs)) {
      if (typeof def.description !== 'string') missing.push(`$defs/${name}`);
      walk(def, `$defs/${name}`);
    }
    expect(missing).toEqual([]);
  });

  // The example is typed ResultDocument, so TypeScript holds it to the types; here the
  // schema is held to the example: at every level the required keys are exactly the
  // fields the TS object has, and every declared property is required.
  it('requires exactly the fields of the TypeScript types, at every level', () => {
    const doc = exampleResult();
    const def = (name: string): Json => schema.$defs[name];
    const pairs: [Json, object][] = [
      [schema, doc],
      [def('run'), doc.run],
      [def('host'), doc.host],
      [def('host').properties.cpu, doc.host.cpu],
      [def('host').properties.dataRoot, doc.host.dataRoot],
      [def('host').properties.cgroup, doc.host.cgroup],
      [def('peer'), doc.host.peers.runc],
      [def('suiteOutcome'), doc.suites[0]],
      [def('caseResult'), doc.cases[0]],
      [def('stats'), doc.cases[0].stats],
      [def('stats').properties.ci95, doc.cases[0].stats.ci95],
      [def('phase'), doc.cases[0].phases![0]],
      [def('nsTimes'), doc.cases[0].phases![0].selfNs],
    ];
    // the properties version 2 added are optional (version 1 files lack them); all others are required
    const optional = new Map<Json, string[]>([
      [def('run'), ['repeat', 'injectedDelay']],
      [def('caseResult'), ['derived', 'runs']],
      [def('phase'), ['samples']],
    ]);
    for (const [node, value] of pairs) {
      const extra = optional.get(node) ?? [];
      const keys = Object.keys(value).filter((k) => !extra.includes(k));
      expect([...node.required].sort()).toEqual(keys.sort());
      expect(Object.keys(node.properties).sort()).toEqual([...new Set([...keys, ...extra])].sort());
      expect(node.additionalProperties).toBe(false);
    }
    const derivation: DerivedFrom = { from: ['a/b c'], how: 'ratio', pairing: 'interleaved' };
    const spread: RunSpread = {
      sampleRun: [0],
      perRun: [{ run: 0, n: 1, p50: 1 }],
      relativeStddev: null,
      ci95: { low: 1, high: 1, level: 0.95, resamples: 1, method: 'hierarchical-bootstrap' },
    };
    for (const [node, value] of [
      [def('derivation'), derivation],
      [def('runSpread'), spread],
      [def('runSpread').properties.perRun.items, spread.perRun[0]],
      [def('runSpread').properties.ci95, spread.ci95],
    ] as [Json, object][]) {
      expect([...node.required].sort()).toEqual(Object.keys(value).sort());
      expect(node.additionalProperties).toBe(false);
    }
    expect(def('derivation').properties.how.enum).toEqual([...DERIVATIONS]);
  });

  it('uses the same enums as document.ts', () => {
    expect(schema.$defs.caseResult.properties.unit.enum).toEqual([...UNITS]);
    expect(schema.$defs.run.properties.profile.enum).toEqual([...PROFILES]);
  });
});

describe('validateResult', () => {
  it('lists every schema error with its JSON pointer', () => {
    const doc = exampleResult() as Json;
    doc.cases[0].stats.p50 = 'fast';
    doc.run.profile = 'turbo';
    const err = rejection(doc);
    expect(err.message).toMatch(/^result document: /);
    expect(err.message).toContain('/cases/0/stats/p50: must be number');
    expect(err.message).toContain('/run/profile: must be one of quick, default, full');
    expect(err.details?.problems).toHaveLength(2);
  });

  it.each<[string, (d: Json) => void, string]>([
    ['a missing field', (d) => delete d.run.seed, "/run: missing required property 'seed'"],
    ['a wrong type', (d) => (d.host.cpu.cores = '2'), '/host/cpu/cores: must be integer'],
    ['a bad unit', (d) => (d.cases[0].unit = 'furlongs'), '/cases/0/unit: must be one of ns, us, ms, s, B, KiB'],
    [
      'a bad suite status',
      (d) => (d.suites[0].status = 'done'),
      '/suites/0/status: must be one of ran, skipped, not-built, failed',
    ],
    ['an unknown field', (d) => (d.run.extra = 1), "/run: unknown property 'extra'"],
    ['a wrong schema version', (d) => (d.schemaVersion = 3), '/schemaVersion: must be one of 1, 2'],
    ['a null where not allowed', (d) => (d.cases[0].samples = null), '/cases/0/samples: must be array'],
    ['a non-number sample', (d) => (d.cases[0].samples[2] = 'x'), '/cases/0/samples/2: must be number'],
    ['no samples', (d) => (d.cases[0].samples = []), '/cases/0/samples: must NOT have fewer than 1 items'],
    ['a bad date', (d) => (d.run.startedAt = 'yesterday'), '/run/startedAt: must match format "date-time"'],
    [
      'a short load average',
      (d) => (d.host.loadAverage = [1, 2]),
      '/host/loadAverage: must NOT have fewer than 3 items',
    ],
    [
      'a bad parameter value',
      (d) => (d.cases[0].parameters.image = { name: 'x' }),
      '/cases/0/parameters/image: must be string or number or boolean',
    ],
    ['a nullable field of the wrong type', (d) => (d.run.gitCommit = 7), '/run/gitCommit: must be string or null'],
    [
      'a bad document root',
      (d) => Object.keys(d).forEach((k) => delete d[k]),
      "/: missing required property 'schemaVersion'",
    ],
  ])('rejects %s', (_, change, fragment) => {
    const doc = exampleResult() as Json;
    change(doc);
    expect(rejection(doc).message).toContain(fragment);
  });

  it.each<[string, (d: ResultDocument) => void, string]>([
    [
      'stats.n that disagrees with the samples',
      (d) => (d.cases[0].stats.n = 4),
      '/cases/0/stats/n: is 4 but there are 5 samples',
    ],
    ['a median below the minimum', (d) => (d.cases[0].stats.p50 = 400), 'min ≤ p50 ≤ p95 ≤ p99 ≤ max does not hold'],
    [
      'a CI that misses the median',
      (d) => (d.cases[0].stats.ci95.high = 450),
      'ci95.low ≤ p50 ≤ ci95.high does not hold',
    ],
    [
      'a max that is not the largest sample',
      (d) => (d.cases[0].stats.max = 480),
      '/cases/0/stats/max: is 480 but the largest sample is 470',
    ],
    [
      'a run that ends before it starts',
      (d) => (d.run.finishedAt = '2026-11-28T04:00:00Z'),
      '/run/finishedAt: is before startedAt',
    ],
  ])('rejects %s', (_, change, fragment) => {
    const doc = exampleResult();
    change(doc);
    expect(rejection(doc).message).toContain(fragment);
  });

  it('rejects what is not an object at all, naming the subject', () => {
    expect(rejection(null, 'result x.json').message).toBe('result x.json: /: must be object');
    expect(rejection([]).message).toBe('result document: /: must be object');
  });

  it('caps a long list of problems', () => {
    const doc = exampleResult() as Json;
    doc.cases[0].samples = Array.from({ length: 50 }, () => 'x');
    doc.cases[0].stats.n = 50;
    const err = rejection(doc);
    expect(err.message).toContain('… and 30 more');
    expect(err.details?.problems).toHaveLength(50);
  });
});

describe('readResult', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), `berth-validate-${process.pid}-`));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a valid file', async () => {
    const path = join(dir, 'ok.json');
    await writeFile(path, JSON.stringify(exampleResult()));
    expect(await readResult(path)).toEqual(exampleResult());
  });

  it('names the file when it is invalid, not JSON, or missing', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ ...exampleResult(), warnings: 'none' }));
    await expect(readResult(bad)).rejects.toThrow(`result file ${bad}: /warnings: must be array`);

    const garbled = join(dir, 'garbled.json');
    await writeFile(garbled, '{"schemaVersion": 1,');
    await expect(readResult(garbled)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining(`result file ${garbled}: not JSON`),
    });

    const missing = join(dir, 'missing.json');
    await expect(readResult(missing)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining(`result file ${missing}: ENOENT`),
    });
  });
});
