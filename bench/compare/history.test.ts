// results/history.jsonl handling: one line per run, idempotent, malformed files named.
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { normalSamples, syntheticCase, syntheticDocument } from '../../scripts/synthetic-results.js';
import { appendHistory, readHistory } from './history-file.js';
import { parseHistory } from './history-line.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), `berth-history-${process.pid}-`));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const doc = (runId: string, mean: number) =>
  syntheticDocument(
    [
      syntheticCase({
        suite: 'run',
        case: 'start',
        target: 'berth',
        parameters: { image: 'busybox' },
        unit: 'ms',
        samples: normalSamples(mean, 10, mean, 1),
      }),
    ],
    {
      runId,
      startedAt: `2026-11-2${runId.length % 8}T04:00:00.000Z`,
    },
  );

describe('history file', () => {
  it('appends one summary line per run, and a run only once', async () => {
    const file = path.join(dir, 'sub', 'history.jsonl');
    expect(await readHistory(file)).toEqual([]);
    expect((await appendHistory(file, doc('run-a', 10), 'a.json')).added).toBe(true);
    expect((await appendHistory(file, doc('run-bb', 12), 'b.json')).added).toBe(true);
    expect((await appendHistory(file, doc('run-a', 10), 'a.json')).added).toBe(false);
    const text = await readFile(file, 'utf8');
    expect(text.trim().split('\n')).toHaveLength(2);
    const lines = await readHistory(file);
    expect(lines.map((l) => l.runId)).toEqual(['run-a', 'run-bb']);
    expect(lines[0].cases[0]).toMatchObject({ key: 'run/start berth [image="busybox"]', unit: 'ms', n: 10 });
    expect(lines[0].cases[0].low).toBeLessThanOrEqual(lines[0].cases[0].p50);
    expect(await readdir(path.join(dir, 'sub'))).toEqual(['history.jsonl']);
  });

  it('refuses to extend a malformed history, naming file and line', async () => {
    const file = path.join(dir, 'history.jsonl');
    await writeFile(file, '{"historyVersion":1,"runId":"x","startedAt":"2026-01-01T00:00:00Z","cases":[]}\nnot json\n');
    await expect(appendHistory(file, doc('run-c', 10), 'c.json')).rejects.toThrow(
      `history file ${file} line 2: not JSON`,
    );
    expect(await readFile(file, 'utf8')).toContain('not json');
  });

  it('checks the fields of each line', () => {
    expect(() => parseHistory('{"historyVersion":2}', 'h')).toThrow('h line 1: not a history line of version 1');
    expect(() =>
      parseHistory('{"historyVersion":1,"runId":"x","startedAt":"2026-01-01T00:00:00Z","cases":[{"key":"k"}]}', 'h'),
    ).toThrow('h line 1: cases[0] needs key, unit, p50, low and high');
  });
});
