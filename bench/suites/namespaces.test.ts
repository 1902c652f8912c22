// Tests of the namespace measurement primitive (native nsBench) and of the
// `namespaces` suite run end to end through the runner (root and the native core).
import { spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import os from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { childrenOf } from '../../engine/fsutil/processes-naming.js';
import { native, type NativeCore, type NsKind } from '../../native/index.js';
import { collectHostInfo } from '../host.js';
import { profiles, type ProfileSettings } from '../profiles.js';
import type { HostInfo } from '../results/document.js';
import { validateResult } from '../results/validate.js';
import { runBenchmarks } from '../runner.js';
import type { CaseInfo, MacroCase, MeasuredCase, Suite, SuiteContext } from '../suite.js';
import { findSuite } from './index.js';
import { namespaceSets, namespacesSuite, workerCounts } from './namespaces.js';
import { nsloopPath } from './crosscheck-namespaces.js';
import { needs, root } from '../../testkit/needs.js';

// The native core must load: a core that fails to load fails these tests, never skips them.
const core: NativeCore = native();

const kinds: readonly NsKind[] = ['mnt', 'uts', 'ipc', 'pid', 'net', 'user', 'cgroup'];

/** Tiny sample counts: the point is that every case runs and the document is valid. */
const tiny: ProfileSettings = {
  ...profiles.quick,
  macro: { warmup: 1, minSamples: 2, maxSamples: 2, maxTimeMs: 1 },
};

const suiteCtx = (warnings: string[] = []): SuiteContext => ({
  profile: 'quick',
  settings: profiles.quick,
  targets: ['berth'],
  dataRoot: os.tmpdir(),
  seed: 1,
  warn: (m) => warnings.push(m),
});

describe('nsBench (native)', () => {
  it('the child check sees a child of this process (so an empty list means none)', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      expect(childrenOf('self')).toContain(child.pid);
    } finally {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    expect(childrenOf('self')).toEqual([]);
  });

  needs(root()).it(
    'returns ordered timestamps for every kind, by clone and by unshare in the child, and reaps each child',
    async () => {
      const ownBefore = kinds.map((k) => readlinkSync(`/proc/self/ns/${k}`));
      for (const kind of [undefined, ...kinds]) {
        for (const mode of ['clone', 'unshare'] as const) {
          const list = kind === undefined ? [] : [kind];
          const before = core!.monotonicNs();
          const r = await core!.nsBench(mode === 'clone' ? { clone: list } : { unshare: list });
          const label = `${mode} ${kind ?? 'none'}`;
          expect(r.ops, label).toHaveLength(1);
          expect(typeof r.baseNs, label).toBe('bigint');
          expect(r.baseNs >= before && r.baseNs <= core!.monotonicNs(), label).toBe(true);
          const op = r.ops[0];
          expect(op.thread, label).toBe(0);
          expect(op.startNs, label).toBeGreaterThanOrEqual(0);
          expect(op.cloneNs, label).toBeGreaterThan(0);
          // The child runs after clone started, exits after it ran, is reaped after it exited.
          expect(op.childStartNs, label).toBeGreaterThan(0);
          expect(op.childExitNs, label).toBeGreaterThanOrEqual(op.childStartNs);
          expect(op.childExitNs - op.childStartNs, label).toBeGreaterThanOrEqual(op.unshareNs);
          expect(op.reapedNs, label).toBeGreaterThanOrEqual(op.childExitNs);
          expect(op.reapedNs, label).toBeGreaterThanOrEqual(op.cloneNs);
          expect(op.startNs + op.reapedNs, label).toBeLessThanOrEqual(r.wallNs);
          if (mode === 'unshare' && kind !== undefined) expect(op.unshareNs, label).toBeGreaterThan(0);
        }
      }
      expect(childrenOf('self')).toEqual([]);
      // The test process itself stayed in its namespaces.
      expect(kinds.map((k) => readlinkSync(`/proc/self/ns/${k}`))).toEqual(ownBefore);
    },
  );

  needs(root()).it(
    'runs threads × perThread ops in parallel, each thread its share, within the wall time, and leaves no child',
    async () => {
      const r = await core!.nsBench({ clone: ['net', 'mnt'], threads: 3, perThread: 4 });
      expect(r.ops).toHaveLength(12);
      for (let t = 0; t < 3; t++) expect(r.ops.filter((op) => op.thread === t)).toHaveLength(4);
      for (const op of r.ops) {
        expect(op.startNs).toBeGreaterThanOrEqual(0);
        expect(op.startNs + op.reapedNs).toBeLessThanOrEqual(r.wallNs);
        expect(op.reapedNs).toBeGreaterThanOrEqual(op.childExitNs);
      }
      // A thread's ops run back to back: each starts after the previous one was reaped.
      for (let t = 0; t < 3; t++) {
        const mine = r.ops.filter((op) => op.thread === t);
        for (let i = 1; i < mine.length; i++)
          expect(mine[i].startNs).toBeGreaterThanOrEqual(mine[i - 1].startNs + mine[i - 1].reapedNs);
      }
      expect(childrenOf('self')).toEqual([]);
    },
  );

  needs(root()).it('rejects a failing unshare with the errno name and step, and still reaps the child', async () => {
    // In a new user namespace without a uid map the child's uid is unmapped, so it may not create another.
    const err = await core!.nsBench({ clone: ['user'], unshare: ['user'] }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string; step?: string },
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toBe('nsBench clone(user) unshare(user): unshare: EPERM (Operation not permitted)');
    expect(err!.code).toBe('EPERM');
    expect(err!.step).toBe('unshare');
    expect(childrenOf('self')).toEqual([]);
  });

  it('rejects bad options with a TypeError naming the field', () => {
    expect(() => core!.nsBench({ clone: ['bogus' as NsKind] })).toThrow(
      'nsBench: clone[0]: unknown namespace "bogus" (mnt, uts, ipc, pid, net, user, cgroup)',
    );
    expect(() => core!.nsBench({ unshare: 'net' as unknown as NsKind[] })).toThrow(
      'nsBench: unshare must be an array of namespace names',
    );
    expect(() => core!.nsBench({ threads: 0 })).toThrow('nsBench: threads must be an integer from 1 to 64');
    expect(() => core!.nsBench({ perThread: 1.5 })).toThrow('nsBench: perThread must be an integer from 1 to 100000');
    expect(() => core!.nsBench({ threads: 64, perThread: 10_000 })).toThrow(
      'nsBench: threads × perThread must be at most 100000',
    );
    expect(() => (core!.nsBench as unknown as () => unknown)()).toThrow(TypeError);
  });
});

