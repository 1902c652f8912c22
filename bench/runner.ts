// The benchmark runner: takes the suites asked for, measures their cases (warm-up,
// interleaved samples, time budgets), turns samples into statistics and builds the
// result document. A failing case or suite is recorded and the run goes on.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { Bench } from 'tinybench';
import { isBerthError } from '../engine/errdefs/errors.js';
import {
  background,
  detached,
  SpanCollector,
  startSpan,
  summarize as summarizeSpans,
  throwIfCancelled,
  type Context,
} from '../engine/trace/index.js';
import { collectHostInfo, cpuBusyWarning, hostCpuBusy, loadAverageWarning } from './host.js';
import type { ProfileSettings } from './profiles.js';
import type {
  CaseResult,
  HostInfo,
  InjectedDelay,
  PhaseBreakdown,
  ResultDocument,
  SuiteOutcome,
} from './results/document.js';
import { caseKey } from './compare/case-key.js';
import { delayApplies, delayNote, spinNs } from './inject-delay.js';
import { SCHEMA_VERSION } from './results/document.js';
import { mean, median, summarize } from './stats.js';
import type {
  CaseDef,
  CaseInfo,
  DerivedCase,
  FinalResult,
  MacroCase,
  MeasuredCase,
  MicroCase,
  RegisteredSuite,
  Suite,
  SuiteContext,
} from './suite.js';

export interface RunOptions {
  /** The suites to run, in order (not-built ones are recorded as such). */
  suites: readonly RegisteredSuite[];
  settings: ProfileSettings;
  /** Only cases of these targets; undefined: all. */
  targets?: readonly string[];
  seed: number;
  /** Pin the process to this CPU (taskset); a warning when that fails. */
  cpu?: number;
  dataRoot: string;
  argv: readonly string[];
  /** Progress lines (default: stderr). */
  progress?: (line: string) => void;
  /** Host information source (default collectHostInfo). */
  hostInfo?: (dataRoot: string) => Promise<HostInfo>;
  /** The source tree's state, read at the start and the end of the run (default: git in the repository). */
  gitInfo?: () => Promise<GitState>;
  /** Milliseconds clock the time budgets are measured with (default performance.now). */
  budgetClock?: () => number;
  /** The context cases run under (its signal cancels the run). */
  ctx?: Context;
  /** Idle window before each suite in which other processes' CPU use is measured (default 500 ms; 0: no check). */
  busyWindowMs?: number;
  /** A test-only slowdown of some cases (BERTH_BENCH_INJECT_DELAY); recorded in run.injectedDelay. */
  injectDelay?: InjectedDelay;
}

export interface RunOutcome {
  document: ResultDocument;
  /** True when a suite failed: the CLI exits non-zero. */
  failed: boolean;
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

const timeUnits: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };

/**
 * Runs the suites and returns the result document (not yet written). Never throws
 * for a suite's or case's failure: those become `failed` outcomes; it throws only
 * when the host information cannot be collected.
 */
