// Real cgroups (root): creates cgroups for processes this test spawns, applies limits and
// reads them back, provokes an OOM kill and a fork failure, and removes everything after.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../../errdefs/errors.js';
import { background } from '../../trace/context.js';
import { defaultLogger } from '../../trace/logger.js';
import { detectLayout, type CgroupLayout } from './detect.js';
import { createCgroupManager } from './manager.js';
import type { Cgroup, CgroupManager } from './types.js';
import { needs, root, when } from '../../../testkit/needs.js';
import { exited, TestProcesses } from '../../../testkit/processes.js';

const ctx = background();
const layout: CgroupLayout | undefined = (() => {
  try {
    return detectLayout();
  } catch {
    return undefined;
  }
})();
const hasV1 = layout !== undefined && layout.mode !== 'v2';

let n = 0;
const procs = new TestProcesses();
const gated = (script: string) => procs.gated(script);
const sleeper = () => procs.sleeper(30);
const paths: { manager: CgroupManager; path: string }[] = [];

function uniquePath(): string {
  return `berth-test-${process.pid}-${n++}`;
}

async function make(manager: CgroupManager, resources?: Parameters<CgroupManager['create']>[2]): Promise<Cgroup> {
  const path = uniquePath();
  paths.push({ manager, path });
  return manager.create(ctx, path, resources);
}

const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8').trim();

afterEach(async () => {
  await procs.killAll();
  for (const { manager, path } of paths.splice(0)) {
    try {
      const cg = await manager.open(ctx, path);
      await cg.kill(ctx, 'SIGKILL');
      await cg.destroy(ctx);
    } catch (err) {
      if (!isBerthError(err, 'NOT_FOUND')) throw err;
    }
  }
});

