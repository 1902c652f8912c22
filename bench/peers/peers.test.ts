// Tests of the peer runtimes module: the crun quirk as data (when it applies, the
// argv it builds), finding runtimes, and real runs of each runtime found on one
// bundle with a private --root that must leave no state, cgroup or process behind.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeBundles, type RuntimeMaterial } from '../suites/runtime-bundles.js';
import {
  argvFor,
  BERTH_RUNTIME_BIN,
  crunHybridQuirk,
  crunQuirks,
  findRuntime,
  findRuntimes,
  forceDelete,
  isFound,
  leftoversOf,
  onPath,
  runContainer,
  shellQuote,
  type PeerRuntime,
} from './index.js';
import { needs, root, tool, when } from '../../testkit/needs.js';

const isRoot = process.getuid?.() === 0;

const hybridMountinfo = [
  '30 24 0:26 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755',
  '31 30 0:27 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '33 30 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

describe('peer quirks', () => {
  it('applies the crun wrapper on a hybrid host whose cgroup2 mount has controllers only', () => {
    const seen: string[] = [];
    const withHugetlb = (mp: string) => (seen.push(mp), ['hugetlb']);
    expect(crunQuirks(hybridMountinfo, withHugetlb).map((q) => q.id)).toEqual(['crun-hybrid-cgroup']);
    expect(seen).toEqual(['/sys/fs/cgroup/unified']);
    expect(crunQuirks(hybridMountinfo, () => [])).toEqual([]);
    expect(crunQuirks('33 30 0:29 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw', withHugetlb)).toEqual([]);
    expect(crunQuirks('31 30 0:27 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids', withHugetlb)).toEqual([]);
  });

  it('wraps the runtime argv in a private mount namespace that unmounts the cgroup2 mount, passing the argv through untouched', () => {
    const q = crunHybridQuirk('/sys/fs/cgroup/unified');
    const argv = q.wrap(['/usr/bin/crun', '--root', '/tmp/a b', 'run', 'x']);
    expect(argv.slice(0, 5)).toEqual(['unshare', '-m', '--propagation', 'private', 'sh']);
    expect(argv[6]).toBe('umount /sys/fs/cgroup/unified && exec "$0" "$@"');
    expect(argv.slice(7)).toEqual(['/usr/bin/crun', '--root', '/tmp/a b', 'run', 'x']);
    expect(q.description).toContain('unshare -m');
    expect(shellQuote("/odd path/it's")).toBe(`'/odd path/it'\\''s'`);
  });

  needs(
    root(),
    tool('unshare', 'util-linux'),
    when(existsSync('/sys/fs/cgroup/unified/cgroup.procs'), 'needs a hybrid cgroup layout (/sys/fs/cgroup/unified)'),
  ).it('the wrapper really runs the command without the cgroup2 mount, and the host keeps it', () => {
    const unified = '/sys/fs/cgroup/unified';
    const q = crunHybridQuirk(unified);
    const argv = q.wrap(['sh', '-c', 'grep -c " /sys/fs/cgroup/unified " /proc/self/mountinfo || true']);
    const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' }).trim();
    expect(out).toBe('0');
    expect(readdirSync(unified)).toContain('cgroup.procs');
  });

  it('builds the argv of a call: command, args, then each quirk around it', () => {
    const peer: PeerRuntime = {
      name: 'crun',
      path: '/x/crun',
      version: null,
      command: ['/x/crun'],
      quirks: [crunHybridQuirk('/u')],
    };
    const argv = argvFor(peer, ['--root', '/r', 'delete', '-f', 'id']);
    expect(argv[0]).toBe('unshare');
    expect(argv.slice(-6)).toEqual(['/x/crun', '--root', '/r', 'delete', '-f', 'id']);
  });
});

describe('finding runtimes', () => {
  it('reports a runtime that is not on PATH as missing with the reason', () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent-berth-path';
    try {
      const r = findRuntime('runc');
      expect(isFound(r)).toBe(false);
      expect(r).toEqual({ name: 'runc', reason: 'runc not installed (not on PATH)' });
    } finally {
      process.env.PATH = saved;
    }
  });

  it('finds berth-runtime in the repository, run by its bin as a user runs it, with its version', () => {
    const r = findRuntime('berth-runtime');
    expect(isFound(r), JSON.stringify(r)).toBe(true);
    const p = r as PeerRuntime;
    expect(p.command).toEqual([BERTH_RUNTIME_BIN]);
    expect(p.version).toMatch(/berth-runtime/);
    expect(p.quirks).toEqual([]);
  });
});