export async function runBenchmarks(options: RunOptions): Promise<RunOutcome> {
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const clock = options.budgetClock ?? (() => performance.now());
  const ctx = options.ctx ?? background();
  const startedAt = new Date();
  const warnings: string[] = [];
  const warn = (message: string): void => {
    warnings.push(message);
    progress(`warning: ${message}`);
  };
  // the commit measured is the one checked out when the run began (suites load their code as they start); read
  // before any suite, so the git processes never run beside a measurement
  const gitStart = await (options.gitInfo ?? gitInfo)();

  // before any suite ran, the load average speaks of other work only
  const loadWarning = loadAverageWarning(os.cpus().length);
  if (loadWarning !== undefined) warn(`run: ${loadWarning}`);
  const cpuPinning = options.cpu === undefined ? null : await pinToCpu(options.cpu, warn);
  const host = await (options.hostInfo ?? ((dataRoot: string) => collectHostInfo({ dataRoot })))(options.dataRoot);

  const suites: SuiteOutcome[] = [];
  const cases: CaseResult[] = [];
  for (const registered of options.suites) {
    const began = performance.now();
    const outcome = (status: SuiteOutcome['status'], reason: string | null): SuiteOutcome => ({
      name: registered.name,
      status,
      reason,
      durationMs: status === 'not-built' ? null : Math.round((performance.now() - began) * 1000) / 1000,
    });
    if (ctx.signal.aborted) {
      progress(`suite ${registered.name}: not run (run cancelled)`);
      suites.push(outcome('failed', `not run: the run was cancelled (${abortReason(ctx)})`));
      continue;
    }
    if (registered.load === undefined) {
      progress(`suite ${registered.name}: not built yet (no numbers recorded)`);
      suites.push(outcome('not-built', 'not built yet'));
      continue;
    }
    try {
      const suite = await registered.load();
      // the load average still carries the previous suite's own work: measure others' instead
      const busyWindowMs = options.busyWindowMs ?? 500;
      const busyWarning = busyWindowMs > 0 ? cpuBusyWarning(await hostCpuBusy(busyWindowMs), busyWindowMs) : undefined;
      if (busyWarning !== undefined) warn(`suite ${suite.name}: ${busyWarning}`);
      const skip = suite.requires ? await suite.requires(options.dataRoot) : undefined;
      if (skip !== undefined) {
        progress(`suite ${suite.name}: skipped (${skip})`);
        suites.push(outcome('skipped', skip));
        continue;
      }
      progress(`suite ${suite.name}: running (profile ${options.settings.name})`);
      const { results, errors } = await runSuite(suite, options, ctx, progress, clock, warn);
      cases.push(...results);
      if (errors.length > 0) {
        progress(`suite ${suite.name}: failed: ${errors.join('; ')}`);
        suites.push(outcome('failed', errors.join('; ')));
      } else if (results.length === 0) {
        const reason = `no case for target ${(options.targets ?? []).join(', ')}`;
        progress(`suite ${suite.name}: skipped (${reason})`);
        suites.push(outcome('skipped', reason));
      } else {
        suites.push(outcome('ran', null));
      }
    } catch (err) {
      const reason = `suite ${registered.name}: ${errorMessage(err)}`;
      progress(reason);
      suites.push(outcome('failed', reason));
    }
  }

  const [gitEnd, berthVersion] = await Promise.all([(options.gitInfo ?? gitInfo)(), packageVersion()]);
  const git = gitDuringRun(gitStart, gitEnd, warn);
  const document: ResultDocument = {
    schemaVersion: SCHEMA_VERSION,
    run: {
      id: randomUUID(),
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      gitCommit: git.commit,
      gitDirty: git.dirty,
      profile: options.settings.name,
      argv: [...options.argv],
      seed: options.seed,
      berthVersion,
      cpuPinning,
      ...(options.injectDelay !== undefined ? { injectedDelay: options.injectDelay } : {}),
    },
    host,
    suites,
    cases,
    warnings,
  };
  return { document, failed: suites.some((s) => s.status === 'failed') };
}

