// Tests of the `runtime` suite: its cases per host (targets, quirk cases), the
// derived quirk overhead, and a real run through runBenchmarks (root) with tiny
// sample counts into a schema-valid document that leaves nothing behind.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { onPath } from '../../engine/fsutil/on-path.js';
import { background } from '../../engine/trace/index.js';
import { collectHostInfo } from '../host.js';
import { findRuntime, forceDelete, isFound, leftoversOf, type PeerQuirk, type PeerRuntime } from '../peers/index.js';
import { profiles, type ProfileSettings } from '../profiles.js';
import type { HostInfo } from '../results/document.js';
import type { FinalResult, MacroCase, MeasuredCase, SuiteContext } from '../suite.js';
import { findSuite } from './index.js';
import { runSuiteInTest } from './suite-test-run.js';
import { benchSpec, RuntimeBundles } from './runtime-bundles.js';
import { cliCase, goalNote, runtimeSuite } from './runtime.js';
import { needs, root } from '../../testkit/needs.js';
import { childPids } from '../../testkit/processes.js';

const runcMissing = (): string | undefined => {
  const r = findRuntime('runc');
  return isFound(r) ? undefined : r.reason;
};
const tiny: ProfileSettings = { ...profiles.quick, macro: { warmup: 1, minSamples: 2, maxSamples: 2, maxTimeMs: 1 } };

function suiteCtx(targets: string[], warnings: string[], dataRoot = os.tmpdir()): SuiteContext {
  return { profile: 'quick', settings: tiny, targets, dataRoot, seed: 1, warn: (m) => warnings.push(m) };
}

/** Cgroup directories this process's runtime bench made (ids brt<pid>-*, parent berth-bench-<pid>). */
function benchCgroups(): string[] {
  const out: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const root = join('/sys/fs/cgroup', h);
    let names: string[];
    try {
      names = readdirSync(root);
    } catch {
      continue;
    }
    for (const n of names) {
      if (n.startsWith(`brt${process.pid}-`) || n === `berth-bench-${process.pid}`) out.push(join(root, n));
      if (n === 'berth-runtime') {
        for (const c of readdirSync(join(root, n))) if (c.startsWith(`brt${process.pid}-`)) out.push(join(root, n, c));
      }
    }
  }
  return out;
}

