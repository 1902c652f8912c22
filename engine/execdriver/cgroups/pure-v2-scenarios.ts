// One scenario of the cgroup manager on a cgroup2-only layout (Debian 12's default), run by
// pure-v2.test.ts in a process of its own inside a private mount namespace whose only cgroup
// mount is cgroup2 at /sys/fs/cgroup (scripts/cgroup2-only.sh), so the test process's own
// mounts are never touched. The manager finds that layout itself (no layout is passed).
// Prints one JSON line of what it observed; a failure exits 1 with the error on stderr.
// Usage: pure-v2-scenarios.ts layout|lifecycle|nesting|limits|oom|pids|cleanup PREFIX
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { background } from '../../trace/context.js';
import { detectLayout } from './detect.js';
import { createCgroupManager } from './manager.js';
import type { Cgroup } from './types.js';
import { exited as ended, TestProcesses } from '../../../testkit/processes.js';

const ctx = background();
const ROOT = '/sys/fs/cgroup';
const procs = new TestProcesses();

/** The cgroup's CPU time so far (cpu.stat is a core file of cgroup v2: no controller needed). */
async function usage(cg: Cgroup): Promise<number> {
  const ns = (await cg.stats(ctx)).cpu?.usageNs;
  if (ns === undefined) throw new Error(`cgroup ${cg.path}: no cpu.stat`);
  return ns;
}

const read = (dir: string, file: string): string => readFileSync(join(dir, file), 'utf8').trim();
const controllers = (): string[] => read(ROOT, 'cgroup.controllers').split(/\s+/).filter(Boolean);
const errText = (err: unknown): { code: string | undefined; message: string } => ({
  code: (err as { code?: string }).code,
  message: err instanceof Error ? err.message : String(err),
});

type Scenario = (prefix: string) => Promise<Record<string, unknown>>;

const scenarios: Record<string, Scenario> = {
  async layout() {
    const layout = detectLayout();
    return {
      mode: layout.mode,
      unified: layout.unified,
      v1: [...layout.v1.keys()],
      managerMode: createCgroupManager().mode,
      controllers: controllers(),
    };
  },

  async lifecycle(prefix) {
    const cg = await createCgroupManager().create(ctx, `${prefix}/life`);
    // a busy loop: frozen, its CPU time stands still; thawed, it grows again
    const child = procs.busy();
    await cg.attach(ctx, child.pid!);
    const pids = await cg.pids(ctx);
    await cg.freeze(ctx);
    const frozen = read(cg.dirs[0]!, 'cgroup.events');
    const frozenFrom = await usage(cg);
    await sleep(500);
    const frozenTo = await usage(cg);
    await cg.thaw(ctx);
    const thawed = read(cg.dirs[0]!, 'cgroup.events');
    let grewAfterThaw = false;
    for (let i = 0; i < 100 && !grewAfterThaw; i++) {
      await sleep(100);
      grewAfterThaw = (await usage(cg)) > frozenTo;
    }
    const killed = await cg.kill(ctx, 'SIGKILL');
    const end = await ended(child);
    await cg.destroy(ctx);
    return {
      dirs: cg.dirs,
      pid: child.pid,
      pids,
      frozen,
      cpuWhileFrozenNs: frozenTo - frozenFrom,
      thawed,
      grewAfterThaw,
      killed,
      end,
      left: existsSync(cg.dirs[0]!),
    };
  },

  async nesting(prefix) {
    const m = createCgroupManager();
    const base = `${prefix}/nest`;
    await m.create(ctx, `${base}/one`);
    const inner = await m.create(ctx, `${base}/two/inner`);
    const child = procs.sleeper();
    await inner.attach(ctx, child.pid!);
    const inCgroup = read(join(ROOT, base, 'two', 'inner'), 'cgroup.procs');
    let refused: unknown;
    await inner.destroy(ctx).catch((err: unknown) => (refused = errText(err)));
    const removed = (await createCgroupManager().cleanupStale(ctx, base)).sort();
    const end = await ended(child);
    return { pid: child.pid, procs: inCgroup, refused, removed, end, left: existsSync(join(ROOT, base)) };
  },

  async limits(prefix) {
    const offered = controllers();
    const cg = await createCgroupManager().create(ctx, `${prefix}/limits`);
    const out: Record<string, unknown> = {
      offered,
      subtreeControl: read(join(ROOT, prefix), 'cgroup.subtree_control'),
    };
    const tries: [string, () => Promise<void>, string[]][] = [
      [
        'memory',
        () => cg.apply(ctx, { memory: { limit: 64 << 20, swap: 96 << 20 } }),
        ['memory.max', 'memory.swap.max'],
      ],
      ['pids', () => cg.apply(ctx, { pids: { limit: 7 } }), ['pids.max']],
      ['cpu', () => cg.apply(ctx, { cpu: { shares: 1024, quota: 50000, period: 100000 } }), ['cpu.weight', 'cpu.max']],
    ];
    for (const [name, apply, files] of tries) {
      try {
        await apply();
        out[name] = Object.fromEntries(
          files.map((f) => [f, existsSync(join(cg.dirs[0]!, f)) ? read(cg.dirs[0]!, f) : null]),
        );
      } catch (err) {
        out[name] = { error: errText(err) };
      }
    }
    await cg.destroy(ctx);
    return out;
  },

  async oom(prefix) {
    const cg = await createCgroupManager().create(ctx, `${prefix}/oom`, {
      memory: { limit: 32 << 20, swap: 32 << 20 },
    });
    const alloc = 'const a=[];for(;;)a.push(Buffer.alloc(1<<20,1))';
    const child = procs.gated(`exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(alloc)}`);
    await cg.attach(ctx, child.pid!);
    child.stdin!.write('go\n');
    const end = await ended(child);
    const stats = await cg.stats(ctx);
    await cg.destroy(ctx);
    return { end, oomKills: stats.memory?.oomKills, limit: stats.memory?.limit };
  },

  async pids(prefix) {
    const cg = await createCgroupManager().create(ctx, `${prefix}/pids`, { pids: { limit: 3 } });
    const max = read(cg.dirs[0]!, 'pids.max');
    const child = procs.gated('for i in 1 2 3 4 5 6; do sleep 600 >/dev/null 2>&1 & done; exit 0');
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    await cg.attach(ctx, child.pid!);
    const closed = new Promise((resolve) => child.once('close', resolve));
    child.stdin!.write('go\n');
    await closed;
    const current = (await cg.stats(ctx)).pids?.current;
    const killed = await cg.kill(ctx, 'SIGKILL');
    await cg.destroy(ctx);
    return { max, stderr, current, killed };
  },

  async cleanup(prefix) {
    const removed = await createCgroupManager().cleanupStale(ctx, prefix);
    return { removed, left: existsSync(join(ROOT, prefix)) };
  },
};

async function main(): Promise<number> {
  const [name, prefix] = process.argv.slice(2);
  const scenario = name === undefined ? undefined : scenarios[name];
  if (scenario === undefined || prefix === undefined || !/^berth-test-[\w-]+$/.test(prefix)) {
    process.stderr.write(`usage: pure-v2-scenarios.ts ${Object.keys(scenarios).join('|')} berth-test-PREFIX\n`);
    return 2;
  }
  try {
    process.stdout.write(`${JSON.stringify(await scenario(prefix))}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`scenario ${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  } finally {
    await procs.killAll();
  }
}

process.exitCode = await main();