/** Runs one suite's cases group by group; case failures come back as messages. */
async function runSuite(
  suite: Suite,
  options: RunOptions,
  ctx: Context,
  progress: (line: string) => void,
  clock: () => number,
  warn: (message: string) => void,
): Promise<{ results: CaseResult[]; errors: string[] }> {
  const targets = options.targets ?? suite.targets ?? [];
  const suiteCtx: SuiteContext = {
    profile: options.settings.name,
    settings: options.settings,
    targets,
    dataRoot: options.dataRoot,
    seed: options.seed,
    warn: (message) => warn(`suite ${suite.name}: ${message}`),
  };
  const all = suite.cases(suiteCtx);
  const selected = options.targets === undefined ? all : all.filter((c) => options.targets!.includes(c.target));
  const delay = options.injectDelay;
  for (const c of selected) {
    if (delayApplies(delay, c)) c.notes = [...(c.notes ?? []), delayNote(delay!)];
  }
  const errors: string[] = [];
  const results: CaseResult[] = [];
  // every case in the suite's order: measured, or failed (null samples)
  const outcomes: { info: CaseInfo; measured: MeasuredCase | null }[] = [];
  for (const group of groupCases(selected)) {
    progress(`  ${suite.name}/${group[0].case}: ${group.map((c) => labelOf(c)).join(', ')}`);
    const outputs =
      group[0].kind === 'micro'
        ? await runMicroGroup(group as MicroCase[], options.settings, ctx, clock, delay)
        : await runMacroGroup(group as MacroCase[], options.settings, ctx, clock, delay);
    const done: { def: CaseDef; result: CaseResult; out: GroupOutput }[] = [];
    for (const out of outputs) {
      if (out.error !== undefined) {
        errors.push(`${labelOf(out.def)}: ${out.error}`);
        continue;
      }
      const result = toResult(
        out.def,
        out.samples,
        out.warmup,
        `${out.def.method} ${out.policy}`,
        out.phases,
        options.seed,
      );
      done.push({ def: out.def as CaseDef, result, out });
      progress(`    ${labelOf(out.def)}: n=${out.samples.length} p50=${fmt(result.stats.p50)} ${out.def.unit}`);
    }
    const finals = done.map(({ def, result }): FinalResult => ({
      info: def,
      samples: result.samples,
      stats: result.stats,
      phases: result.phases,
    }));
    for (const [i, { def, result, out }] of done.entries()) {
      if (def.resultNotes !== undefined) {
        try {
          result.notes.push(
            ...def.resultNotes(
              finals[i],
              finals.filter((_, j) => j !== i),
            ),
          );
        } catch (err) {
          warn(`suite ${suite.name}: ${labelOf(def)}: notes: ${errorMessage(err)}`);
        }
      }
      results.push(result);
    }
    for (const out of outputs) {
      const d = done.find((x) => x.out === out);
      outcomes.push({
        info: out.def,
        measured:
          d === undefined
            ? null
            : { info: out.def, samples: out.samples, rounds: out.rounds, notes: [...d.result.notes] },
      });
    }
  }
  if (suite.derive !== undefined) {
    const measured = outcomes.flatMap((o) => (o.measured === null ? [] : [o.measured]));
    let derived: DerivedCase[] | undefined;
    try {
      derived = suite.derive(measured);
      for (const d of derived) {
        const r = toResult(d, d.samples, 0, d.method, null, options.seed);
        r.derived = { from: d.derived.from.map((f) => caseKey(f)), how: d.derived.how, pairing: d.derived.pairing };
        results.push(r);
        for (const line of d.warnings ?? []) warn(`suite ${suite.name}: ${line}`);
      }
    } catch (err) {
      errors.push(`derived cases: ${errorMessage(err)}`);
    }
    const failed = outcomes.filter((o) => o.measured === null).map((o) => o.info);
    if (failed.length > 0 && derived !== undefined) {
      for (const line of leftOutDerived(suite.derive, outcomes, derived, failed)) warn(`suite ${suite.name}: ${line}`);
    }
  }
  return { results, errors };
}

/**
 * Names the derived cases a suite left out because some of its cases failed: derive
 * is called again with a stand-in (one sample of 1) for each failed case, and what it
 * then returns beyond the real call's cases is what the failures cost. When that call
 * throws, one line says which failed cases the derived ones could not use.
 */
function leftOutDerived(
  derive: NonNullable<Suite['derive']>,
  outcomes: readonly { info: CaseInfo; measured: MeasuredCase | null }[],
  derived: readonly DerivedCase[],
  failed: readonly CaseInfo[],
): string[] {
  const failedText = failed.map(labelOf).join(', ');
  let probe: DerivedCase[];
  try {
    probe = derive(
      outcomes.map(
        (o) => o.measured ?? { info: o.info, samples: [1], rounds: [[1]], notes: [...(o.info.notes ?? [])] },
      ),
    );
  } catch {
    return [`derived cases computed from the cases that succeeded; any that need ${failedText} are left out`];
  }
  const key = (c: CaseInfo) => `${c.case}\0${c.target}\0${JSON.stringify(c.parameters)}`;
  const kept = new Set(derived.map(key));
  const lines: string[] = [];
  for (const d of probe) {
    if (kept.has(key(d))) continue;
    kept.add(key(d));
    lines.push(`derived case ${labelOf(d)} left out: it needs a case that failed (${failedText})`);
  }
  return lines;
}

