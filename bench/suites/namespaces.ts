// The `namespaces` suite: what creating each kind of namespace costs, alone and in
// the sets container engines use, on clone(2) and on unshare(2), and how creation
// scales with parallel workers. Every op runs in a child the native core clones
// (nsbench.cc); the bench process's own namespaces are never touched.
import { existsSync, readFileSync } from 'node:fs';
import { native, type NsBenchResult, type NsKind } from '../../native/index.js';
import { scaled } from '../profiles.js';
import type { CaseDef, CaseInfo, DerivedCase, MacroCase, MeasuredCase, Suite, SuiteContext } from '../suite.js';
import { deriveNamespaceCrosschecks, namespaceCrosschecks } from './crosscheck-namespaces.js';

const SUITE = 'namespaces';

/** A set of namespaces created together; `none` is a plain fork (the baseline). */
export interface NamespaceSet {
  name: string;
  kinds: readonly NsKind[];
}

const dockerDefault: readonly NsKind[] = ['mnt', 'uts', 'ipc', 'pid', 'net'];

/** Each kind alone, then the usual combinations. */
export const namespaceSets: readonly NamespaceSet[] = [
  { name: 'none', kinds: [] },
  { name: 'mnt', kinds: ['mnt'] },
  { name: 'uts', kinds: ['uts'] },
  { name: 'ipc', kinds: ['ipc'] },
  { name: 'pid', kinds: ['pid'] },
  { name: 'net', kinds: ['net'] },
  { name: 'user', kinds: ['user'] },
  { name: 'cgroup', kinds: ['cgroup'] },
  { name: 'docker-default', kinds: dockerDefault },
  { name: 'docker-default+user', kinds: [...dockerDefault, 'user'] },
  { name: 'docker-default+user+cgroup', kinds: [...dockerDefault, 'user', 'cgroup'] },
];

/** Worker counts of the parallel cases. */
export const workerCounts: readonly number[] = [1, 2, 4];

/** Medians measured on the project's host kind (2-core VM), quoted as reference only. */
const referenceUnshare: Partial<Record<NsKind, string>> = {
  net: 'unshare(CLONE_NEWNET) ≈ 0.44–0.47 ms',
  mnt: 'unshare(CLONE_NEWNS) ≈ 29–41 µs',
  ipc: 'unshare(CLONE_NEWIPC) ≈ 27 µs',
  user: 'unshare(CLONE_NEWUSER) ≈ 11 µs',
  pid: 'unshare(CLONE_NEWPID) ≈ 4–5 µs',
  uts: 'unshare(CLONE_NEWUTS) ≈ 2 µs',
  cgroup: 'unshare(CLONE_NEWCGROUP) ≈ 2 µs',
};
const referenceFork = 'fork + exit + wait of a process ≈ 0.2–0.35 ms';
const referenceParallel =
  'network namespaces per second with 1 / 2 / 4 workers ≈ 0.8–1.3k / 1.2–1.8k / 0.9–1.5k, tail up to 114 ms';

function referenceNotes(set: NamespaceSet): string[] {
  const refs = set.kinds.map((k) => referenceUnshare[k]).filter((r): r is string => r !== undefined);
  if (set.kinds.length === 0) refs.push(referenceFork);
  return refs.length === 0
    ? []
    : [`Reference medians on the project's 2-core VM host (not measured in this run): ${refs.join('; ')}.`];
}

function flagText(kinds: readonly NsKind[]): string {
  const flag: Record<NsKind, string> = {
    mnt: 'CLONE_NEWNS',
    uts: 'CLONE_NEWUTS',
    ipc: 'CLONE_NEWIPC',
    pid: 'CLONE_NEWPID',
    net: 'CLONE_NEWNET',
    user: 'CLONE_NEWUSER',
    cgroup: 'CLONE_NEWCGROUP',
  };
  return kinds.length === 0 ? 'no namespace flag' : kinds.map((k) => flag[k]).join('|');
}

const childText =
  'The child is cloned fork-like (its own copy of the address space, no CLONE_VM) from a native worker thread of the bench process, ' +
  'writes its CLOCK_MONOTONIC timestamps to a pipe, _exits, and is reaped by pid before the next sample.';