needs(root(), when(hasV1, 'needs cgroup v1 controllers (a hybrid or v1 host)')).describe(
  `cgroups on this host (${layout?.mode ?? 'none'})`,
  () => {
    const manager = (opts = {}) => createCgroupManager(opts);

    it.skipIf(!layout?.v1.has('blkio'))(
      `writes blockIO throttles and warns about settings this kernel lacks${layout?.v1.has('blkio') ? '' : ' (skipped: no blkio controller)'}`,
      async () => {
        // A real block device of this host, so the kernel accepts its throttle line.
        const dev = ['vda', 'sda', 'nvme0n1', 'loop0'].map((b) => `/sys/block/${b}/dev`).find((f) => existsSync(f));
        if (dev === undefined) return;
        const [major, minor] = readFileSync(dev, 'utf8').trim().split(':').map(Number);
        const warnings: string[] = [];
        const logger = { ...defaultLogger, warn: (m: string) => warnings.push(m), with: () => logger };
        const m = manager();
        const path = uniquePath();
        paths.push({ manager: m, path });
        const cg = await m.create(background(logger), path, {
          blockIO: {
            weight: 500,
            throttleReadBpsDevice: [{ major, minor, rate: 1048576 }],
            throttleWriteIOPSDevice: [{ major, minor, rate: 100 }],
          },
        });
        const blkio = cg.dirs.find((d) => d.startsWith(layout!.v1.get('blkio')!))!;
        expect(read(blkio, 'blkio.throttle.read_bps_device')).toBe(`${major}:${minor} 1048576`);
        expect(read(blkio, 'blkio.throttle.write_iops_device')).toBe(`${major}:${minor} 100`);
        if (existsSync(join(blkio, 'blkio.weight'))) expect(read(blkio, 'blkio.weight')).toBe('500');
        else
          expect(warnings).toEqual([
            expect.stringMatching(/linux\.resources\.blockIO\.weight not applied: this kernel has no blkio\.weight/),
          ]);
      },
    );

    it.skipIf(!layout?.v1.has('memory'))(
      `writes kernel memory limits the kernel has, and warns about those it lacks or does not enforce${layout?.v1.has('memory') ? '' : ' (skipped: no memory controller)'}`,
      async () => {
        const warnings: string[] = [];
        const logger = { ...defaultLogger, warn: (m: string) => warnings.push(m), with: () => logger };
        const m = manager();
        const path = uniquePath();
        paths.push({ manager: m, path });
        const cg = await m.create(background(logger), path, { memory: { kernel: 48 << 20, kernelTCP: 48 << 20 } });
        const mem = cg.dirs.find((d) => d.startsWith(layout!.v1.get('memory')!))!;
        for (const [field, file] of [
          ['kernel', 'memory.kmem.limit_in_bytes'],
          ['kernelTCP', 'memory.kmem.tcp.limit_in_bytes'],
        ]) {
          const warned = warnings.find((w) => w.includes(`memory.${field} not`));
          if (!existsSync(join(mem, file))) expect(warned).toMatch(/not applied: this kernel has no/);
          else if (read(mem, file) === String(48 << 20)) expect(warned).toBeUndefined();
          else expect(warned).toMatch(/not enforced: this kernel accepts/);
        }
      },
    );

    it.skipIf(!layout?.v1.has('cpuset'))(
      `fills a shared cpuset parent another engine made but has not filled yet, so a process can join the leaf${layout?.v1.has('cpuset') ? '' : ' (skipped: no cpuset controller)'}`,
      async () => {
        const m = manager();
        const parent = uniquePath();
        paths.push({ manager: m, path: parent });
        // the other engine's mkdir, before its copy of cpus and mems: a new cpuset is empty
        const shared = join(layout!.v1.get('cpuset')!, parent);
        mkdirSync(shared);
        expect(read(shared, 'cpuset.cpus')).toBe('');
        const path = `${parent}/leaf`;
        paths.unshift({ manager: m, path });
        const cg = await m.create(ctx, path);
        const leaf = join(shared, 'leaf');
        for (const file of ['cpuset.cpus', 'cpuset.mems']) {
          expect(read(shared, file)).toBe(read(layout!.v1.get('cpuset')!, file));
          expect(read(leaf, file)).toBe(read(shared, file));
        }
        const child = sleeper();
        await cg.attach(ctx, child.pid!);
        expect(read(leaf, 'cgroup.procs').split('\n')).toContain(String(child.pid));
      },
    );

    it('creates a directory in every hierarchy and attaches a process', async () => {
      const m = manager();
      const cg = await make(m);
      const controllers = ['pids', 'memory', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'blkio'].filter((c) =>
        layout!.v1.has(c),
      );
      for (const c of controllers) expect(cg.dirs).toContain(join(layout!.v1.get(c)!, cg.path));
      if (layout!.mode === 'hybrid') expect(cg.dirs).toContain(join(layout!.unified!, cg.path));
      for (const d of cg.dirs) expect(existsSync(d)).toBe(true);
      const cpuset = cg.dirs.find((d) => d.startsWith(layout!.v1.get('cpuset') ?? '\0'));
      if (cpuset) expect(read(cpuset, 'cpuset.cpus')).not.toBe('');

      const child = sleeper();
      await cg.attach(ctx, child.pid!);
      for (const d of cg.dirs) expect(read(d, 'cgroup.procs').split('\n')).toContain(String(child.pid));
      expect(await cg.pids(ctx)).toEqual([child.pid]);
      expect(readFileSync(`/proc/${child.pid}/cgroup`, 'utf8')).toContain(`memory:/${cg.path}`);
    });

    it('applies limits and reads them back', async () => {
      const m = manager();
      const cg = await make(m, {
        memory: { limit: 64 << 20, swap: 128 << 20, reservation: 32 << 20 },
        cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0', mems: '0' },
        pids: { limit: 10 },
        devices: [{ allow: false, access: 'rwm' }],
      });
      const dir = (c: string) => join(layout!.v1.get(c)!, cg.path);
      expect(read(dir('memory'), 'memory.limit_in_bytes')).toBe(String(64 << 20));
      if (existsSync(join(dir('memory'), 'memory.memsw.limit_in_bytes')))
        expect(read(dir('memory'), 'memory.memsw.limit_in_bytes')).toBe(String(128 << 20));
      expect(read(dir('memory'), 'memory.soft_limit_in_bytes')).toBe(String(32 << 20));
      expect(read(dir('cpu'), 'cpu.shares')).toBe('512');
      expect(read(dir('cpu'), 'cpu.cfs_quota_us')).toBe('50000');
      expect(read(dir('cpu'), 'cpu.cfs_period_us')).toBe('100000');
      expect(read(dir('cpuset'), 'cpuset.cpus')).toBe('0');
      expect(read(dir('pids'), 'pids.max')).toBe('10');
      const devices = read(dir('devices'), 'devices.list').split('\n');
      expect(devices).toContain('c 1:3 rwm');
      expect(devices).toContain('c 136:* rwm');
      expect(devices).not.toContain('a *:* rwm');

      // Lowering both memory values again must respect memsw >= limit at every step.
      await cg.apply(ctx, { memory: { limit: 16 << 20, swap: 16 << 20 } });
      expect(read(dir('memory'), 'memory.limit_in_bytes')).toBe(String(16 << 20));
      await cg.apply(ctx, { memory: { limit: -1, swap: -1 }, pids: { limit: 0 } });
      expect(Number(read(dir('memory'), 'memory.limit_in_bytes'))).toBeGreaterThan(2 ** 62);
      expect(read(dir('pids'), 'pids.max')).toBe('max');
      const stats = await cg.stats(ctx);
      expect(stats.memory?.limit).toBeUndefined();
      expect(stats.pids?.limit).toBeUndefined();
    });

    it('reports usage in stats', async () => {
      const cg = await make(manager());
      const child = gated('i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; exec sleep 30');
      await cg.attach(ctx, child.pid!);
      child.stdin!.write('go\n');
      let stats = await cg.stats(ctx);
      for (let i = 0; i < 200 && (stats.cpu?.usageNs ?? 0) < 10_000_000; i++) {
        await sleep(20);
        stats = await cg.stats(ctx);
      }
      expect(stats.cpu?.usageNs).toBeGreaterThan(10_000_000);
      expect(stats.memory?.usage).toBeGreaterThan(0);
      expect(stats.memory?.maxUsage).toBeGreaterThanOrEqual(stats.memory!.usage);
      expect(stats.pids?.current).toBe(1);
      expect(stats.memory?.oomKills).toBe(0);
      expect(await cg.oomKills(ctx)).toBe(0);
    });

    it('OOM-kills a process that exceeds the memory limit', async () => {
      const cg = await make(manager(), { memory: { limit: 32 << 20, swap: 32 << 20 } });
      const alloc = 'const a=[];for(;;)a.push(Buffer.alloc(1<<20,1))';
      const child = gated(`exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(alloc)}`);
      await cg.attach(ctx, child.pid!);
      child.stdin!.write('go\n');
      const result = await exited(child);
      expect(result.signal).toBe('SIGKILL');
      const stats = await cg.stats(ctx);
      expect(stats.memory?.oomKills).toBeGreaterThanOrEqual(1);
      expect(await cg.oomKills(ctx)).toBe(stats.memory?.oomKills);
      expect(stats.memory?.oomEvents).toBeGreaterThanOrEqual(1);
      expect(stats.memory?.maxUsage).toBeGreaterThan(16 << 20);
      await cg.destroy(ctx);
      for (const d of cg.dirs) expect(existsSync(d)).toBe(false);
    });

    it('stops forks beyond the pids limit', async () => {
      const cg = await make(manager(), { pids: { limit: 3 } });
      // The shell forks until the limit stops it, then exits (dash on the failed fork, bash
      // after the loop): once it has been reaped, the sleeps left behind are all the cgroup
      // holds and nothing forks any more, so the count read below cannot change under us.
      const child = gated('for i in 1 2 3 4 5 6; do sleep 600 >/dev/null 2>&1 & done; exit 0');
      let stderr = '';
      child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      await cg.attach(ctx, child.pid!);
      // 'close' comes after the exit and the end of stderr (the sleeps do not hold it).
      const closed = new Promise((resolve) => child.once('close', resolve));
      child.stdin!.write('go\n');
      await closed;
      expect(stderr).toMatch(/fork|Resource temporarily unavailable/i);
      const stats = await cg.stats(ctx);
      expect(stats.pids?.limit).toBe(3);
      expect(stats.pids?.current).toBeGreaterThanOrEqual(1);
      expect(stats.pids?.current).toBeLessThanOrEqual(2);
      // kill() counts the processes it signalled: the sleeps the limit let through. It reads
      // cgroup.procs itself, so it is bounded like pids.current rather than compared with it
      // (a task still being released by the kernel is counted by one and not the other).
      const killed = await cg.kill(ctx, 'SIGKILL');
      expect(killed).toBeGreaterThanOrEqual(1);
      expect(killed).toBeLessThanOrEqual(2);
      await cg.destroy(ctx);
      for (const d of cg.dirs) expect(existsSync(d)).toBe(false);
    });

    it('freezes and thaws', async () => {
      const cg = await make(manager());
      const child = sleeper();
      await cg.attach(ctx, child.pid!);
      await cg.freeze(ctx);
      const freezer = join(layout!.v1.get('freezer')!, cg.path);
      expect(read(freezer, 'freezer.state')).toBe('FROZEN');
      await cg.thaw(ctx);
      expect(read(freezer, 'freezer.state')).toBe('THAWED');
    });

    it('signals every process and destroy waits for them to leave', async () => {
      const m = manager();
      const cg = await make(m);
      const a = sleeper();
      const b = sleeper();
      await cg.attach(ctx, a.pid!);
      await cg.attach(ctx, b.pid!);
      expect(await cg.kill(ctx, 'SIGTERM')).toBe(2);
      expect((await exited(a)).signal).toBe('SIGTERM');
      expect((await exited(b)).signal).toBe('SIGTERM');
      await cg.destroy(ctx);
      for (const d of cg.dirs) expect(existsSync(d)).toBe(false);
      await cg.destroy(ctx); // idempotent
    });

    it('refuses to destroy a cgroup with a live process', async () => {
      const cg = await make(manager({ drainTimeoutMs: 100 }));
      const child = sleeper();
      await cg.attach(ctx, child.pid!);
      await expect(cg.destroy(ctx)).rejects.toMatchObject({
        code: 'CONFLICT',
        message: `cgroup ${cg.path}: destroy: 1 process(es) still inside (${child.pid})`,
      });
      for (const d of cg.dirs) expect(existsSync(d)).toBe(true);
    });

    it('removes nested paths and keeps shared parents in use', async () => {
      const m = manager();
      const base = uniquePath();
      paths.push({ manager: m, path: base });
      const a = await m.create(ctx, `${base}/a`);
      const b = await m.create(ctx, `${base}/b`);
      await a.destroy(ctx);
      expect(existsSync(join(layout!.v1.get('memory')!, base))).toBe(true);
      await b.destroy(ctx);
      expect(existsSync(join(layout!.v1.get('memory')!, base))).toBe(true); // b did not create it
    });

    it('refuses an existing cgroup and leaves it alone', async () => {
      const m = manager();
      const cg = await make(m);
      await expect(m.create(ctx, cg.path)).rejects.toMatchObject({
        code: 'ALREADY_EXISTS',
        message: expect.stringMatching(new RegExp(`^cgroup ${cg.path}: already exists`)),
      });
      for (const d of cg.dirs) expect(existsSync(d)).toBe(true);
    });

    it('joins an existing cgroup when asked, keeps it on a failed create and removes it once empty', async () => {
      const m = manager();
      const pre = await make(m);
      const cg = await m.create(ctx, pre.path, { pids: { limit: 33 } }, { joinExisting: true });
      expect(cg.dirs).toEqual(pre.dirs);
      await expect(m.create(ctx, pre.path, { cpu: { cpus: '4095' } }, { joinExisting: true })).rejects.toThrow(
        /cpuset\.cpus/,
      );
      for (const d of pre.dirs) expect(existsSync(d)).toBe(true);
      // a child cgroup (not the container's) keeps the joined leaf in place
      const child = await m.create(ctx, `${pre.path}/other`);
      await cg.destroy(ctx);
      for (const d of pre.dirs) expect(existsSync(d)).toBe(true);
      await child.destroy(ctx);
      await cg.destroy(ctx);
      for (const d of pre.dirs) expect(existsSync(d)).toBe(false);
    });

    it('names the cgroup and file on a bad value and removes what it made', async () => {
      const m = manager();
      const path = uniquePath();
      paths.push({ manager: m, path });
      const err = await m.create(ctx, path, { cpu: { cpus: '4095' } }).catch((e: unknown) => e);
      expect(isBerthError(err)).toBe(true);
      expect((err as Error).message).toMatch(new RegExp(`^cgroup ${path} cpuset.cpus: write 4095: E(INVAL|RANGE)`));
      for (const root of [...layout!.v1.values(), layout!.unified].filter((x): x is string => !!x))
        expect(existsSync(join(root, path))).toBe(false);
      await expect(m.open(ctx, path)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('keeps the parents of a keepParents cgroup, and walks the path again once they were removed', async () => {
      const m = manager();
      const prefix = uniquePath();
      paths.push({ manager: m, path: prefix });
      const roots = [...new Set([...layout!.v1.values(), layout!.unified])].filter((x): x is string => !!x);
      const first = await m.create(ctx, `${prefix}/p/one`, undefined, { keepParents: true });
      await first.destroy(ctx);
      for (const r of roots) {
        expect(existsSync(join(r, prefix, 'p', 'one'))).toBe(false);
        expect(existsSync(join(r, prefix, 'p'))).toBe(true);
      }
      // below a parent it set up: only the leaf is made, and it takes a process (a v1 cpuset filled from the parent)
      const second = await m.create(ctx, `${prefix}/p/two`, undefined, { keepParents: true });
      const child = sleeper();
      await second.attach(ctx, child.pid!);
      expect(await second.pids(ctx)).toEqual([child.pid]);
      await second.kill(ctx, 'SIGKILL');
      await exited(child);
      await second.destroy(ctx);
      // the parents removed by someone else: the next create makes them again
      await createCgroupManager().cleanupStale(ctx, prefix);
      const third = await m.create(ctx, `${prefix}/p/three`, undefined, { keepParents: true });
      for (const r of roots) expect(existsSync(join(r, prefix, 'p', 'three'))).toBe(true);
      const late = sleeper();
      await third.attach(ctx, late.pid!);
      expect(await third.pids(ctx)).toEqual([late.pid]);
      await third.kill(ctx, 'SIGKILL');
      await exited(late);
      await third.destroy(ctx);
      expect((await m.cleanupStale(ctx, prefix)).sort()).toEqual([prefix, `${prefix}/p`].sort());
    });

    it('cleans up stale cgroups under a prefix', async () => {
      const m = manager();
      const prefix = uniquePath();
      paths.push({ manager: m, path: prefix });
      await m.create(ctx, `${prefix}/one`);
      const two = await m.create(ctx, `${prefix}/two/inner`);
      const child = sleeper();
      await two.attach(ctx, child.pid!);
      const removed = await createCgroupManager().cleanupStale(ctx, prefix);
      expect(removed.sort()).toEqual([prefix, `${prefix}/one`, `${prefix}/two`, `${prefix}/two/inner`].sort());
      expect((await exited(child)).signal).toBe('SIGKILL');
      for (const root of [...layout!.v1.values(), layout!.unified].filter((x): x is string => !!x))
        expect(existsSync(join(root, prefix))).toBe(false);
      expect(await m.cleanupStale(ctx, prefix)).toEqual([]);
    });
  },
);

// The v2 backend against this host's cgroup2 hierarchy. On a hybrid host that hierarchy
// has no resource controllers, so only core features apply there (procs, freeze, kill, cpu.stat).
const unified = layout?.unified;
needs(root(), when(unified !== undefined, 'needs a cgroup2 mount')).describe('cgroup v2 backend', () => {
  const v2 = () => createCgroupManager({ layout: { mode: 'v2', v1: new Map(), unified: unified! } });
  const controllers = unified ? readFileSync(join(unified, 'cgroup.controllers'), 'utf8') : '';

  it('creates, attaches, freezes, kills and destroys', async () => {
    const m = v2();
    expect(m.mode).toBe('v2');
    const cg = await make(m);
    expect(cg.dirs).toEqual([join(unified!, cg.path)]);
    const child = sleeper();
    await cg.attach(ctx, child.pid!);
    expect(await cg.pids(ctx)).toEqual([child.pid]);
    await cg.freeze(ctx);
    expect(read(cg.dirs[0], 'cgroup.events')).toMatch(/frozen 1/);
    await cg.thaw(ctx);
    expect(read(cg.dirs[0], 'cgroup.events')).toMatch(/frozen 0/);
    expect((await cg.stats(ctx)).cpu?.usageNs).toBeGreaterThanOrEqual(0);
    expect(await cg.kill(ctx, 'SIGKILL')).toBe(1);
    expect((await exited(child)).signal).toBe('SIGKILL');
    await cg.destroy(ctx);
    expect(existsSync(cg.dirs[0])).toBe(false);
  });

  it('rejects device rules it cannot enforce', async () => {
    const cg = await make(v2());
    await expect(cg.apply(ctx, { devices: [{ allow: false, access: 'rwm' }] })).rejects.toMatchObject({
      code: 'NOT_IMPLEMENTED',
      message: expect.stringMatching(/linux\.resources\.devices/),
    });
  });

  needs(when(!/\bmemory\b/.test(controllers), 'needs a cgroup2 hierarchy without the memory controller')).it(
    'names the missing file when the memory controller is absent',
    async () => {
      const cg = await make(v2());
      await expect(cg.apply(ctx, { memory: { limit: 64 << 20 } })).rejects.toMatchObject({
        code: 'NOT_FOUND',
        message: expect.stringMatching(new RegExp(`^cgroup ${cg.path} memory.max: write 67108864: ENOENT`)),
      });
    },
  );

  it('nests cgroups, and cleanupStale kills what is inside and removes them all', async () => {
    const m = v2();
    const prefix = uniquePath();
    paths.push({ manager: m, path: prefix });
    await m.create(ctx, `${prefix}/one`);
    const inner = await m.create(ctx, `${prefix}/two/inner`);
    const child = sleeper();
    await inner.attach(ctx, child.pid!);
    expect(read(join(unified!, prefix, 'two', 'inner'), 'cgroup.procs')).toBe(String(child.pid));
    const removed = await v2().cleanupStale(ctx, prefix);
    expect(removed.sort()).toEqual([prefix, `${prefix}/one`, `${prefix}/two`, `${prefix}/two/inner`].sort());
    expect((await exited(child)).signal).toBe('SIGKILL');
    expect(existsSync(join(unified!, prefix))).toBe(false);
  });

  needs(when(/\bpids\b/.test(controllers), 'needs the pids controller in the cgroup2 hierarchy')).it(
    'stops forks beyond pids.max',
    async () => {
      const cg = await make(v2(), { pids: { limit: 3 } });
      expect(read(cg.dirs[0], 'pids.max')).toBe('3');
      const child = gated('for i in 1 2 3 4 5 6; do sleep 600 >/dev/null 2>&1 & done; exit 0');
      let stderr = '';
      child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      await cg.attach(ctx, child.pid!);
      const closed = new Promise((resolve) => child.once('close', resolve));
      child.stdin!.write('go\n');
      await closed;
      expect(stderr).toMatch(/fork|Resource temporarily unavailable/i);
      const stats = await cg.stats(ctx);
      expect(stats.pids?.current).toBeLessThanOrEqual(2);
      // kill() counts the processes it signalled: the sleeps the limit let through. It reads
      // cgroup.procs itself, so it is bounded like pids.current rather than compared with it
      // (a task still being released by the kernel is counted by one and not the other).
      const killed = await cg.kill(ctx, 'SIGKILL');
      expect(killed).toBeGreaterThanOrEqual(1);
      expect(killed).toBeLessThanOrEqual(2);
    },
  );

  needs(when(/\bmemory\b/.test(controllers), 'needs the memory controller in the cgroup2 hierarchy')).it(
    'OOM-kills a process beyond memory.max and counts it',
    async () => {
      const cg = await make(v2(), { memory: { limit: 32 << 20, swap: 32 << 20 } });
      const alloc = 'const a=[];for(;;)a.push(Buffer.alloc(1<<20,1))';
      const child = gated(`exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(alloc)}`);
      await cg.attach(ctx, child.pid!);
      child.stdin!.write('go\n');
      expect((await exited(child)).signal).toBe('SIGKILL');
      expect((await cg.stats(ctx)).memory?.oomKills).toBeGreaterThanOrEqual(1);
      expect(await cg.oomKills(ctx)).toBeGreaterThanOrEqual(1);
    },
  );

  needs(when(/\bmemory\b/.test(controllers), 'needs the memory controller in the cgroup2 hierarchy')).it(
    'writes memory.max and memory.swap.max',
    async () => {
      const cg = await make(v2(), {
        memory: { limit: 64 << 20, swap: 96 << 20 },
        cpu: { shares: 1024, quota: 50000, period: 100000 },
      });
      expect(read(cg.dirs[0], 'memory.max')).toBe(String(64 << 20));
      expect(read(cg.dirs[0], 'memory.swap.max')).toBe(String(32 << 20));
      expect(read(cg.dirs[0], 'cpu.weight')).toBe('39');
      expect(read(cg.dirs[0], 'cpu.max')).toBe('50000 100000');
    },
  );
});