function toResult(
  info: CaseInfo,
  samples: number[],
  warmup: number,
  method: string,
  phases: PhaseBreakdown[] | null,
  seed: number,
): CaseResult {
  return {
    suite: info.suite,
    case: info.case,
    target: info.target,
    parameters: { ...info.parameters },
    unit: info.unit,
    direction: info.direction,
    method,
    warmup,
    samples,
    stats: summarize(samples, { seed }),
    phases,
    notes: [...(info.notes ?? [])],
  };
}

/** Groups cases by suite + group key, keeping first-seen order; a group holds one kind only. */
export function groupCases(cases: readonly CaseDef[]): CaseDef[][] {
  const groups = new Map<string, CaseDef[]>();
  for (const c of cases) {
    const key = `${c.suite}\0${c.kind}\0${c.group ?? `${c.case}\0${JSON.stringify(c.parameters)}`}`;
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = []));
    g.push(c);
  }
  return [...groups.values()];
}

/**
 * The policy's words for a case's group: how many other cases it was interleaved
 * with, counted by target (a group may hold several cases of one target, or one
 * case of each of several targets); empty for a case alone in its group.
 */
function peersText(group: readonly CaseInfo[], def: CaseInfo): string {
  const others = group.filter((c) => c !== def);
  if (others.length === 0) return '';
  const byTarget = new Map<string, number>();
  for (const c of others) byTarget.set(c.target, (byTarget.get(c.target) ?? 0) + 1);
  const parts = [...byTarget].map(([target, n]) =>
    target === def.target ? `${n} more of target ${target}` : `${n} of target ${target}`,
  );
  const cases = others.length === 1 ? '1 other case' : `${others.length} other cases`;
  return `, interleaved in group ${def.group ?? def.case} with ${cases} (${parts.join(', ')})`;
}

interface GroupOutput {
  def: CaseInfo;
  samples: number[];
  rounds: number[][];
  warmup: number;
  policy: string;
  phases: PhaseBreakdown[] | null;
  error: string | undefined;
}

/**
 * Micro cases of one group: each is warmed up, then measured in `rounds`
 * interleaved tinybench runs (A B A B …). A sample is the mean ns per op of one
 * tinybench iteration (a batch of at least `opsPerIteration` ops, sized from the
 * warm-up's speed), kept in the order taken. Teardowns run also after a failure.
 */