/**
 * Values the derived cases need that a sample's single number cannot carry: per
 * sample, the child's timestamps (clone cases) or every op's clone time (parallel
 * cases). Reset by each cases() call, so one run's values never mix with another's;
 * only read by derive(), which may be called more than once on the same run.
 */
const extras = new Map<string, number[]>();

function extraKey(caseName: string, parameters: CaseInfo['parameters']): string {
  return `${caseName} ${JSON.stringify(parameters)}`;
}

function record(caseName: string, parameters: CaseInfo['parameters'], values: readonly number[]): void {
  const key = extraKey(caseName, parameters);
  let list = extras.get(key);
  if (list === undefined) extras.set(key, (list = []));
  list.push(...values);
}

function cloneCase(set: NamespaceSet): MacroCase {
  const parameters = { namespaces: set.name, flags: flagText(set.kinds) };
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'clone',
    target: 'berth',
    parameters,
    unit: 'us',
    direction: 'lower-is-better',
    method:
      `One sample: one clone(2) with ${flagText(set.kinds)}; the value is the time the parent spent inside clone(2) ` +
      `(CLOCK_MONOTONIC read just before and after the call). ${childText}`,
    notes: referenceNotes(set),
    group: 'clone',
    sample: async (_ctx, index) => {
      const r = await native().nsBench({ clone: set.kinds });
      const op = r.ops[0];
      if (index >= 0) {
        record('clone-to-running', parameters, [op.childStartNs / 1e3]);
        record('clone-to-reaped', parameters, [op.reapedNs / 1e3]);
      }
      return op.cloneNs / 1e3;
    },
  };
}

function unshareCase(set: NamespaceSet): MacroCase {
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'unshare',
    target: 'berth',
    parameters: { namespaces: set.name, flags: flagText(set.kinds) },
    unit: 'us',
    direction: 'lower-is-better',
    method:
      `One sample: a freshly cloned child (no namespace flags) calls unshare(${flagText(set.kinds)}) once; the value is the time ` +
      `the child spent inside unshare(2), read by the child itself with CLOCK_MONOTONIC around the call. ${childText}`,
    notes: referenceNotes(set),
    group: 'unshare',
    sample: async () => (await native().nsBench({ unshare: set.kinds })).ops[0].unshareNs / 1e3,
  };
}

function parallelCase(set: NamespaceSet, workers: number, perWorker: number): MacroCase {
  const parameters = { namespaces: set.name, flags: flagText(set.kinds), workers };
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'parallel',
    target: 'berth',
    parameters,
    unit: 'ops/s',
    direction: 'higher-is-better',
    method:
      `One sample: ${workers} native threads, released together, each run ${perWorker} ops back to back; an op is clone(2) with ` +
      `${flagText(set.kinds)}, the child's exit and its reaping (waitpid by pid). The value is ops completed per second: ` +
      `${workers * perWorker} / (time from the release to the end of the last op). ${childText}`,
    notes: set.kinds.includes('net')
      ? [`Reference on the project's 2-core VM host (not measured in this run): ${referenceParallel}.`]
      : [],
    group: `parallel ${set.name}`,
    sample: async (_ctx, index) => {
      const r: NsBenchResult = await native().nsBench({ clone: set.kinds, threads: workers, perThread: perWorker });
      if (index >= 0)
        record(
          'parallel-clone',
          parameters,
          r.ops.map((op) => op.cloneNs / 1e3),
        );
      return (r.ops.length * 1e9) / r.wallNs;
    },
  };
}

/** The kinds this host's kernel offers (a /proc/self/ns entry; user namespaces also allowed by sysctl). */
function availableKinds(): Set<NsKind> {
  const out = new Set<NsKind>();
  for (const kind of ['mnt', 'uts', 'ipc', 'pid', 'net', 'user', 'cgroup'] as const) {
    if (existsSync(`/proc/self/ns/${kind}`)) out.add(kind);
  }
  try {
    if (Number(readFileSync('/proc/sys/user/max_user_namespaces', 'utf8').trim()) <= 0) out.delete('user');
  } catch {
    // no such sysctl: user namespaces are allowed
  }
  return out;
}

