// The `runtime` suite: create → start → exit of the static /bin/true on one OCI bundle,
// berth's execdriver in-process vs `berth-runtime run` vs `runc run` vs `crun run`,
// with and without a network namespace, interleaved; plus the cost of the host quirk
// wrapper crun needs here, so readers can subtract it. Every case says its `level`
// (in-process: a call into the engine; cli: a process per container); ratios are
// formed only between cases of one level.
import { nodeStartNotes } from './node-start-notes.js';
import { unavailable } from '../../engine/errdefs/errors.js';
import { createCgroupManager } from '../../engine/execdriver/cgroups/manager.js';
import type { CgroupManager } from '../../engine/execdriver/cgroups/types.js';
import {
  createExecDriver,
  execDriverBoundary,
  type Bundle,
  type ExecDriver,
} from '../../engine/execdriver/execdriver.js';
import { loadBundleSpec } from '../../engine/execdriver/spec/load-bundle.js';
import { workloadBinary } from '../../engine/execdriver/workload-rootfs.js';
import { background, instrument, type Context } from '../../engine/trace/index.js';
import {
  call,
  findRuntime,
  forceDelete,
  isFound,
  leftoversOf,
  runContainer,
  type PeerQuirk,
  type PeerRuntime,
  type RuntimeName,
} from '../peers/index.js';
import { median } from '../stats.js';
import type { CaseDef, DerivedCase, FinalResult, MacroCase, MeasuredCase, Suite, SuiteContext } from '../suite.js';
import { RuntimeBundles, type NetnsVariant } from './runtime-bundles.js';
import { deriveRuntimeCrosschecks, runtimeCrosschecks } from './crosscheck-runtime.js';

const SUITE = 'runtime';
export const CASE = 'create-start-exit';
export const VARIANTS: readonly NetnsVariant[] = ['no-netns', 'netns'];

/** Medians seen on this kind of host (2-core VM), for the notes. */
export const REFERENCE_MS = { crun: '7.5–9', runc: '24' } as const;

let serial = 0;

/** A container id no other sample, run or process uses. */
export function nextId(): string {
  return `brt${process.pid}-${serial++}`;
}

function variantText(v: NetnsVariant): string {
  return v === 'netns' ? 'with a new network namespace' : "without a network namespace (the host's is shared)";
}

const bundleText =
  "The bundle: berth's defaultSpec (the shape `runc spec` writes, Docker's default capabilities, masked and read-only paths, " +
  'proc/dev/devpts/shm/mqueue/sysfs mounts, namespaces pid, ipc, uts, mount, cgroup[, network]) running the static /bin/true on a read-only ' +
  '2 MB rootfs under the data root; no linux.cgroupsPath, so each runtime picks its own cgroup for the id.';

/** Throws UNAVAILABLE listing what container `id` left, if anything. */
function verifyClean(id: string, stateRoot?: string): void {
  const left = leftoversOf(id, stateRoot);
  if (left.length > 0) throw unavailable(`container ${id}: left behind after delete: ${left.join(', ')}`);
}