async function runMicroGroup(
  group: MicroCase[],
  settings: ProfileSettings,
  ctx: Context,
  clock: () => number,
  delay?: InjectedDelay,
): Promise<GroupOutput[]> {
  const m = settings.micro;
  const outs = group.map((def) => ({
    def,
    samples: [] as number[],
    rounds: [] as number[][],
    warmup: 0,
    policy: '',
    phases: null,
    error: undefined as string | undefined,
    setUp: false,
    ops: Math.max(1, Math.floor(def.opsPerIteration ?? 1)),
    opsUsed: [] as number[],
  }));
  try {
    for (const out of outs) {
      out.setUp = true;
      try {
        // an interrupted run sets nothing more up (the teardowns still run: shared set-ups count them)
        throwIfCancelled(ctx, 'setup');
        await out.def.setup?.();
      } catch (err) {
        out.error = isBerthError(err, 'CANCELLED') ? errorMessage(err) : `setup: ${errorMessage(err)}`;
      }
    }
    for (const out of outs) {
      if (out.error !== undefined) continue;
      try {
        await turnEventLoop();
        throwIfCancelled(ctx, 'warm-up');
        const start = clock();
        const perOp: number[] = [];
        out.def.beforeRun?.();
        try {
          while (out.warmup < m.warmupIterations || clock() - start < m.warmupTimeMs) {
            const t0 = process.hrtime.bigint();
            await out.def.fn(out.ops);
            const elapsed = Number(process.hrtime.bigint() - t0);
            out.def.afterEach?.();
            out.warmup++;
            // the speed in the second half of the warm-up (once the JIT settled) sets the batch size
            if (clock() - start >= m.warmupTimeMs / 2) perOp.push(elapsed / out.ops);
          }
        } finally {
          out.def.afterRun?.();
        }
        // the median, so an iteration that lost the CPU does not shrink the batch
        const perOpNs = perOp.length > 0 ? median(perOp) : 1;
        const wanted = Math.ceil((m.timeMs * 1e6) / m.samplesPerRound / Math.max(perOpNs, 0.1));
        out.ops = Math.max(out.ops, Math.min(wanted, 1e7));
      } catch (err) {
        out.error = errorMessage(err);
      }
    }
    for (let round = 0; round < m.rounds; round++) {
      for (const out of outs) {
        if (out.error !== undefined) continue;
        try {
          await turnEventLoop();
          throwIfCancelled(ctx, `round ${round}`);
          const samples = await microRound(
            out.def,
            out.ops,
            m.timeMs,
            m.iterations,
            delayApplies(delay, out.def) ? delay!.fraction : 0,
          );
          out.opsUsed.push(out.ops);
          out.rounds.push(samples);
          for (const x of samples) out.samples.push(x);
          // a round far over its sample target (the warm-up misjudged the speed): bigger batches next round
          if (samples.length > 2 * m.samplesPerRound)
            out.ops = Math.min(1e7, Math.ceil((out.ops * samples.length) / m.samplesPerRound));
        } catch (err) {
          out.error = errorMessage(err);
        }
      }
    }
  } finally {
    for (const out of outs) {
      if (!out.setUp) continue;
      try {
        await out.def.teardown?.();
      } catch (err) {
        // after a failure or an interrupt too: a clean-up that left something is never hidden
        out.error = `${out.error === undefined ? '' : `${out.error}; `}teardown: ${errorMessage(err)}`;
      }
    }
  }
  for (const out of outs) {
    const peers = peersText(group, out.def);
    out.policy =
      `[tinybench 6, hrtime clock: ${out.warmup} warm-up iterations (≥ ${m.warmupTimeMs} ms), then ${m.rounds} rounds of ≥ ${m.timeMs} ms ` +
      `(≥ ${m.iterations} iterations)${peers}; one sample = mean ns per op over one iteration of ${[...new Set(out.opsUsed)].join('/')} ops (chosen from the warm-up speed for about ${m.samplesPerRound} samples per round).]`;
  }
  return outs;
}

/**
 * One tinybench run of a micro case; returns its samples in ns per op, in the order
 * taken. `slowdown` > 0 (a test-only injected delay) busy-waits that fraction of each
 * batch's time inside the timing.
 */
async function microRound(
  def: MicroCase,
  ops: number,
  timeMs: number,
  iterations: number,
  slowdown = 0,
): Promise<number[]> {
  const bench = new Bench({
    time: timeMs,
    iterations,
    warmup: false,
    retainSamples: true,
    timestampProvider: 'hrtimeNow',
    throws: true,
  });
  const now = bench.now;
  const inOrder: number[] = [];
  const fn = def.fn;
  const task = def.async
    ? async () => {
        const t0 = now();
        await fn(ops);
        if (slowdown > 0) spinNs((now() - t0) * 1e6 * slowdown);
        const d = now() - t0;
        inOrder.push((d / ops) * 1e6);
        return { overriddenDuration: d / ops, overriddenIterationCost: d };
      }
    : () => {
        const t0 = now();
        fn(ops);
        if (slowdown > 0) spinNs((now() - t0) * 1e6 * slowdown);
        const d = now() - t0;
        inOrder.push((d / ops) * 1e6);
        return { overriddenDuration: d / ops, overriddenIterationCost: d };
      };
  bench.add(labelOf(def), task, { async: def.async === true, ...(def.afterEach ? { afterEach: def.afterEach } : {}) });
  def.beforeRun?.();
  try {
    await bench.run();
  } finally {
    def.afterRun?.();
  }
  const result = bench.tasks[0].result;
  if (result.state === 'errored') throw result.error;
  if (result.state !== 'completed') throw new Error(`tinybench ended in state ${result.state}`);
  const retained = result.latency.samples ?? [];
  if (retained.length !== inOrder.length) {
    throw new Error(`tinybench kept ${retained.length} samples, the case recorded ${inOrder.length}`);
  }
  return inOrder;
}