describe('runtime suite: cases', () => {
  it('is registered as built and loads this suite', async () => {
    expect(await findSuite('runtime')!.load!()).toBe(runtimeSuite);
  });

  it('the bundle: /bin/true with or without a network namespace, everything else alike', () => {
    const a = benchSpec('/r', true);
    const b = benchSpec('/r', false);
    expect(a.process!.args).toEqual(['/bin/true']);
    expect(a.linux!.namespaces!.map((n) => n.type)).toContain('network');
    expect(b.linux!.namespaces!.map((n) => n.type)).not.toContain('network');
    expect({ ...b, linux: { ...b.linux, namespaces: [] } }).toEqual({ ...a, linux: { ...a.linux, namespaces: [] } });
  });

  it('only berth asked: the in-process and berth-runtime cases per variant, interleaved by variant', () => {
    const warnings: string[] = [];
    const cases = runtimeSuite.cases(suiteCtx(['berth'], warnings)) as MacroCase[];
    const br = isFound(findRuntime('berth-runtime'));
    const hyperfine = onPath('hyperfine') !== undefined;
    expect(
      cases.map(
        (c) => `${c.group} ${c.target} ${c.parameters.level}${c.parameters.tool ? ` ${c.parameters.tool}` : ''}`,
      ),
    ).toEqual([
      'create-start-exit-no-netns berth in-process',
      ...(br ? ['create-start-exit-no-netns berth cli'] : []),
      'create-start-exit-netns berth in-process',
      ...(br ? ['create-start-exit-netns berth cli'] : []),
      // the outside cross-check: berth-runtime's run timed by hyperfine, in the cli case's group
      ...(br && hyperfine ? ['create-start-exit-no-netns berth cli hyperfine'] : []),
    ]);
    if (br && !hyperfine) expect(warnings.join('\n')).toContain('hyperfine is not installed');
    expect(cases[0]!.phases).toBe(true);
    expect(cases.every((c) => c.unit === 'ms')).toBe(true);
  });

  it("with crun on a hybrid host: the quirk is warned, noted on crun's cases, and measured as its own cases", () => {
    const crun = findRuntime('crun');
    const warnings: string[] = [];
    const cases = runtimeSuite.cases(suiteCtx(['crun'], warnings)) as MacroCase[];
    if (!isFound(crun)) {
      expect(cases).toEqual([]);
      expect(warnings).toEqual([expect.stringContaining('target crun left out')]);
      return;
    }
    const crunCases = cases.filter((c) => c.case === 'create-start-exit' && c.parameters.tool === undefined);
    expect(crunCases).toHaveLength(2);
    expect(cases.filter((c) => c.parameters.tool === 'hyperfine').map((c) => c.target)).toEqual(
      onPath('hyperfine') !== undefined ? ['crun'] : [],
    );
    if (crun.quirks.length === 0) {
      expect(cases.some((c) => c.case === 'quirk-wrapper')).toBe(false);
      return;
    }
    expect(warnings.some((w) => w.includes('unshare -m'))).toBe(true);
    for (const c of crunCases) expect(c.notes!.some((n) => n.startsWith('Host quirk worked around'))).toBe(true);
    expect(cases.filter((c) => c.case === 'quirk-wrapper').map((c) => c.parameters.wrapped)).toEqual([false, true]);
  });

  it('derives the quirk overhead sample by sample', () => {
    const info = (wrapped: boolean) => ({
      suite: 'runtime',
      case: 'quirk-wrapper',
      target: 'crun',
      parameters: { wrapped, quirks: 'q' },
      unit: 'ms' as const,
      direction: 'lower-is-better' as const,
      method: '',
    });
    const measured: MeasuredCase[] = [
      { info: info(false), samples: [1, 2, 3], rounds: [[1, 2, 3]] },
      { info: info(true), samples: [4, 6], rounds: [[4, 6]] },
    ];
    const d = runtimeSuite.derive!(measured);
    expect(d).toHaveLength(1);
    const cse = (target: string, level: string, samples: number[]): MeasuredCase => ({
      info: {
        suite: 'runtime',
        case: 'create-start-exit',
        target,
        parameters: { netns: true, level },
        unit: 'ms',
        direction: 'lower-is-better',
        method: '',
      },
      samples,
      rounds: [samples],
    });
    // like for like only: berth's cli case over crun's cli case; the in-process case feeds no ratio
    const goal = runtimeSuite.derive!([
      cse('berth', 'in-process', [1, 1]),
      cse('crun', 'cli', [10, 9, 1]),
      cse('berth', 'cli', [5, 9]),
    ]);
    expect(goal).toEqual([
      expect.objectContaining({
        case: 'goal-vs-crun',
        target: 'berth',
        unit: 'ratio',
        parameters: { netns: true, level: 'cli' },
        samples: [0.5, 1],
      }),
    ]);
    expect(goal[0]!.notes).toContain('Goal ≤ 1: met (median ratio 0.75 over 2 paired samples).');
    expect(goal[0]!.derived).toEqual({
      from: [
        expect.objectContaining({ target: 'berth', parameters: { netns: true, level: 'cli' } }),
        expect.objectContaining({ target: 'crun' }),
      ],
      how: 'ratio',
      pairing: 'interleaved',
    });
    expect(runtimeSuite.derive!([cse('berth', 'in-process', [1, 1]), cse('crun', 'cli', [10, 10])])).toEqual([]);
    const slow = runtimeSuite.derive!([cse('berth', 'cli', [30, 40]), cse('crun', 'cli', [10, 10])]);
    expect(slow[0]!.notes).toContain('Goal ≤ 1: NOT met (median ratio 3.50 over 2 paired samples).');
    expect(d[0]).toMatchObject({
      case: 'quirk-overhead',
      target: 'crun',
      samples: [3, 4],
      derived: { how: 'difference', pairing: 'interleaved' },
    });
    expect(runtimeSuite.derive!([])).toEqual([]);
  });

  it("states the in-process median beside crun's cli median without judging a goal across levels", () => {
    const final = (target: string, level: string, p50: number): FinalResult => ({
      info: {
        suite: 'runtime',
        case: 'create-start-exit',
        target,
        parameters: { netns: false, level },
        unit: 'ms',
        direction: 'lower-is-better',
        method: '',
      },
      samples: [p50],
      stats: {
        n: 1,
        min: p50,
        p50,
        p95: p50,
        p99: p50,
        max: p50,
        mean: p50,
        stddev: 0,
        ci95: { low: p50, high: p50, level: 0.95, resamples: 0, method: 'bootstrap-percentile' },
      },
      phases: null,
    });
    const berth = final('berth', 'in-process', 6);
    expect(goalNote(berth, [final('runc', 'cli', 20), final('crun', 'cli', 8)])).toBe(
      'Beside crun (cli level, not like for like): p50 6.00 ms in-process vs crun 8.00 ms through its CLI; no goal is judged across levels.',
    );
    expect(goalNote(berth, [final('berth', 'cli', 100)])).toBe(
      'Beside crun (cli level, not like for like): crun did not run in this group.',
    );
  });
});

