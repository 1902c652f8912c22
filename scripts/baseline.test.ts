// Baselines are filed by host class and profile; recording validates and replaces atomically.
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { baselinePath, hostClass } from '../bench/compare/host-class.js';
import { recordBaseline } from './baseline.js';
import { normalSamples, syntheticCase, syntheticDocument } from './synthetic-results.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), `berth-baseline-${process.pid}-`));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const doc = () =>
  syntheticDocument([
    syntheticCase({ suite: 'run', case: 'start', target: 'berth', unit: 'ms', samples: normalSamples(1, 5, 10, 1) }),
  ]);

describe('baselines', () => {
  it('names the host class from arch, CPUs, memory, filesystem and cgroup layout', () => {
    const d = doc();
    expect(hostClass(d.host)).toBe('x64-2cpu-24gib-ext4-cgroup-hybrid');
    expect(baselinePath(d.host, 'quick')).toBe('results/baselines/x64-2cpu-24gib-ext4-cgroup-hybrid/quick.json');
    d.host.dataRoot.filesystem = 'Weird FS';
    expect(hostClass(d.host)).toBe('x64-2cpu-24gib-weird-fs-cgroup-hybrid');
  });

  it('records a valid run under its class and refuses an invalid one', async () => {
    const file = path.join(dir, 'run.json');
    await writeFile(file, JSON.stringify(doc()));
    const dest = await recordBaseline(file, dir);
    expect(dest).toBe(path.join(dir, 'results/baselines/x64-2cpu-24gib-ext4-cgroup-hybrid/quick.json'));
    expect(JSON.parse(await readFile(dest, 'utf8')).cases).toHaveLength(1);
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, '{"schemaVersion": 1}');
    await expect(recordBaseline(bad, dir)).rejects.toThrow(`result file ${bad}: /: missing required property 'run'`);
    expect(await readdir(path.dirname(dest))).toEqual(['quick.json']);
  });

  it('merges several runs of one clean commit into one baseline that records each run', async () => {
    const files = await Promise.all(
      [1, 2, 3].map(async (seed) => {
        const f = path.join(dir, `r${seed}.json`);
        const d = syntheticDocument(
          [
            syntheticCase({
              suite: 'run',
              case: 'start',
              target: 'berth',
              unit: 'ms',
              samples: normalSamples(seed, 5, 10, 1),
            }),
          ],
          { runId: `run-${seed}` },
        );
        await writeFile(f, JSON.stringify(d));
        return f;
      }),
    );
    const dest = await recordBaseline(files, dir);
    const merged = JSON.parse(await readFile(dest, 'utf8'));
    expect(merged.run.repeat).toEqual({ runs: 3, runIds: ['run-1', 'run-2', 'run-3'] });
    expect(merged.cases[0].runs.perRun).toHaveLength(3);
    // an injected delay or another commit never becomes a baseline
    const slowed = doc();
    slowed.run.injectedDelay = { spec: 'run/start:10%', suite: 'run', case: 'start', parameters: {}, fraction: 0.1 };
    const slowFile = path.join(dir, 'slow.json');
    await writeFile(slowFile, JSON.stringify(slowed));
    await expect(recordBaseline([files[0], slowFile], dir)).rejects.toThrow(/injected delay/);
    const other = syntheticDocument(
      [
        syntheticCase({
          suite: 'run',
          case: 'start',
          target: 'berth',
          unit: 'ms',
          samples: normalSamples(9, 5, 10, 1),
        }),
      ],
      { runId: 'x', gitCommit: 'abcdef1' },
    );
    const otherFile = path.join(dir, 'other.json');
    await writeFile(otherFile, JSON.stringify(other));
    await expect(recordBaseline([files[0], otherFile], dir)).rejects.toThrow(/2 commits/);
  });

  it('gives a host of unknown core count no class, so it never feeds a baseline', async () => {
    const d = doc();
    d.host.cpu.cores = null;
    expect(() => hostClass(d.host)).toThrow(/core count unknown/);
    const file = path.join(dir, 'nocores.json');
    await writeFile(file, JSON.stringify(d));
    await expect(recordBaseline(file, dir)).rejects.toThrow(/core count unknown/);
  });
});