/**
 * Macro cases of one group: setups, interleaved warm-up runs, then one sample of
 * each case in turn until each has maxSamples, or the group's time budget
 * (maxTimeMs per case) is spent and each has minSamples. Teardowns always run.
 */
async function runMacroGroup(
  group: MacroCase[],
  settings: ProfileSettings,
  ctx: Context,
  clock: () => number,
  delay?: InjectedDelay,
): Promise<GroupOutput[]> {
  const m = settings.macro;
  const outs = group.map((def) => ({
    def,
    // a case may ask for fewer warm-up runs and samples than the profile's, never more
    warmups: Math.min(m.warmup, def.sampling?.warmup ?? m.warmup),
    minSamples: Math.min(m.minSamples, def.sampling?.minSamples ?? m.minSamples),
    samples: [] as number[],
    rounds: [] as number[][],
    warmup: 0,
    policy: '',
    phases: null as PhaseBreakdown[] | null,
    error: undefined as string | undefined,
    setUp: false,
    perSample: [] as ReturnType<typeof summarizeSpans>[],
  }));
  const active = () => outs.filter((o) => o.error === undefined);
  try {
    for (const out of outs) {
      out.setUp = true;
      try {
        // an interrupted run sets nothing more up (the teardowns still run: shared set-ups count them)
        throwIfCancelled(ctx, 'setup');
        await out.def.setup?.(ctx);
      } catch (err) {
        out.error = isBerthError(err, 'CANCELLED') ? errorMessage(err) : `setup: ${errorMessage(err)}`;
      }
    }
    for (let w = 0; w < m.warmup; w++) {
      for (const out of active()) {
        if (w >= out.warmups) continue;
        try {
          await turnEventLoop();
          throwIfCancelled(ctx, 'warm-up');
          await macroSample(out.def, ctx, -1 - w, false);
          out.warmup++;
        } catch (err) {
          out.error = isBerthError(err, 'CANCELLED') ? errorMessage(err) : `warm-up: ${errorMessage(err)}`;
        }
      }
    }
    const start = clock();
    const budget = m.maxTimeMs * group.length;
    for (;;) {
      const running = active().filter((o) => o.samples.length < m.maxSamples);
      if (running.length === 0) break;
      if (clock() - start >= budget && running.every((o) => o.samples.length >= o.minSamples)) break;
      for (const out of running) {
        try {
          await turnEventLoop();
          throwIfCancelled(ctx, `sample ${out.samples.length}`);
          const { value, spans } = await macroSample(
            out.def,
            ctx,
            out.samples.length,
            out.def.phases === true,
            delayApplies(delay, out.def) ? delay!.fraction : 0,
          );
          out.samples.push(value);
          if (spans !== undefined) out.perSample.push(spans);
        } catch (err) {
          out.error = isBerthError(err, 'CANCELLED')
            ? errorMessage(err)
            : `sample ${out.samples.length}: ${errorMessage(err)}`;
        }
      }
    }
  } finally {
    // clean-up runs to its end also in an interrupted run: its context is not cancelled with the run's
    const cleanup = detached(ctx);
    for (const out of outs) {
      if (!out.setUp) continue;
      try {
        await out.def.teardown?.(cleanup);
      } catch (err) {
        // after a failure or an interrupt too: a clean-up that left something is never hidden
        out.error = `${out.error === undefined ? '' : `${out.error}; `}teardown: ${errorMessage(err)}`;
      }
    }
  }
  for (const out of outs) {
    const peers = peersText(group, out.def);
    out.rounds = [out.samples];
    out.phases = out.def.phases === true ? phaseBreakdown(out.perSample) : null;
    out.policy =
      `[${out.warmup} warm-up runs, then samples until ${m.maxSamples} or ${m.maxTimeMs / 1000} s per case (at least ${out.minSamples}` +
      `${out.minSamples < m.minSamples || out.warmups < m.warmup ? `: fewer than the ${settings.name} profile's ${m.warmup} and ${m.minSamples}, asked by the case` : ''})${peers}` +
      `${out.def.phases === true ? '; spans collected around each sample' : ''}.]`;
  }
  return outs;
}