describe('namespaces suite', () => {
  let host: HostInfo;
  beforeAll(async () => {
    host = await collectHostInfo({ dataRoot: os.tmpdir(), peers: [] });
  });

  it('is registered as built and loads this suite', async () => {
    const registered = findSuite('namespaces');
    expect(registered?.load).toBeDefined();
    expect(await registered!.load!()).toBe(namespacesSuite);
  });

  it('has a clone case per set, an unshare case per set but none, and a parallel case per set and worker count', () => {
    const all = namespacesSuite.cases(suiteCtx()) as MacroCase[];
    // the outside cross-check's C loop cases carry a `tool` parameter
    const cases = all.filter((c) => c.parameters.tool === undefined);
    expect(
      all.filter((c) => c.parameters.tool === 'c-loop').map((c) => `${c.case} ${c.parameters.namespaces}`),
    ).toEqual(nsloopPath() !== undefined ? ['unshare net', 'unshare docker-default', 'clone docker-default'] : []);
    for (const c of all.filter((x) => x.parameters.tool !== undefined))
      expect(cases.some((o) => o.group === c.group && o.case === c.case)).toBe(true);
    const names = namespaceSets.map((s) => s.name);
    expect(cases.filter((c) => c.case === 'clone').map((c) => c.parameters.namespaces)).toEqual(names);
    expect(cases.filter((c) => c.case === 'unshare').map((c) => c.parameters.namespaces)).toEqual(
      names.filter((n) => n !== 'none'),
    );
    expect(
      cases.filter((c) => c.case === 'parallel').map((c) => `${c.parameters.namespaces}/${c.parameters.workers}`),
    ).toEqual(names.flatMap((n) => workerCounts.map((w) => `${n}/${w}`)));
    const dockerDefault = cases.find((c) => c.case === 'clone' && c.parameters.namespaces === 'docker-default')!;
    expect(dockerDefault.parameters.flags).toBe('CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWNET');
    const net = cases.find((c) => c.case === 'unshare' && c.parameters.namespaces === 'net')!;
    expect(net.unit).toBe('us');
    expect(net.notes!.join(' ')).toContain('unshare(CLONE_NEWNET) ≈ 0.44–0.47 ms');
    for (const c of cases) expect(c.method).toMatch(/^One sample: /);
  });

  needs(root()).it('needs nothing more on this host', async () => {
    expect(await namespacesSuite.requires!(os.tmpdir())).toBeUndefined();
  });

  needs(root()).it(
    'runs end to end through the runner into a schema-valid document, with derived latencies, leaving no child',
    async () => {
      const lines: string[] = [];
      const { document, failed } = await runBenchmarks({
        suites: [findSuite('namespaces')!],
        settings: tiny,
        seed: 3,
        dataRoot: os.tmpdir(),
        argv: ['--test'],
        progress: (l) => lines.push(l),
        hostInfo: async () => host,
      });
      expect(failed, lines.join('\n')).toBe(false);
      expect(document.suites).toEqual([expect.objectContaining({ name: 'namespaces', status: 'ran', reason: null })]);
      expect(() => validateResult(document)).not.toThrow();
      const byCase = (name: string) => document.cases.filter((c) => c.case === name && c.parameters.tool === undefined);
      const sets = namespaceSets.length;
      // the outside cross-check: nsloop's figures and their agreement with the addon's
      if (nsloopPath() !== undefined) {
        const loops = document.cases.filter((c) => c.parameters.tool === 'c-loop');
        expect(loops.map((c) => c.case).sort()).toEqual([
          'clone',
          'clone-crosscheck',
          'unshare',
          'unshare',
          'unshare-crosscheck',
          'unshare-crosscheck',
        ]);
        for (const c of loops.filter((x) => x.derived !== undefined))
          expect(c.notes[0]).toMatch(/^(Agrees within|DISAGREES by more than) 10 %: c-loop median /);
      }
      expect(byCase('clone')).toHaveLength(sets);
      expect(byCase('unshare')).toHaveLength(sets - 1);
      expect(byCase('parallel')).toHaveLength(sets * workerCounts.length);
      expect(byCase('clone-to-running')).toHaveLength(sets);
      expect(byCase('clone-to-reaped')).toHaveLength(sets);
      expect(byCase('parallel-clone')).toHaveLength(sets * workerCounts.length);
      // clone-added: each set's clone samples minus the plain fork's, pairwise.
      const added = byCase('clone-added');
      expect(added.map((c) => c.parameters.namespaces)).toEqual(
        namespaceSets.filter((s) => s.kinds.length > 0).map((s) => s.name),
      );
      const fork = byCase('clone').find((c) => c.parameters.namespaces === 'none')!;
      const net = byCase('clone').find((c) => c.parameters.namespaces === 'net')!;
      expect(added.find((c) => c.parameters.namespaces === 'net')!.samples).toEqual(
        net.samples.map((v, i) => v - fork.samples[i]),
      );
      for (const c of document.cases.filter((c) => c.case !== 'clone-added')) {
        expect(
          c.samples.every((s) => Number.isFinite(s) && s > 0),
          `${c.case} ${JSON.stringify(c.parameters)}`,
        ).toBe(true);
      }
      // Two samples per clone case, so two derived values; the warm-up ones are not kept.
      expect(byCase('clone-to-reaped')[0].samples).toHaveLength(2);
      // parallel-clone keeps every op: workers × perThread (4 at the quick scale) per sample.
      const p4 = byCase('parallel-clone').find((c) => c.parameters.workers === 4)!;
      expect(p4.samples).toHaveLength(2 * 4 * 4);
      expect(byCase('parallel').every((c) => c.unit === 'ops/s' && c.direction === 'higher-is-better')).toBe(true);
      // derive() is repeatable: a second call on the same run gives the same derived cases.
      const measured: MeasuredCase[] = document.cases
        .filter((c) => ['clone', 'unshare', 'parallel'].includes(c.case))
        .map((c) => ({
          info: {
            suite: c.suite,
            case: c.case,
            target: c.target,
            parameters: c.parameters,
            unit: c.unit as CaseInfo['unit'],
            direction: c.direction,
            method: c.method,
            notes: c.notes,
          },
          samples: c.samples,
          rounds: [c.samples],
          notes: c.notes,
        }));
      const again = namespacesSuite.derive!(measured);
      const derivedNames = new Set([
        'clone-added',
        'clone-to-running',
        'clone-to-reaped',
        'parallel-clone',
        'unshare-crosscheck',
        'clone-crosscheck',
      ]);
      expect(again.map((d) => [d.case, d.parameters, d.samples])).toEqual(
        document.cases.filter((c) => derivedNames.has(c.case)).map((c) => [c.case, c.parameters, c.samples]),
      );
      expect(namespacesSuite.derive!(measured)).toEqual(again);
      // a new cases() call starts a new run: the recorded values are gone (the differences and
      // cross-checks are computed from the samples alone).
      namespacesSuite.cases(suiteCtx());
      expect(
        namespacesSuite.derive!(measured).filter((d) => d.case !== 'clone-added' && !d.case.endsWith('-crosscheck')),
      ).toEqual([]);
      expect(childrenOf('self')).toEqual([]);
    },
  );

  needs(root()).it(
    'names the derived cases a failed case leaves out (derive() called twice by the runner)',
    async () => {
      const failing: Suite = {
        ...namespacesSuite,
        cases: (ctx) =>
          (namespacesSuite.cases(ctx) as MacroCase[])
            .filter((c) => c.case === 'clone' && ['none', 'net', 'mnt'].includes(String(c.parameters.namespaces)))
            .map((c) =>
              c.parameters.namespaces !== 'net'
                ? c
                : {
                    ...c,
                    sample: async (ctx, index) => {
                      const v = await c.sample(ctx, index);
                      if (index >= 1) throw new Error('injected failure');
                      return v;
                    },
                  },
            ),
      };
      const lines: string[] = [];
      const { document } = await runBenchmarks({
        suites: [{ name: failing.name, description: failing.description, load: async () => failing }],
        settings: tiny,
        seed: 3,
        dataRoot: os.tmpdir(),
        argv: ['--test'],
        progress: (l) => lines.push(l),
        hostInfo: async () => host,
      });
      const running = document.cases.filter((c) => c.case === 'clone-to-running').map((c) => c.parameters.namespaces);
      expect(running.sort(), lines.join('\n')).toEqual(['mnt', 'none']);
      const leftOut = document.warnings.filter((w) => w.includes('left out: it needs a case that failed'));
      for (const name of ['clone-added', 'clone-to-running', 'clone-to-reaped']) {
        expect(
          leftOut.some((w) => w.includes(`derived case ${name} [berth`) && w.includes('net')),
          `${name}: ${document.warnings.join('\n')}`,
        ).toBe(true);
      }
      expect(childrenOf('self')).toEqual([]);
    },
  );
});
