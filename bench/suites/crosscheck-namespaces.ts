// The namespaces suite's outside cross-check: headline micro-cases re-timed by nsloop
// (native/workloads/nsloop.c), a small static C process of its own, beside the native
// addon's figures taken from a fork of the bench process, and the agreement of each pair.
import { existsSync } from 'node:fs';
import { packagePath } from '../../native/package-root.js';
import type { NsKind } from '../../native/index.js';
import type { DerivedCase, MacroCase, MeasuredCase } from '../suite.js';
import { agreementCase, runTool } from './crosscheck.js';

/** The cases nsloop re-times: (case, namespace set) pairs, each in the group of its case. */
export const CROSSCHECKED: readonly { case: 'clone' | 'unshare'; set: string }[] = [
  { case: 'unshare', set: 'net' },
  { case: 'unshare', set: 'docker-default' },
  { case: 'clone', set: 'docker-default' },
];

/** The nsloop binary (built with the workloads), or undefined when it is not built. */
export function nsloopPath(): string | undefined {
  const p = packagePath('native', 'workloads', 'bin', 'nsloop');
  return existsSync(p) ? p : undefined;
}

/** Parses nsloop's output (one op's ns per line) into µs; fails naming the subject. */
export function parseNsloop(stdout: string, subject: string): number[] {
  const lines = stdout.trim().split('\n');
  const out = lines.map((l) => {
    if (!/^\d+$/.test(l)) throw new Error(`${subject}: nsloop printed ${JSON.stringify(l)}`);
    return Number(l) / 1e3;
  });
  if (out.length === 0) throw new Error(`${subject}: nsloop printed nothing`);
  return out;
}

/**
 * nsloop cases for the sets of CROSSCHECKED this host offers: the same case name and
 * parameters as the measured case plus `tool: c-loop`, in its group so they interleave.
 * None, with a warning, when nsloop is not built.
 */
export function namespaceCrosschecks(
  sets: readonly { name: string; kinds: readonly NsKind[] }[],
  flagText: (kinds: readonly NsKind[]) => string,
  warn: (m: string) => void,
): MacroCase[] {
  const bin = nsloopPath();
  if (bin === undefined) {
    warn('outside cross-check not run: nsloop is not built (sh native/workloads/build.sh)');
    return [];
  }
  const out: MacroCase[] = [];
  for (const c of CROSSCHECKED) {
    const set = sets.find((s) => s.name === c.set);
    if (set === undefined) continue;
    const kinds = set.kinds.length === 0 ? 'none' : set.kinds.join(',');
    const subject = `nsloop ${c.case} ${kinds}`;
    out.push({
      kind: 'macro',
      suite: 'namespaces',
      case: c.case,
      target: 'berth',
      parameters: { namespaces: set.name, flags: flagText(set.kinds), tool: 'c-loop' },
      unit: 'us',
      direction: 'lower-is-better',
      group: c.case,
      method:
        `Outside cross-check: one sample is one run of \`nsloop ${c.case} ${kinds} 1\`, a small static C process (native/workloads/nsloop.c, ` +
        'not the bench process and not the native addon) that does one warm-up op and then one timed op: ' +
        (c.case === 'unshare'
          ? `a child it forks reads CLOCK_MONOTONIC around unshare(${flagText(set.kinds)}) and reports the difference.`
          : `it reads CLOCK_MONOTONIC around its own clone(${flagText(set.kinds)}|SIGCHLD) (fork-like, no CLONE_VM); the child _exits and is reaped.`),
      notes:
        c.case === 'clone'
          ? [
              "clone(2) without CLONE_VM copies the caller's page tables, so this figure from a small process and the one from a fork of the bench process measure the kernel at two process sizes.",
            ]
          : [],
      sample: async () => {
        const r = await runTool([bin, c.case, kinds, '1'], { timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(`${subject}: exit ${r.code}: ${r.stderr.trim()}`);
        return parseNsloop(r.stdout, subject)[0]!;
      },
    });
  }
  return out;
}

/** The agreement of each nsloop case with the addon's case of the same name and set. */
export function deriveNamespaceCrosschecks(measured: readonly MeasuredCase[]): DerivedCase[] {
  const out: DerivedCase[] = [];
  for (const c of measured) {
    if (c.info.parameters.tool !== 'c-loop') continue;
    const own = measured.find(
      (m) =>
        m.info.case === c.info.case &&
        m.info.parameters.tool === undefined &&
        m.info.parameters.namespaces === c.info.parameters.namespaces,
    );
    if (own === undefined) continue;
    const d = agreementCase(c, own, {
      interleaved: true,
      what: `${c.info.case} with ${String(c.info.parameters.flags)}, timed by nsloop and by the native addon`,
    });
    if (d !== undefined) out.push(d);
  }
  return out;
}