/**
 * One sample: beforeSample, the timed call, afterSample (always). `slowdown` > 0 (a
 * test-only injected delay) busy-waits that fraction of the call's time inside the
 * timing. A case that reports its own time (timed inside a C child, where no busy-wait
 * of this process can reach) has its figure scaled by 1 + slowdown, and the same time is
 * spun after it so the run keeps its pace; one that reports anything else fails.
 */
async function macroSample(
  def: MacroCase,
  ctx: Context,
  index: number,
  collectSpans: boolean,
  slowdown = 0,
): Promise<{ value: number; spans: ReturnType<typeof summarizeSpans> | undefined }> {
  const slow = (t0: bigint, v: unknown): unknown => {
    if (slowdown <= 0) return v;
    if (typeof v === 'number') {
      const unitNs = timeUnits[def.unit];
      if (unitNs === undefined || def.direction !== 'lower-is-better')
        throw new Error(
          `an injected delay needs a case the runner times or one reporting its own time (this one reports ${def.unit}, ${def.direction})`,
        );
      spinNs(v * unitNs * slowdown);
      return v * (1 + slowdown);
    }
    spinNs(Number(process.hrtime.bigint() - t0) * slowdown);
    return v;
  };
  await def.beforeSample?.(ctx, index);
  try {
    const factor = timeUnits[def.unit];
    if (!collectSpans) {
      const t0 = process.hrtime.bigint();
      const v = slow(t0, await def.sample(ctx, index));
      const elapsed = Number(process.hrtime.bigint() - t0);
      return { value: sampleValue(def, v, elapsed, factor), spans: undefined };
    }
    const collector = new SpanCollector().start();
    try {
      const { span, ctx: inner } = startSpan(ctx, 'bench', `${def.suite}.${def.case}`);
      const t0 = process.hrtime.bigint();
      let v: unknown;
      try {
        v = slow(t0, await def.sample(inner, index));
      } finally {
        span?.end();
      }
      const elapsed = Number(process.hrtime.bigint() - t0);
      const tree = span === undefined ? [] : collector.spansOf(span.id).filter((s) => s.id !== span.id);
      return { value: sampleValue(def, v as number | undefined, elapsed, factor), spans: summarizeSpans(tree) };
    } finally {
      collector.stop();
    }
  } finally {
    await def.afterSample?.(detached(ctx), index);
  }
}

function sampleValue(def: MacroCase, v: unknown, elapsedNs: number, factor: number | undefined): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`sample returned ${v}`);
    return v;
  }
  if (factor === undefined) throw new Error(`unit ${def.unit} is not a time unit, so the sample must return its value`);
  return elapsedNs / factor;
}

/**
 * Per-phase breakdown over samples: calls per op and self/total ns (p50 and mean per
 * op), each over the samples in which the span appeared (`samples` counts them): a
 * span missing from a sample is missing, not a sample of 0 calls and 0 ns.
 */