/** berth's execdriver called in-process: no CLI start-up, spans give the per-step phases. */
function inProcessCase(
  bundles: RuntimeBundles,
  variant: NetnsVariant,
  shared: { manager?: CgroupManager; driver?: ExecDriver; users: number },
  cgroupParent: string,
): MacroCase {
  let bundle: Bundle | undefined;
  let id: string | undefined;
  let acquired = false;
  return {
    kind: 'macro',
    suite: SUITE,
    case: CASE,
    target: 'berth',
    parameters: { netns: variant === 'netns', level: 'in-process' },
    unit: 'ms',
    direction: 'lower-is-better',
    group: `${CASE}-${variant}`,
    phases: true,
    method:
      `Wall time in ms of ExecDriver.create → start → wait → delete of one container (unique id per sample) ${variantText(variant)}, ` +
      `berth's execdriver called in this process (no command-line start-up; config.json read and validated once before the samples). ${bundleText} ` +
      `Cgroups under ${cgroupParent}/<id>. After each sample (untimed) no cgroup or process of the id may be left.`,
    notes: [
      `Level in-process: no process start-up, so this case is not like for like with the cli-level runtimes (crun ≈ ${REFERENCE_MS.crun} ms, runc ≈ ${REFERENCE_MS.runc} ms on this kind of host); berth's cli-level case (berth-runtime) is, and goal-vs-crun compares that one.`,
      "phases: libcontainer.* are the child's own steps (CLOCK_MONOTONIC, reported over the sync socket), libcontainer.clone the clone call, execdriver.cgroup the cgroup create + attach, execdriver.setup the parent's wait for the child's setup, and the self time of execdriver.* the parent's own work.",
    ],
    setup: async () => {
      const m = bundles.acquire();
      acquired = true;
      shared.users++;
      shared.manager ??= createCgroupManager();
      shared.driver ??= instrument(
        'execdriver',
        createExecDriver({ cgroups: shared.manager, cgroupParent }),
        execDriverBoundary,
      );
      bundle = { dir: m.bundles[variant], spec: await loadBundleSpec(m.bundles[variant]) };
    },
    beforeSample: () => {
      id = nextId();
    },
    sample: async (ctx: Context) => {
      const d = shared.driver!;
      await d.create(ctx, id!, bundle!, { stdio: ['ignore', 'ignore', 'ignore'] });
      await d.start(ctx, id!);
      const status = await d.wait(ctx, id!);
      await d.delete(ctx, id!);
      if (status.exitCode !== 0) throw unavailable(`container ${id}: /bin/true ended with ${JSON.stringify(status)}`);
    },
    afterSample: async (ctx: Context) => {
      const d = shared.driver!;
      await d.delete(ctx, id!).catch(() => undefined);
      verifyClean(id!);
    },
    teardown: async () => {
      if (!acquired) return;
      acquired = false;
      bundles.release();
      shared.users--;
      if (shared.users === 0 && shared.manager !== undefined)
        await shared.manager.cleanupStale(background(), cgroupParent);
    },
    resultNotes: (result, group) => [goalNote(result, group)],
  };
}

/**
 * The in-process case beside crun's cli case of its group, as a plain statement of both
 * medians: they are at different levels (no process start-up in one), so no goal is
 * judged on them; goal-vs-crun judges the cli level. Pure, so any call order gives it.
 */
export function goalNote(result: FinalResult, group: readonly FinalResult[]): string {
  const crun = group.find(
    (g) => g.info.target === 'crun' && g.info.parameters.level === 'cli' && g.info.parameters.tool === undefined,
  );
  const prefix = 'Beside crun (cli level, not like for like):';
  if (crun === undefined) return `${prefix} crun did not run in this group.`;
  return `${prefix} p50 ${result.stats.p50.toFixed(2)} ms in-process vs crun ${crun.stats.p50.toFixed(2)} ms through its CLI; no goal is judged across levels.`;
}

function quirkNotes(peer: PeerRuntime): string[] {
  return peer.quirks.map((q) => `Host quirk worked around: ${q.description}`);
}

