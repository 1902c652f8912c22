// Tests of the benchmark runner with fake suites: interleaved order, warm-up,
// time budgets, teardown on failure, failed/skipped/not-built outcomes, micro
// cases through tinybench, span phases, derived cases, and a schema-valid document.
import { execa } from 'execa';
import os from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { background, instrument, withSignal, type Context } from '../engine/trace/index.js';
import { collectHostInfo } from './host.js';
import { profiles, type ProfileSettings } from './profiles.js';
import type { HostInfo } from './results/document.js';
import { validateResult } from './results/validate.js';
import { formatTable, groupCases, phaseBreakdown, runBenchmarks, type RunOptions } from './runner.js';
import { parseInjectDelay } from './inject-delay.js';
import type { CaseDef, MacroCase, MicroCase, RegisteredSuite, Suite } from './suite.js';

let host: HostInfo;
beforeAll(async () => {
  host = await collectHostInfo({ dataRoot: os.tmpdir(), peers: [] });
});

function settings(
  over: { macro?: Partial<ProfileSettings['macro']>; micro?: Partial<ProfileSettings['micro']> } = {},
): ProfileSettings {
  const q = profiles.quick;
  return {
    ...q,
    macro: { ...q.macro, warmup: 0, minSamples: 1, maxSamples: 3, maxTimeMs: 60_000, ...over.macro },
    micro: {
      ...q.micro,
      warmupTimeMs: 5,
      warmupIterations: 2,
      timeMs: 5,
      iterations: 5,
      rounds: 2,
      samplesPerRound: 10,
      ...over.micro,
    },
  };
}

function registered(suite: Suite): RegisteredSuite {
  return { name: suite.name, description: suite.description, load: async () => suite };
}

async function run(suites: RegisteredSuite[], over: Partial<RunOptions> = {}) {
  const lines: string[] = [];
  const outcome = await runBenchmarks({
    suites,
    settings: settings(),
    seed: 7,
    dataRoot: os.tmpdir(),
    argv: ['--test'],
    progress: (l) => lines.push(l),
    hostInfo: async () => host,
    ...over,
  });
  return { ...outcome, lines };
}

function macro(target: string, over: Partial<MacroCase> = {}): MacroCase {
  return {
    kind: 'macro',
    suite: 'fake',
    case: 'op',
    target,
    parameters: { size: 1 },
    unit: 'ms',
    direction: 'lower-is-better',
    method: 'a fake operation.',
    sample: () => 1,
    ...over,
  };
}

/** The run's warnings less the host-load one, which depends on what else runs. */
function ownWarnings(warnings: readonly string[]): string[] {
  return warnings.filter((w) => !w.includes('host busy'));
}

function suiteOf(name: string, cases: () => CaseDef[], extra: Partial<Suite> = {}): Suite {
  return { name, description: `fake suite ${name}`, targets: ['berth', 'runc'], cases, ...extra };
}