needs(root()).describe('driving runtimes on one bundle (root)', () => {
  let bundles: RuntimeBundles;
  let m: RuntimeMaterial;
  let dataRoot: string;
  const { found, missing } = isRoot ? findRuntimes() : { found: [], missing: [] };

  beforeAll(() => {
    dataRoot = mkdtempSync(join(tmpdir(), `berth-peers-test-${process.pid}-`));
    bundles = new RuntimeBundles(dataRoot, 'true');
    m = bundles.acquire();
  });

  afterAll(() => {
    bundles?.release();
    if (dataRoot) {
      expect(readdirSync(dataRoot)).toEqual([]);
      rmSync(dataRoot, { recursive: true, force: true });
    }
  });

  it('lists every runtime once, found or missing', () => {
    expect([...found.map((f) => f.name), ...missing.map((x) => x.name)].sort()).toEqual([
      'berth-runtime',
      'crun',
      'runc',
    ]);
  });

  for (const name of ['runc', 'crun', 'berth-runtime'] as const) {
    const peer = found.find((f) => f.name === name);
    const why = missing.find((x) => x.name === name)?.reason ?? '';
    needs(why || undefined).it(`${name}: run exits 0, delete -f is idempotent, nothing is left`, async () => {
      const root = m.stateRoot(name);
      for (const variant of ['no-netns', 'netns'] as const) {
        const id = `bpt${process.pid}-${name}-${variant}`;
        try {
          const r = await runContainer(peer!, { root, bundle: m.bundles[variant], id });
          expect(r.stderr).toBe('');
          expect(r.code).toBe(0);
        } finally {
          await forceDelete(peer!, root, id);
          await forceDelete(peer!, root, id);
        }
        expect(leftoversOf(id, root)).toEqual([]);
      }
    });
  }

  it('crun really needs its quirk here: without the wrapper it refuses the hybrid layout, and leaves nothing', async () => {
    const crun = found.find((f) => f.name === 'crun');
    if (crun === undefined || crun.quirks.length === 0) return;
    const root = m.stateRoot('crun-bare');
    const id = `bpt${process.pid}-bare`;
    try {
      const r = await runContainer({ ...crun, quirks: [] }, { root, bundle: m.bundles['no-netns'], id });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/hybrid/);
    } finally {
      await forceDelete(crun, root, id);
    }
    expect(leftoversOf(id, root)).toEqual([]);
  });

  it('leftoversOf names a state directory and a cgroup left by a run', () => {
    const id = `bpt${process.pid}-left`;
    const root = m.stateRoot('fake');
    const cg = `/sys/fs/cgroup/pids/${id}`;
    execFileSync('mkdir', ['-p', join(root, id)]);
    const haveCg = existsSync('/sys/fs/cgroup/pids');
    if (haveCg) execFileSync('mkdir', [cg]);
    try {
      const left = leftoversOf(id, root);
      expect(left).toContain(`state directory ${join(root, id)}`);
      if (haveCg) expect(left).toContain(`cgroup ${cg}`);
    } finally {
      rmSync(join(root, id), { recursive: true, force: true });
      if (haveCg) execFileSync('rmdir', [cg]);
    }
    expect(leftoversOf(id, root)).toEqual([]);
  });
});