/** `<runtime> --root <own dir> run --bundle B <id>` as a child process, timed from spawn to exit. */
export function cliCase(bundles: RuntimeBundles, variant: NetnsVariant, peer: PeerRuntime): MacroCase {
  let root = '';
  let bundle = '';
  let id: string | undefined;
  let acquired = false;
  const target = peer.name === 'berth-runtime' ? 'berth' : peer.name;
  return {
    kind: 'macro',
    suite: SUITE,
    case: CASE,
    target,
    parameters: { netns: variant === 'netns', level: 'cli' },
    unit: 'ms',
    direction: 'lower-is-better',
    group: `${CASE}-${variant}`,
    method:
      `Wall time in ms from spawning \`${peer.name} --root <own state dir> run --bundle <bundle> <id>\` (foreground: create, start, wait, delete) to its exit, ` +
      `${variantText(variant)}, unique id per sample. ${bundleText} After each sample (untimed) \`${peer.name} delete -f <id>\` runs and no state directory, ` +
      `cgroup or process of the id may be left.`,
    notes: [
      `${peer.name}: ${peer.path}${peer.version !== null ? ` (${peer.version})` : ''}.`,
      ...(peer.name === 'berth-runtime'
        ? [
            "berth-runtime is Node running the command's esbuild bundle (bin.cjs; V8's code cache of `run` after its first run): much of its time is Node's own start-up, not the container; the in-process case shows the engine's own cost.",
          ]
        : []),
      // its bin drops NODE_EXTRA_CA_CERTS before node starts: only the other settings apply
      ...(peer.name === 'berth-runtime' ? nodeStartNotes({ ...process.env, NODE_EXTRA_CA_CERTS: undefined }) : []),
      ...quirkNotes(peer),
    ],
    setup: () => {
      const m = bundles.acquire();
      acquired = true;
      root = m.stateRoot(peer.name);
      bundle = m.bundles[variant];
    },
    beforeSample: () => {
      id = nextId();
    },
    sample: async () => {
      const r = await runContainer(peer, { root, bundle, id: id! });
      if (r.code !== 0) throw unavailable(`${peer.name} run ${id}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
    },
    afterSample: async () => {
      await forceDelete(peer, root, id!);
      verifyClean(id!, root);
    },
    teardown: () => {
      if (acquired) bundles.release();
      acquired = false;
    },
  };
}

/** The quirk wrapper around a no-op (the static /bin/true), or the no-op alone. */
function quirkCase(quirks: readonly PeerQuirk[], wrapped: boolean): MacroCase {
  const trueBin = workloadBinary('true');
  let argv = [trueBin];
  if (wrapped) for (const q of quirks) argv = q.wrap(argv);
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'quirk-wrapper',
    target: 'crun',
    parameters: { wrapped, quirks: quirks.map((q) => q.id).join('+') },
    unit: 'ms',
    direction: 'lower-is-better',
    group: 'quirk-wrapper',
    method: wrapped
      ? `Wall time in ms from spawning \`${argv.slice(0, -1).join(' ')} <static /bin/true>\` to its exit: the wrapper every crun call gets on this host, around a no-op.`
      : 'Wall time in ms from spawning the static /bin/true to its exit: the baseline the wrapper adds to.',
    notes: quirks.map((q) => q.description),
    sample: async () => {
      const r = await call(argv);
      if (r.code !== 0)
        throw unavailable(`quirk wrapper ${argv.join(' ')}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
    },
  };
}

/**
 * Derived cases: quirk-overhead = wrapped − plain, and per variant the goal check
 * berth-runtime ÷ crun (both cli), sample by sample (each pair ran interleaved), with its
 * verdict in the notes. Pure: any number of calls on the same input give the same cases.
 */
function derive(measured: readonly MeasuredCase[]): DerivedCase[] {
  return [...goalCases(measured), ...quirkOverhead(measured), ...deriveRuntimeCrosschecks(measured, CASE)];
}

function goalCases(measured: readonly MeasuredCase[]): DerivedCase[] {
  const out: DerivedCase[] = [];
  for (const variant of VARIANTS) {
    const netns = variant === 'netns';
    const pick = (target: string, level: string) =>
      measured.find(
        (m) =>
          m.info.case === CASE &&
          m.info.target === target &&
          m.info.parameters.level === level &&
          m.info.parameters.netns === netns &&
          m.info.parameters.tool === undefined,
      );
    // like for like: berth-runtime's cli against crun's cli (the in-process case has no process start-up)
    const berth = pick('berth', 'cli');
    const crun = pick('crun', 'cli');
    if (berth === undefined || crun === undefined) continue;
    const n = Math.min(berth.samples.length, crun.samples.length);
    if (n === 0) continue;
    const samples = Array.from({ length: n }, (_, i) => berth.samples[i]! / crun.samples[i]!);
    const mid = median(samples);
    out.push({
      suite: SUITE,
      case: 'goal-vs-crun',
      target: 'berth',
      parameters: { netns, level: 'cli' },
      unit: 'ratio',
      direction: 'lower-is-better',
      method: `Derived: ${CASE} berth-runtime (cli) divided by ${CASE} crun (cli), sample by sample in the order taken (interleaved): both a process per container, like for like.`,
      notes: [
        'Goal: ≤ 1 (berth at or below crun, both through their command line).',
        `Goal ≤ 1: ${mid <= 1 ? 'met' : 'NOT met'} (median ratio ${mid.toFixed(2)} over ${n} paired samples).`,
        ...((crun.notes ?? crun.info.notes ?? []).some((x) => x.startsWith('Host quirk'))
          ? ["crun's samples include its host quirk wrapper; see quirk-overhead for what to subtract."]
          : []),
      ],
      samples,
      derived: { from: [berth.info, crun.info], how: 'ratio', pairing: 'interleaved' },
    });
  }
  return out;
}

function quirkOverhead(measured: readonly MeasuredCase[]): DerivedCase[] {
  const wrapped = measured.find((m) => m.info.case === 'quirk-wrapper' && m.info.parameters.wrapped === true);
  const plain = measured.find((m) => m.info.case === 'quirk-wrapper' && m.info.parameters.wrapped === false);
  if (wrapped === undefined || plain === undefined) return [];
  const n = Math.min(wrapped.samples.length, plain.samples.length);
  if (n === 0) return [];
  return [
    {
      suite: SUITE,
      case: 'quirk-overhead',
      target: 'crun',
      parameters: { quirks: wrapped.info.parameters.quirks! },
      unit: 'ms',
      direction: 'lower-is-better',
      method:
        "Derived: quirk-wrapper (wrapped) minus quirk-wrapper (plain), sample by sample in the order taken (they ran interleaved): what to subtract from crun's times for the workaround.",
      notes: [...(wrapped.notes ?? wrapped.info.notes ?? [])],
      samples: Array.from({ length: n }, (_, i) => wrapped.samples[i]! - plain.samples[i]!),
      derived: { from: [wrapped.info, plain.info], how: 'difference', pairing: 'interleaved' },
    },
  ];
}

/** What the suite measures on this host: the peers found (or why not), built once per cases() call. */
export function runtimePeers(names: readonly RuntimeName[], warn: (m: string) => void): PeerRuntime[] {
  const peers: PeerRuntime[] = [];
  for (const name of names) {
    const r = findRuntime(name);
    if (isFound(r)) peers.push(r);
    else warn(`target ${name} left out: ${r.reason}`);
  }
  for (const p of peers) for (const q of p.quirks) warn(`${p.name}: ${q.description}`);
  return peers;
}

function buildCases(ctx: SuiteContext): CaseDef[] {
  const bundles = new RuntimeBundles(ctx.dataRoot);
  const shared: { manager?: CgroupManager; driver?: ExecDriver; users: number } = { users: 0 };
  const cgroupParent = `berth-bench-${process.pid}`;
  const wanted = (t: string) => ctx.targets.length === 0 || ctx.targets.includes(t);
  const names = (['berth-runtime', 'runc', 'crun'] as const).filter((n) => wanted(n === 'berth-runtime' ? 'berth' : n));
  const peers = runtimePeers(names, ctx.warn);
  const cases: CaseDef[] = [];
  for (const variant of VARIANTS) {
    if (wanted('berth')) cases.push(inProcessCase(bundles, variant, shared, cgroupParent));
    for (const peer of peers) cases.push(cliCase(bundles, variant, peer));
  }
  cases.push(...runtimeCrosschecks(bundles, peers, { caseName: CASE, nextId, warn: ctx.warn }));
  const crun = peers.find((p) => p.name === 'crun');
  if (crun !== undefined && crun.quirks.length > 0) {
    cases.push(quirkCase(crun.quirks, false), quirkCase(crun.quirks, true));
  }
  return cases;
}

async function requirements(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (namespaces, mounts, cgroups)';
  return undefined;
}

export const runtimeSuite: Suite = {
  name: SUITE,
  description:
    "the same OCI bundle (static /bin/true) on berth's execdriver in-process, berth-runtime, runc and crun, with and without a network namespace",
  targets: ['berth', 'runc', 'crun'],
  requires: requirements,
  cases: buildCases,
  derive,
};