export function phaseBreakdown(perSample: readonly ReturnType<typeof summarizeSpans>[]): PhaseBreakdown[] {
  const names = new Map<string, string>();
  for (const s of perSample) for (const p of s) names.set(p.name, p.module);
  const rows: PhaseBreakdown[] = [];
  for (const [name, module] of names) {
    const calls: number[] = [];
    const self: number[] = [];
    const total: number[] = [];
    for (const s of perSample) {
      const p = s.find((x) => x.name === name);
      if (p === undefined) continue;
      calls.push(p.count);
      self.push(p.selfNs);
      total.push(p.totalNs);
    }
    rows.push({
      name,
      module,
      callsPerOp: mean(calls),
      selfNs: { p50: median(self), mean: mean(self) },
      totalNs: { p50: median(total), mean: mean(total) },
      samples: calls.length,
    });
  }
  return rows.sort((a, b) => b.selfNs.mean - a.selfNs.mean);
}

/**
 * Pins this process (all its threads) to one CPU with `taskset -a -p`. Returns
 * the pinned CPUs, or null with a warning when taskset is missing or refuses.
 */
async function pinToCpu(cpu: number, warn: (message: string) => void): Promise<number[] | null> {
  const cores = os.cpus().length;
  if (!Number.isInteger(cpu) || cpu < 0 || cpu >= cores) {
    warn(`--cpu ${cpu}: no such CPU on this host (${cores} cores); not pinned`);
    return null;
  }
  const r = await execa('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { reject: false });
  if (r.failed) {
    const why = r.code === 'ENOENT' ? 'taskset not installed' : String(r.stderr || r.shortMessage || 'failed').trim();
    warn(`--cpu ${cpu}: not pinned (${why})`);
    return null;
  }
  return [cpu];
}

/** The tree's commit and whether it had changes not committed. */
export interface GitState {
  commit: string | null;
  dirty: boolean | null;
}

/**
 * What the run records of the tree: the commit checked out when it began; a tree that moved to another commit or
 * gained changes while the suites ran makes the run dirty (its later suites may have loaded other code), said in a
 * warning.
 */
function gitDuringRun(start: GitState, end: GitState, warn: (message: string) => void): GitState {
  if (start.commit === end.commit && start.dirty === end.dirty) return start;
  const describe = (g: GitState): string =>
    `${g.commit === null ? 'no commit' : g.commit.slice(0, 12)}${g.dirty === true ? ' (dirty)' : g.dirty === false ? ' (clean)' : ''}`;
  warn(
    `run: the source tree changed while the suites ran (${describe(start)} at the start, ${describe(end)} at the end): ` +
      'recorded as the starting commit with a dirty tree',
  );
  return { commit: start.commit, dirty: start.commit === null ? start.dirty : true };
}

async function gitInfo(): Promise<GitState> {
  const head = await execa('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, reject: false });
  if (head.failed) return { commit: null, dirty: null };
  const status = await execa('git', ['status', '--porcelain'], { cwd: repoRoot, reject: false });
  return { commit: head.stdout.trim(), dirty: status.failed ? null : status.stdout.trim() !== '' };
}

async function packageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

function paramText(c: CaseInfo): string {
  const entries = Object.entries(c.parameters);
  return entries.length === 0 ? '' : ` ${entries.map(([k, v]) => `${k}=${v}`).join(' ')}`;
}

function labelOf(c: CaseInfo): string {
  return `${c.case} [${c.target}${paramText(c)}]`;
}

/**
 * Lets the event loop run (signal handlers, timers) between samples and rounds:
 * awaiting only promises never leaves the microtask queue, so a Ctrl-C would
 * wait for the whole run.
 */
function turnEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function abortReason(ctx: Context): string {
  const r = ctx.signal.reason as unknown;
  return r instanceof Error ? r.message : String(r);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 1 ? x.toFixed(2) : x.toPrecision(3);
}

/** The final table: case, target, n, p50, 95% CI of the median, unit. */
export function formatTable(doc: ResultDocument): string {
  const header = ['case', 'target', 'n', 'p50', 'CI95', 'unit'];
  const rows = doc.cases.map((c) => [
    `${c.suite}/${c.case}${paramText(c as CaseInfo)}`,
    c.target,
    String(c.stats.n),
    fmt(c.stats.p50),
    `${fmt(c.stats.ci95.low)}…${fmt(c.stats.ci95.high)}`,
    c.unit,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 || i === 1 || i === 5 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