function buildCases(ctx: SuiteContext): CaseDef[] {
  extras.clear();
  const kinds = availableKinds();
  const sets = namespaceSets.filter((s) => {
    const missing = s.kinds.filter((k) => !kinds.has(k));
    if (missing.length > 0)
      ctx.warn(`set ${s.name} left out: this host has no ${missing.join(', ')} namespaces (or they are disabled)`);
    return missing.length === 0;
  });
  const perWorker = scaled(ctx.settings, 8, 4);
  const cases: CaseDef[] = [];
  for (const s of sets) cases.push(cloneCase(s));
  for (const s of sets) if (s.kinds.length > 0) cases.push(unshareCase(s));
  for (const s of sets) for (const w of workerCounts) cases.push(parallelCase(s, w, perWorker));
  cases.push(...namespaceCrosschecks(sets, flagText, ctx.warn));
  return cases;
}

const derivedMethod: Record<string, string> = {
  'clone-to-running':
    "Derived from the clone case's samples: per sample, the time from just before clone(2) in the parent to the child's first timestamp.",
  'clone-to-reaped':
    "Derived from the clone case's samples: per sample, the time from just before clone(2) to waitpid() returning (child created, exited and reaped).",
  'parallel-clone':
    'Derived from the parallel case: every op of every sample, the time its thread spent inside clone(2) while the other workers ran theirs.',
};

/**
 * Per-op latencies recorded alongside the measured cases, as cases of their own (us),
 * and what the flags add to a plain fork. Reads the recorded values without consuming
 * them: repeated calls on the same run give the same cases.
 */
function deriveCases(measured: readonly MeasuredCase[]): DerivedCase[] {
  const out: DerivedCase[] = [];
  // the outside cross-check's cases (a `tool` parameter) have derived cases of their own
  const own = measured.filter((m) => m.info.parameters.tool === undefined);
  const baseline = own.find((m) => m.info.case === 'clone' && m.info.parameters.namespaces === 'none');
  for (const m of own) {
    if (baseline === undefined || m.info.case !== 'clone' || m === baseline) continue;
    const n = Math.min(m.samples.length, baseline.samples.length);
    if (n === 0) continue;
    out.push({
      suite: SUITE,
      case: 'clone-added',
      target: m.info.target,
      parameters: { ...m.info.parameters },
      unit: 'us',
      direction: 'lower-is-better',
      method:
        'Derived: what the namespace flags add to clone(2): sample i of the clone case with these flags minus sample i of the clone case ' +
        'without flags (a plain fork); the clone cases are measured interleaved, so sample i of each was taken at nearly the same time. ' +
        'A difference may be negative when the flags cost less than the noise.',
      notes: [...(m.notes ?? m.info.notes ?? [])],
      samples: m.samples.slice(0, n).map((v, i) => v - baseline.samples[i]),
      derived: { from: [m.info, baseline.info], how: 'difference', pairing: 'interleaved' },
    });
  }
  for (const m of own) {
    const names =
      m.info.case === 'clone'
        ? ['clone-to-running', 'clone-to-reaped']
        : m.info.case === 'parallel'
          ? ['parallel-clone']
          : [];
    for (const name of names) {
      const samples = extras.get(extraKey(name, m.info.parameters)) ?? [];
      if (samples.length === 0) continue;
      out.push({
        suite: SUITE,
        case: name,
        target: m.info.target,
        parameters: { ...m.info.parameters },
        unit: 'us',
        direction: 'lower-is-better',
        method: derivedMethod[name],
        notes: [...(m.notes ?? m.info.notes ?? [])],
        samples: [...samples],
        derived: { from: [m.info], how: 'recorded-alongside', pairing: 'same-sample' },
      });
    }
  }
  return [...out, ...deriveNamespaceCrosschecks(measured)];
}

/** Why the suite cannot run here, or undefined. */
async function requirements(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (clone with CLONE_NEW* flags)';
  try {
    if (typeof native().nsBench !== 'function')
      return 'the native core was built without nsbench.cc (run `npm run build:native`)';
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  return undefined;
}

export const namespacesSuite: Suite = {
  name: SUITE,
  description: 'clone/unshare cost per namespace kind and set, and creation throughput with 1, 2 and 4 workers',
  targets: ['berth'],
  requires: requirements,
  cases: buildCases,
  derive: deriveCases,
};