needs(root()).describe('runtime suite: real runs (root)', () => {
  let host: HostInfo;
  beforeAll(async () => {
    host = await collectHostInfo({ dataRoot: os.tmpdir(), peers: [] });
  });

  it('runs every case end to end into a schema-valid document and leaves no state, cgroup or process', async () => {
    const dataRoot = mkdtempSync(join(os.tmpdir(), `berth-runtime-suite-${process.pid}-`));
    const children = childPids();
    try {
      const document = await runSuiteInTest({ suite: 'runtime', settings: tiny, seed: 3, dataRoot, host });
      const inProcess = document.cases.filter((c) => c.parameters.level === 'in-process');
      expect(inProcess.map((c) => c.parameters.netns)).toEqual([false, true]);
      const crunRan = document.cases.some((c) => c.case === 'create-start-exit' && c.target === 'crun');
      for (const c of inProcess) {
        expect(c.notes.join('\n')).toMatch(
          crunRan ? /Beside crun \(cli level, not like for like\): p50 / : /crun did not run in this group/,
        );
        const names = c.phases!.map((p) => p.name);
        for (const n of [
          'execdriver.create',
          'execdriver.cgroup',
          'libcontainer.clone',
          'libcontainer.pivot-root',
          'libcontainer.execve',
        ])
          expect(names).toContain(n);
      }
      const targets = new Set(document.cases.filter((c) => c.case === 'create-start-exit').map((c) => c.target));
      for (const peer of ['runc', 'crun'] as const) {
        if (isFound(findRuntime(peer))) expect(targets.has(peer)).toBe(true);
      }
      const crun = findRuntime('crun');
      for (const g of document.cases.filter((c) => c.case === 'goal-vs-crun'))
        expect(g.notes.join('\n')).toMatch(/Goal ≤ 1: (met|NOT met) \(median ratio /);
      if (isFound(crun) && isFound(findRuntime('berth-runtime')))
        expect(document.cases.filter((c) => c.case === 'goal-vs-crun')).toHaveLength(2);
      if (isFound(crun) && crun.quirks.length > 0) {
        expect(document.cases.some((c) => c.case === 'quirk-overhead')).toBe(true);
        expect(document.warnings.some((w) => w.includes('crun') && w.includes('unshare -m'))).toBe(true);
      }
      // the outside cross-check: hyperfine's figure beside the harness's, and their agreement
      const checked = ['berth-runtime', 'crun'].filter((r) => isFound(findRuntime(r as 'crun')));
      const agreement = document.cases.filter((c) => c.case === 'create-start-exit-crosscheck');
      expect(agreement).toHaveLength(onPath('hyperfine') !== undefined ? checked.length : 0);
      for (const a of agreement) {
        expect(a.derived).toMatchObject({ how: 'ratio', pairing: 'interleaved' });
        expect(a.notes[0]).toMatch(/^(Agrees within|DISAGREES by more than) 10 %: hyperfine median /);
        if (a.notes[0]!.startsWith('DISAGREES'))
          expect(document.warnings.some((w) => w.startsWith('suite runtime: cross-check '))).toBe(true);
      }
      for (const c of document.cases.filter((x) => x.case === 'create-start-exit')) {
        expect(c.samples).toHaveLength(2);
        expect(c.samples.every((s) => s > 0)).toBe(true);
      }
      expect(readdirSync(dataRoot)).toEqual([]);
      expect(benchCgroups()).toEqual([]);
      expect(childPids()).toEqual(children);
    } finally {
      rmSync(dataRoot, { recursive: true, force: true });
    }
    // every runtime, both variants, the quirk cases and the hyperfine cross-checks: minutes on a loaded host
  }, 300_000);
  needs(runcMissing()).it(
    'a container a sample leaves is removed by delete -f; a delete that leaves it fails the sample',
    async () => {
      const ctx = background();
      const runc = findRuntime('runc') as PeerRuntime;
      const dataRoot = mkdtempSync(join(os.tmpdir(), `berth-runtime-left-${process.pid}-`));
      const bundles = new RuntimeBundles(dataRoot);
      // `run` becomes `create`: the container stays (state, cgroup, a waiting init) after the sample.
      const createOnly: PeerQuirk = {
        id: 'test-create-only',
        description: 'test',
        wrap: (argv) => argv.map((a) => (a === 'run' ? 'create' : a)),
      };
      const brokenDelete: PeerQuirk = {
        id: 'test-no-delete',
        description: 'test',
        wrap: (argv) => argv.map((a) => (a === 'run' ? 'create' : a === 'delete' ? 'state' : a)),
      };
      const m = bundles.acquire();
      const stateRoot = m.stateRoot('runc');
      try {
        const good = cliCase(bundles, 'no-netns', { ...runc, quirks: [createOnly] });
        await good.setup!(ctx);
        await good.beforeSample!(ctx, 0);
        await good.sample(ctx, 0);
        const [id] = readdirSync(stateRoot);
        expect(leftoversOf(id!, stateRoot).length).toBeGreaterThan(1);
        await good.afterSample!(ctx, 0);
        expect(leftoversOf(id!, stateRoot)).toEqual([]);
        await good.teardown!(ctx);

        const bad = cliCase(bundles, 'no-netns', { ...runc, quirks: [brokenDelete] });
        await bad.setup!(ctx);
        await bad.beforeSample!(ctx, 0);
        await bad.sample(ctx, 0);
        const [left] = readdirSync(stateRoot);
        try {
          await expect(bad.afterSample!(ctx, 0)).rejects.toThrow(left!);
        } finally {
          await forceDelete(runc, stateRoot, left!);
          await bad.teardown!(ctx);
        }
        expect(leftoversOf(left!, stateRoot)).toEqual([]);
      } finally {
        bundles.release();
        expect(readdirSync(dataRoot)).toEqual([]);
        rmSync(dataRoot, { recursive: true, force: true });
      }
    },
  );
});