describe('runner: macro cases', () => {
  it('interleaves the targets of one case (A B A B), warm-up first and not counted', async () => {
    const log: string[] = [];
    const mk = (t: string) =>
      macro(t, {
        sample: (_ctx, i) => {
          log.push(`${t}${i < 0 ? 'w' : i}`);
          return i < 0 ? 1000 : 1;
        },
      });
    const { document, failed } = await run([registered(suiteOf('fake', () => [mk('berth'), mk('runc')]))], {
      settings: settings({ macro: { warmup: 2, minSamples: 3, maxSamples: 3 } }),
    });
    expect(failed).toBe(false);
    expect(log).toEqual([
      'berthw',
      'runcw',
      'berthw',
      'runcw',
      'berth0',
      'runc0',
      'berth1',
      'runc1',
      'berth2',
      'runc2',
    ]);
    expect(document.cases.map((c) => [c.target, c.warmup, c.samples])).toEqual([
      ['berth', 2, [1, 1, 1]],
      ['runc', 2, [1, 1, 1]],
    ]);
    expect(document.cases[0].method).toMatch(/^a fake operation\. \[2 warm-up runs.*interleaved/);
  });

  it('keeps different parameters apart: each is its own group', () => {
    const groups = groupCases([
      macro('berth'),
      macro('runc'),
      macro('berth', { parameters: { size: 2 } }),
      macro('runc', { group: 'op' }),
    ]);
    expect(groups.map((g) => g.map((c) => `${c.target}:${c.parameters.size}`))).toEqual([
      ['berth:1', 'runc:1'],
      ['berth:2'],
      ['runc:1'],
    ]);
  });

  it('stops at the time budget once the minimum is reached', async () => {
    let now = 0;
    const tick = macro('berth', {
      sample: () => {
        now += 10;
        return 5;
      },
    });
    const r1 = await run([registered(suiteOf('fake', () => [tick]))], {
      settings: settings({ macro: { minSamples: 2, maxSamples: 1000, maxTimeMs: 100 } }),
      budgetClock: () => now,
    });
    expect(r1.document.cases[0].samples).toHaveLength(10);
    now = 0;
    const r2 = await run([registered(suiteOf('fake', () => [tick]))], {
      settings: settings({ macro: { minSamples: 4, maxSamples: 1000, maxTimeMs: 5 } }),
      budgetClock: () => now,
    });
    expect(r2.document.cases[0].samples).toHaveLength(4);
  });

  it('lowers the warm-up and minimum samples for a case that asks (never raises them) and says so in the method', async () => {
    let now = 0;
    const mk = (t: string, sampling: { warmup?: number; minSamples?: number }) =>
      macro(t, {
        sampling,
        sample: () => {
          now += 10;
          return 5;
        },
      });
    const { document } = await run(
      [
        registered(
          suiteOf('fake', () => [mk('berth', { warmup: 0, minSamples: 2 }), mk('runc', { warmup: 9, minSamples: 9 })]),
        ),
      ],
      {
        settings: settings({ macro: { warmup: 1, minSamples: 4, maxSamples: 1000, maxTimeMs: 5 } }),
        budgetClock: () => now,
      },
    );
    // past the budget at once: each stops at its own minimum (runc's 9 is not above the profile's 4)
    expect(document.cases.map((c) => [c.target, c.warmup, c.samples.length])).toEqual([
      ['berth', 0, 4],
      ['runc', 1, 4],
    ]);
    expect(document.cases[0].method).toContain(
      "(at least 2: fewer than the quick profile's 1 and 4, asked by the case)",
    );
    expect(document.cases[1].method).toContain('(at least 4)');
  });

  it('times the call when the sample returns nothing, in the case unit', async () => {
    const { document } = await run([
      registered(
        suiteOf('fake', () => [
          macro('berth', { unit: 'us', sample: () => new Promise<void>((r) => setTimeout(r, 2)) }),
          macro('runc', { unit: 'count', sample: () => undefined }),
        ]),
      ),
    ]);
    expect(document.cases).toHaveLength(1);
    expect(Math.min(...document.cases[0].samples)).toBeGreaterThan(1000); // ≥ ~2 ms in µs
    expect(document.suites[0].status).toBe('failed');
    expect(document.suites[0].reason).toMatch(/runc.*unit count is not a time unit/);
  });

  it('runs teardown and afterSample when a sample or the setup fails, and records the error', async () => {
    const calls: string[] = [];
    const failing = macro('berth', {
      setup: () => void calls.push('setup'),
      beforeSample: (_c, i) => void calls.push(`before${i}`),
      afterSample: (_c, i) => void calls.push(`after${i}`),
      teardown: () => void calls.push('teardown'),
      sample: (_c, i) => {
        if (i === 1) throw new Error('layer sha256:ab: digest mismatch');
        return 1;
      },
    });
    const badSetup = macro('runc', {
      setup: () => {
        throw new Error('bridge br0: busy');
      },
      teardown: () => void calls.push('teardown-runc'),
    });
    const { document, failed } = await run([registered(suiteOf('fake', () => [failing, badSetup]))], {
      settings: settings({ macro: { maxSamples: 5 } }),
    });
    expect(failed).toBe(true);
    expect(calls).toEqual(['setup', 'before0', 'after0', 'before1', 'after1', 'teardown', 'teardown-runc']);
    expect(document.cases).toEqual([]);
    expect(document.suites[0]).toMatchObject({ name: 'fake', status: 'failed' });
    expect(document.suites[0].reason).toContain('op [berth size=1]: sample 1: layer sha256:ab: digest mismatch');
    expect(document.suites[0].reason).toContain('op [runc size=1]: setup: bridge br0: busy');
  });

  it('collects spans around each sample into a phase breakdown', async () => {
    const driver = instrument('fake.driver', {
      async get(_ctx: Context, id: string) {
        await new Promise((r) => setTimeout(r, 1));
        return id;
      },
    });
    const withPhases = macro('berth', {
      phases: true,
      sample: async (ctx) => {
        await driver.get(ctx, 'a');
        await driver.get(ctx, 'b');
      },
    });
    const { document } = await run([registered(suiteOf('fake', () => [withPhases]))]);
    const phases = document.cases[0].phases!;
    expect(phases.map((p) => [p.name, p.module, p.callsPerOp])).toEqual([['fake.driver.get', 'fake.driver', 2]]);
    expect(phases[0].totalNs.p50).toBeGreaterThan(0);
    expect(phases[0].selfNs.mean).toBeLessThanOrEqual(phases[0].totalNs.mean);
    // no collector is left listening
    const quietCtx = background();
    expect(await driver.get(quietCtx, 'x')).toBe('x');
  });

  it('leaves a span out of the samples it did not appear in, instead of counting 0 calls and 0 ns', () => {
    const span = (name: string, count: number, selfNs: number) => ({
      name,
      module: 'm',
      count,
      selfNs,
      totalNs: selfNs,
      meanNs: selfNs,
      minNs: selfNs,
      maxNs: selfNs,
      errors: 0,
    });
    const rows = phaseBreakdown([[span('a', 1, 100), span('b', 2, 50)], [span('a', 1, 300)], [span('a', 1, 200)]]);
    const b = rows.find((r) => r.name === 'b')!;
    expect(b).toMatchObject({ callsPerOp: 2, samples: 1, selfNs: { p50: 50, mean: 50 } });
    expect(rows.find((r) => r.name === 'a')).toMatchObject({
      callsPerOp: 1,
      samples: 3,
      selfNs: { p50: 200, mean: 200 },
    });
  });

  it('slows only the cases BERTH_BENCH_INJECT_DELAY names, by the fraction asked, and records it', async () => {
    const work = () => {
      const until = process.hrtime.bigint() + 2_000_000n;
      while (process.hrtime.bigint() < until);
    };
    const s = suiteOf('fake', () => [macro('berth', { sample: work }), macro('runc', { sample: work })]);
    const injectDelay = parseInjectDelay('fake/op target=berth:50%')!;
    const { document } = await run([registered(s)], {
      injectDelay,
      settings: settings({ macro: { minSamples: 5, maxSamples: 5 } }),
    });
    const [berth, runc] = document.cases;
    // 2 ms of work (at least: a busy host only stretches it) and half of it again spun: never under 3 ms. That runc's
    // figure is left as measured is shown without a clock by the next test (cases that report their own time).
    expect(berth.samples.length).toBe(5);
    for (const ms of berth.samples) expect(ms).toBeGreaterThanOrEqual(3);
    expect(berth.notes.join(' ')).toMatch(/Test-only slowdown injected/);
    expect(runc.notes.join(' ')).not.toMatch(/slowdown/);
    expect(document.run.injectedDelay).toEqual({
      spec: 'fake/op target=berth:50%',
      suite: 'fake',
      case: 'op',
      parameters: { target: 'berth' },
      fraction: 0.5,
    });
    expect(() => validateResult(document)).not.toThrow();
  });

  it('scales the figure of a case that reports its own time, and refuses one reporting anything else', async () => {
    const own = suiteOf('fake', () => [
      macro('berth', { sample: () => 4 }),
      macro('runc', { sample: () => 4 }),
      macro('crun', { sample: () => 100, unit: 'ops/s', direction: 'higher-is-better' }),
    ]);
    const { document } = await run([registered(own)], {
      injectDelay: parseInjectDelay('fake/op target=berth:25%')!,
      settings: settings({ macro: { minSamples: 5, maxSamples: 5 } }),
    });
    const [berth, runc] = document.cases;
    expect(berth.samples).toEqual([5, 5, 5, 5, 5]);
    expect(runc.samples).toEqual([4, 4, 4, 4, 4]);
    expect(berth.notes.join(' ')).toMatch(/figure scaled by 1\.250/);
    const rate = await run([registered(own)], {
      injectDelay: parseInjectDelay('fake/op target=crun:25%')!,
      settings: settings({ macro: { minSamples: 5, maxSamples: 5 } }),
    });
    expect(rate.document.suites[0]).toMatchObject({ status: 'failed' });
    expect(rate.document.suites[0].reason).toMatch(
      /reporting its own time \(this one reports ops\/s, higher-is-better\)/,
    );
  });
});

describe('runner: suites', () => {
  it('records failed, skipped and not-built suites and keeps going', async () => {
    const broken = suiteOf('broken', () => {
      throw new Error('corpus missing');
    });
    const ok = suiteOf('ok', () => [macro('berth', { suite: 'ok' })]);
    const needsRoot = suiteOf('needs', () => [macro('berth', { suite: 'needs' })], {
      requires: async () => 'needs crun',
    });
    const unloadable: RegisteredSuite = {
      name: 'unloadable',
      description: 'x',
      load: async () => {
        throw new Error('module not found');
      },
    };
    const notBuilt: RegisteredSuite = { name: 'pull', description: 'not built yet' };
    const { document, failed, lines } = await run([
      registered(broken),
      registered(ok),
      registered(needsRoot),
      unloadable,
      notBuilt,
    ]);
    expect(failed).toBe(true);
    expect(document.suites.map((s) => [s.name, s.status, s.reason])).toEqual([
      ['broken', 'failed', 'suite broken: corpus missing'],
      ['ok', 'ran', null],
      ['needs', 'skipped', 'needs crun'],
      ['unloadable', 'failed', 'suite unloadable: module not found'],
      ['pull', 'not-built', 'not built yet'],
    ]);
    expect(document.suites[4].durationMs).toBeNull();
    expect(document.cases.map((c) => c.suite)).toEqual(['ok']);
    expect(lines).toContain('suite pull: not built yet (no numbers recorded)');
    expect(() => validateResult(document)).not.toThrow();
  });

  it('stops at a cancelled context: teardown runs, later suites are recorded as not run', async () => {
    const ac = new AbortController();
    const calls: string[] = [];
    const first = suiteOf('first', () => [
      macro('berth', {
        suite: 'first',
        sample: (_c, i) => {
          if (i === 1) ac.abort(new Error('interrupted by SIGINT'));
          return 1;
        },
        teardown: () => void calls.push('teardown'),
      }),
    ]);
    const second = suiteOf('second', () => [macro('berth', { suite: 'second' })]);
    const { document, failed } = await run([registered(first), registered(second)], {
      ctx: withSignal(background(), ac.signal),
      settings: settings({ macro: { maxSamples: 10 } }),
    });
    expect(failed).toBe(true);
    expect(calls).toEqual(['teardown']);
    expect(document.suites.map((s) => [s.name, s.status])).toEqual([
      ['first', 'failed'],
      ['second', 'failed'],
    ]);
    expect(document.suites[0].reason).toBe('op [berth size=1]: sample 2: cancelled (interrupted by SIGINT)');
    expect(document.suites[1].reason).toBe('not run: the run was cancelled (interrupted by SIGINT)');
  });

  it('keeps only the cases of the targets asked for', async () => {
    const s = suiteOf('fake', () => [macro('berth'), macro('runc')]);
    const { document } = await run([registered(s)], { targets: ['runc'] });
    expect(document.cases.map((c) => c.target)).toEqual(['runc']);
    const none = await run([registered(s)], { targets: ['docker'] });
    expect(none.document.suites[0]).toMatchObject({ status: 'skipped', reason: 'no case for target docker' });
  });

  it('adds derived cases from the measured samples', async () => {
    const s = suiteOf(
      'fake',
      () => [macro('berth', { sample: (_c, i) => 10 + i }), macro('runc', { sample: () => 4 })],
      {
        derive: (measured) => {
          const [a, b] = measured;
          return [
            {
              ...a.info,
              case: 'diff',
              samples: a.samples.map((x, i) => x - b.samples[i]),
              method: 'berth minus runc, pairwise.',
              derived: { from: [a.info, b.info], how: 'difference', pairing: 'interleaved' },
            },
          ];
        },
      },
    );
    const { document } = await run([registered(s)]);
    const diff = document.cases.find((c) => c.case === 'diff')!;
    expect(diff.samples).toEqual([6, 7, 8]);
    expect(diff.stats.p50).toBe(7);
    expect(diff.method).toBe('berth minus runc, pairwise.');
    // the document says what the case was computed from, by case key; the inputs are not marked
    expect(diff.derived).toEqual({
      from: ['fake/op berth [size=1]', 'fake/op runc [size=1]'],
      how: 'difference',
      pairing: 'interleaved',
    });
    expect(document.cases.filter((c) => c.derived === undefined).map((c) => c.target)).toEqual(['berth', 'runc']);
    expect(() => validateResult(document)).not.toThrow();
  });

  it('derives from the cases that succeeded: a derived case missing an input is left out with a warning naming it', async () => {
    const s = suiteOf(
      'fake',
      () => [
        macro('berth', { sample: (_c, i) => 10 + i }),
        macro('runc', {
          sample: () => {
            throw new Error('runc exploded');
          },
        }),
        macro('crun', { sample: () => 4 }),
      ],
      {
        targets: ['berth', 'runc', 'crun'],
        derive: (measured) => {
          const berth = measured.find((m) => m.info.target === 'berth');
          if (berth === undefined) return [];
          return measured
            .filter((m) => m !== berth)
            .map((m) => ({
              ...berth.info,
              case: `minus-${m.info.target}`,
              samples: berth.samples.map((x, i) => x - (m.samples[i] ?? 0)),
              method: 'pairwise.',
              derived: { from: [berth.info, m.info], how: 'difference' as const, pairing: 'interleaved' as const },
            }));
        },
      },
    );
    const { document, failed, lines } = await run([registered(s)]);
    expect(failed).toBe(true);
    expect(document.suites[0].reason).toBe('op [runc size=1]: sample 0: runc exploded');
    expect(document.cases.map((c) => `${c.case}/${c.target}`)).toEqual(['op/berth', 'op/crun', 'minus-crun/berth']);
    expect(document.cases[2].samples).toEqual([6, 7, 8]);
    expect(ownWarnings(document.warnings)).toEqual([
      'suite fake: derived case minus-runc [berth size=1] left out: it needs a case that failed (op [runc size=1])',
    ]);
    expect(lines).toContain(`warning: ${ownWarnings(document.warnings)[0]}`);
    expect(() => validateResult(document)).not.toThrow();
  });

  it("adds a derived case's warnings once, from the call whose cases it keeps, and not to the case", async () => {
    const s = suiteOf(
      'fake',
      () => [macro('berth'), macro('runc', { sample: () => Promise.reject(new Error('no')) })],
      {
        derive: (measured) =>
          measured
            .filter((m) => m.info.target === 'berth')
            .map((m) => ({
              ...m.info,
              case: 'checked',
              samples: m.samples,
              method: 'as measured.',
              derived: { from: [m.info], how: 'scaled' as const, pairing: 'same-sample' as const },
              warnings: [`figures of ${m.info.case} disagree`],
            })),
      },
    );
    const { document } = await run([registered(s)]);
    expect(ownWarnings(document.warnings)).toEqual(['suite fake: figures of op disagree']);
    expect(document.cases.find((c) => c.case === 'checked')).not.toHaveProperty('warnings');
    expect(() => validateResult(document)).not.toThrow();
  });

  it('gives no left-out warning when the failed case fed no derived case', async () => {
    const s = suiteOf(
      'fake',
      () => [macro('berth'), macro('runc', { sample: () => Promise.reject(new Error('no')) })],
      {
        derive: (measured) =>
          measured
            .filter((m) => m.info.target === 'berth')
            .map((m) => ({
              ...m.info,
              case: 'twice',
              samples: m.samples.map((x) => 2 * x),
              method: 'double.',
              derived: { from: [m.info], how: 'scaled' as const, pairing: 'same-sample' as const },
            })),
      },
    );
    const { document } = await run([registered(s)]);
    expect(document.cases.map((c) => c.case)).toEqual(['op', 'twice']);
    expect(ownWarnings(document.warnings)).toEqual([]);
  });

  it('adds the notes of the resultNotes hook from the final stats and the group, after the static ones; derive sees them', async () => {
    let seen: readonly string[] | undefined;
    const s = suiteOf(
      'fake',
      () => [
        macro('berth', {
          notes: ['static note.'],
          sample: (_c, i) => 10 + i,
          resultNotes: (r, group) => [
            `p50 ${r.stats.p50} over ${r.samples.length} samples.`,
            `beside ${group.map((g) => `${g.info.target} p50 ${g.stats.p50}`).join(', ')}.`,
          ],
        }),
        macro('runc', {
          sample: () => 4,
          resultNotes: () => {
            throw new Error('no figure');
          },
        }),
      ],
      { derive: (measured) => ((seen = measured[0].notes), []) },
    );
    const { document, failed } = await run([registered(s)]);
    expect(failed).toBe(false);
    expect(document.cases[0].notes).toEqual(['static note.', 'p50 11 over 3 samples.', 'beside runc p50 4.']);
    expect(document.cases[1].notes).toEqual([]);
    expect(ownWarnings(document.warnings)).toEqual(['suite fake: op [runc size=1]: notes: no figure']);
    expect(seen).toEqual(document.cases[0].notes);
  });

  it('says in the method how many cases of which targets a case was interleaved with', async () => {
    const s = suiteOf('fake', () => [
      macro('berth', { group: 'g', parameters: { size: 1 } }),
      macro('berth', { group: 'g', parameters: { size: 2 } }),
      macro('runc', { group: 'g', parameters: { size: 1 } }),
      macro('berth', { case: 'alone' }),
    ]);
    const { document } = await run([registered(s)]);
    const method = (c: string, target: string, size: number) =>
      document.cases.find((x) => x.case === c && x.target === target && x.parameters.size === size)!.method;
    expect(method('op', 'berth', 1)).toContain(
      ', interleaved in group g with 2 other cases (1 more of target berth, 1 of target runc)',
    );
    expect(method('op', 'runc', 1)).toContain(', interleaved in group g with 2 other cases (2 of target berth)');
    expect(method('alone', 'berth', 1)).not.toContain('interleaved');
    expect(document.cases.map((c) => c.method).join(' ')).not.toMatch(/other target/);
  });

  it('writes a document that validates, with run info, seed and git state', async () => {
    const { document } = await run([registered(suiteOf('fake', () => [macro('berth')]))]);
    validateResult(document);
    expect(document.run.seed).toBe(7);
    expect(document.run.profile).toBe('quick');
    expect(document.run.argv).toEqual(['--test']);
    expect(document.run.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(document.run.berthVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(document.run.gitCommit === null || /^[0-9a-f]{40}$/.test(document.run.gitCommit)).toBe(true);
    expect(Date.parse(document.run.finishedAt)).toBeGreaterThanOrEqual(Date.parse(document.run.startedAt));
    const table = formatTable(document).split('\n');
    expect(table[0]).toMatch(/^case\s+target\s+n\s+p50\s+CI95\s+unit$/);
    expect(table[1]).toMatch(/^fake\/op size=1\s+berth\s+3\s+1\.00\s+1\.00…1\.00\s+ms$/);
  });

  it('records the commit the run began on, and a dirty tree with a warning when the tree changed during the run', async () => {
    const states = [
      { commit: 'a'.repeat(40), dirty: false },
      { commit: 'b'.repeat(40), dirty: true },
    ];
    let reads = 0;
    const moved = await run([registered(suiteOf('fake', () => [macro('berth')]))], {
      gitInfo: async () => states[Math.min(reads++, 1)]!,
    });
    expect(moved.document.run.gitCommit).toBe('a'.repeat(40));
    expect(moved.document.run.gitDirty).toBe(true);
    expect(ownWarnings(moved.document.warnings).join('\n')).toMatch(
      /source tree changed while the suites ran \(aaaaaaaaaaaa \(clean\) at the start, bbbbbbbbbbbb \(dirty\) at the end\)/,
    );

    const still = await run([registered(suiteOf('fake', () => [macro('berth')]))], {
      gitInfo: async () => ({ commit: 'c'.repeat(40), dirty: false }),
    });
    expect(still.document.run.gitCommit).toBe('c'.repeat(40));
    expect(still.document.run.gitDirty).toBe(false);
    expect(ownWarnings(still.document.warnings)).toEqual([]);
  });
});

describe('runner: micro cases', () => {
  it('runs interleaved tinybench rounds, warm-up first, samples in ns per op', async () => {
    const order: string[] = [];
    let inside = 0;
    let outsideCalls = 0;
    const mk = (name: string, spin: number): MicroCase => ({
      kind: 'micro',
      suite: 'fake',
      case: 'spin',
      target: 'berth',
      parameters: { variant: name },
      group: 'spin',
      unit: 'ns',
      direction: 'lower-is-better',
      method: 'spins.',
      opsPerIteration: 4,
      fn: (ops) => {
        if (inside !== 1) outsideCalls++;
        let x = 0;
        for (let i = 0; i < ops * spin; i++) x += i;
        return x;
      },
      beforeRun: () => {
        order.push(name);
        inside++;
      },
      afterRun: () => {
        inside--;
      },
    });
    const { document, failed } = await run([registered(suiteOf('fake', () => [mk('a', 1), mk('b', 20_000)]))]);
    expect(failed).toBe(false);
    expect(outsideCalls).toBe(0);
    // warm-up a, warm-up b, then rounds: a b a b
    expect(order).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
    const [a, b] = document.cases;
    expect(a.warmup).toBeGreaterThanOrEqual(2);
    expect(a.samples.length).toBeGreaterThanOrEqual(2 * 5);
    expect(a.method).toMatch(/^spins\. \[tinybench 6/);
    // 20000 additions per op take far longer than one; samples are ns per op (not ms, not per iteration)
    expect(b.stats.p50).toBeGreaterThan(a.stats.p50);
    expect(b.stats.p50).toBeGreaterThan(2_000);
    expect(b.stats.p50).toBeLessThan(1e7);
  });

  it('records a throwing micro case as a failure and still tears it down', async () => {
    let tornDown = false;
    const bad: MicroCase = {
      kind: 'micro',
      suite: 'fake',
      case: 'bad',
      target: 'berth',
      parameters: {},
      unit: 'ns',
      direction: 'lower-is-better',
      method: 'throws.',
      fn: () => {
        throw new Error('EINVAL');
      },
      teardown: () => {
        tornDown = true;
      },
    };
    const { document, failed } = await run([registered(suiteOf('fake', () => [bad]))]);
    expect(failed).toBe(true);
    expect(tornDown).toBe(true);
    expect(document.suites[0].reason).toBe('bad [berth]: EINVAL');
  });
});

describe('runner: CPU pinning', () => {
  it('pins with taskset and records it, or warns for a CPU that does not exist', async () => {
    const all = `0-${os.cpus().length - 1}`;
    try {
      const pinned = await run([], { cpu: 0 });
      expect(pinned.document.run.cpuPinning).toEqual([0]);
      const affinity = await execa('taskset', ['-p', '-c', String(process.pid)]);
      expect(affinity.stdout.trim()).toMatch(/: 0$/);
      const bad = await run([], { cpu: 4096 });
      expect(bad.document.run.cpuPinning).toBeNull();
      expect(bad.document.warnings.filter((w) => !w.includes('host busy'))).toEqual([
        `--cpu 4096: no such CPU on this host (${os.cpus().length} cores); not pinned`,
      ]);
    } finally {
      await execa('taskset', ['-a', '-p', '-c', all, String(process.pid)], { reject: false });
    }
  });
});
