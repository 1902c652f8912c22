// The cgroup manager on a cgroup2-only layout (Debian 12's default), whatever this host's
// own layout is: each scenario runs in a process of its own (pure-v2-scenarios.ts) inside a
// private mount namespace where cgroup2 alone is mounted at /sys/fs/cgroup
// (scripts/cgroup2-only.sh), never in this process's namespace. Which controllers that
// hierarchy offers is the host's matter (one bound to a v1 hierarchy stays there): limits
// are checked both ways, OOM and pids need their controller and skip saying so.
import { execFile, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect } from 'vitest';
import { needs, root, tool, when } from '../../../testkit/needs.js';

const here = dirname(fileURLToPath(import.meta.url));
const WRAPPER = join(here, '..', '..', '..', 'scripts', 'cgroup2-only.sh');
const SCENARIOS = join(here, 'pure-v2-scenarios.ts');
const prefix = `berth-test-purev2-${process.pid}`;

/** The controllers of a cgroup2-only mount here, or the reason there is none (probed once, at collection). */
const probe = ((): { controllers: string[] } | { reason: string } => {
  if (root() !== undefined || tool('unshare', 'util-linux') !== undefined) return { reason: 'needs root and unshare' };
  const r = spawnSync('bash', [WRAPPER, 'cat', '/sys/fs/cgroup/cgroup.controllers'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0)
    return { reason: `cannot mount cgroup2 alone in a private mount namespace: ${String(r.stderr).trim()}` };
  return { controllers: r.stdout.trim().split(/\s+/).filter(Boolean) };
})();
const controllers = 'controllers' in probe ? probe.controllers : [];
const gate = needs(root(), 'reason' in probe ? probe.reason : undefined);
const withController = (c: string) =>
  needs(
    root(),
    'reason' in probe ? probe.reason : undefined,
    when(
      controllers.includes(c),
      `needs the ${c} controller on a cgroup2-only mount (this host binds it to a cgroup v1 hierarchy)`,
    ),
  );

/** Runs one scenario in the cgroup2-only namespace; its JSON facts, or a failure with its stderr. */
function scenario(name: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [WRAPPER, process.execPath, '--import', 'tsx', SCENARIOS, name, prefix],
      { encoding: 'utf8', timeout: 180_000 },
      (err, stdout, stderr) => {
        if (err !== null) reject(new Error(`scenario ${name}: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>);
      },
    );
  });
}

gate.describe('cgroup manager on a cgroup2-only layout (a private mount namespace)', () => {
  afterAll(async () => {
    // every scenario removes what it made; this catches what a failed one left
    const facts = await scenario('cleanup');
    expect(facts.left).toBe(false);
  }, 200_000);

  gate.it(
    'finds the v2 layout by itself: no v1 hierarchy, cgroup2 at /sys/fs/cgroup',
    async () => {
      const facts = await scenario('layout');
      expect(facts).toMatchObject({ mode: 'v2', unified: '/sys/fs/cgroup', v1: [], managerMode: 'v2' });
      expect(facts.controllers).toEqual(controllers);
    },
    200_000,
  );

  gate.it(
    'creates, attaches, freezes (the busy process gets no CPU), thaws, kills and destroys',
    async () => {
      const facts = await scenario('lifecycle');
      expect(facts.dirs).toEqual([`/sys/fs/cgroup/${prefix}/life`]);
      expect(facts.pids).toEqual([facts.pid]);
      expect(facts.frozen).toMatch(/^frozen 1$/m);
      expect(facts.cpuWhileFrozenNs).toBe(0);
      expect(facts.thawed).toMatch(/^frozen 0$/m);
      expect(facts.grewAfterThaw).toBe(true);
      expect(facts.killed).toBe(1);
      expect(facts.end).toEqual({ code: null, signal: 'SIGKILL' });
      expect(facts.left).toBe(false);
    },
    200_000,
  );

  gate.it(
    'nests cgroups, refuses to destroy a busy one, and cleanupStale kills and removes them all',
    async () => {
      const facts = await scenario('nesting');
      const base = `${prefix}/nest`;
      expect(facts.procs).toBe(String(facts.pid));
      expect(facts.refused).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining(`${base}/two/inner`) });
      expect(facts.removed).toEqual([base, `${base}/one`, `${base}/two`, `${base}/two/inner`]);
      expect(facts.end).toEqual({ code: null, signal: 'SIGKILL' });
      expect(facts.left).toBe(false);
    },
    200_000,
  );

  gate.it(
    'writes memory, pids and cpu limits where the controller is offered, and names the file where not',
    async () => {
      const facts = await scenario('limits');
      expect(facts.offered).toEqual(controllers);
      const expected: Record<string, Record<string, string>> = {
        memory: { 'memory.max': String(64 << 20), 'memory.swap.max': String(32 << 20) },
        pids: { 'pids.max': '7' },
        cpu: { 'cpu.weight': '39', 'cpu.max': '50000 100000' },
      };
      for (const [c, files] of Object.entries(expected)) {
        if (controllers.includes(c)) {
          expect(String(facts.subtreeControl).split(' ')).toContain(c);
          expect(facts[c]).toEqual(files);
        } else {
          const first = Object.keys(files)[0]!;
          expect((facts[c] as { error?: unknown }).error).toMatchObject({
            code: 'NOT_FOUND',
            message: expect.stringMatching(new RegExp(`^cgroup ${prefix}/limits ${first.replace('.', '\\.')}: write `)),
          });
        }
      }
    },
    200_000,
  );

  withController('memory').it(
    'OOM-kills a process beyond memory.max and counts it',
    async () => {
      const facts = await scenario('oom');
      expect(facts.end).toMatchObject({ signal: 'SIGKILL' });
      expect(facts.oomKills).toBeGreaterThanOrEqual(1);
      expect(facts.limit).toBe(32 << 20);
    },
    200_000,
  );

  withController('pids').it(
    'stops forks beyond pids.max',
    async () => {
      const facts = await scenario('pids');
      expect(facts.max).toBe('3');
      expect(facts.stderr).toMatch(/fork|Resource temporarily unavailable/i);
      expect(facts.current).toBeLessThanOrEqual(2);
      expect(facts.killed).toBeGreaterThanOrEqual(1);
      expect(facts.killed).toBeLessThanOrEqual(2);
    },
    200_000,
  );
});
