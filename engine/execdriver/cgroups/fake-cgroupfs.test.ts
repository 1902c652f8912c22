// The backends against a fake cgroupfs in a temp directory, for layouts this host does
// not have: v2 with resource controllers, v1 with co-mounted controllers.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { background, withLogger } from '../../trace/context.js';
import { createCgroupManager } from './manager.js';

// mkdirSync, with hooks a test sets to act (as another engine, or the kernel, would) around one mkdir
const mkdirHook = vi.hoisted(() => ({
  before: undefined as ((path: string) => void) | undefined,
  after: undefined as ((path: string) => void) | undefined,
}));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const mkdirSync = ((path: string, ...rest: unknown[]) => {
    mkdirHook.before?.(String(path));
    const made = (fs.mkdirSync as (...a: unknown[]) => unknown)(path, ...rest);
    mkdirHook.after?.(String(path));
    return made;
  }) as typeof fs.mkdirSync;
  return { ...fs, mkdirSync, default: { ...fs, mkdirSync } };
});

const ctx = background();
let root: string;

function files(dir: string, entries: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, value] of Object.entries(entries)) writeFileSync(join(dir, name), value);
}

const manager = () => createCgroupManager({ layout: { mode: 'v2', v1: new Map(), unified: root } });

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), `berth-fake-cgroup2-${process.pid}-`));
  files(root, { 'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n', 'cgroup.subtree_control': '' });
});
afterEach(() => {
  mkdirHook.before = undefined;
  mkdirHook.after = undefined;
  rmSync(root, { recursive: true, force: true });
});

describe('cgroup v2 backend (fake cgroupfs)', () => {
  it('enables the controllers berth uses in the parent before making a child', async () => {
    const cg = await manager().create(ctx, 'ctr');
    expect(readFileSync(join(root, 'cgroup.subtree_control'), 'utf8')).toBe('+cpu +cpuset +memory +pids');
    expect(cg.dirs).toEqual([join(root, 'ctr')]);
  });

  it('converts spec resources into v2 files', async () => {
    const leaf = join(root, 'leaf');
    files(leaf, {
      'memory.max': 'max',
      'memory.swap.max': 'max',
      'memory.low': '0',
      'cpu.weight': '100',
      'cpu.max': 'max 100000',
      'cpuset.cpus': '',
      'cpuset.mems': '',
      'pids.max': 'max',
    });
    const cg = await manager().open(ctx, 'leaf');
    await cg.apply(ctx, {
      memory: { limit: 64 << 20, swap: 96 << 20, reservation: 16 << 20 },
      cpu: { shares: 512, quota: 25000, cpus: '0-1', mems: '0' },
      pids: { limit: 42 },
    });
    const read = (f: string) => readFileSync(join(leaf, f), 'utf8');
    expect(read('memory.max')).toBe(String(64 << 20));
    expect(read('memory.swap.max')).toBe(String(32 << 20));
    expect(read('memory.low')).toBe(String(16 << 20));
    expect(read('cpu.weight')).toBe('20');
    expect(read('cpu.max')).toBe('25000 100000');
    expect(read('cpuset.cpus')).toBe('0-1');
    expect(read('pids.max')).toBe('42');

    await cg.apply(ctx, { memory: { limit: -1, swap: -1 }, cpu: { period: 50000 }, pids: { limit: 0 } });
    expect(read('memory.max')).toBe('max');
    expect(read('memory.swap.max')).toBe('max');
    expect(read('cpu.max')).toBe('25000 50000');
    expect(read('pids.max')).toBe('max');

    await expect(cg.apply(ctx, { memory: { swap: 1 << 30 } })).rejects.toMatchObject({
      code: 'NOT_IMPLEMENTED',
      message: /^cgroup leaf: linux\.resources\.memory\.swap needs memory\.limit/,
    });
  });

  it('warns about swappiness and disableOOMKiller, which v2 has no file for', async () => {
    const leaf = join(root, 'leaf');
    files(leaf, { 'memory.max': 'max' });
    const warnings: string[] = [];
    const logger = { ...ctx.logger, warn: (msg: string) => void warnings.push(msg) };
    await (
      await manager().open(ctx, 'leaf')
    ).apply(withLogger(ctx, logger as typeof ctx.logger), {
      memory: { limit: 1 << 20, swappiness: 10, disableOOMKiller: true },
    });
    expect(readFileSync(join(leaf, 'memory.max'), 'utf8')).toBe(String(1 << 20));
    expect(warnings).toEqual([
      expect.stringMatching(/memory\.swappiness not applied/),
      expect.stringMatching(/disableOOMKiller not applied/),
    ]);
  });

  it('reads stats from v2 files', async () => {
    const leaf = join(root, 'leaf');
    files(leaf, {
      'memory.current': '1048576\n',
      'memory.peak': '2097152\n',
      'memory.max': '4194304\n',
      'memory.events': 'low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\n',
      'cpu.stat': 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n',
      'pids.current': '4\n',
      'pids.max': 'max\n',
    });
    const cg = await manager().open(ctx, 'leaf');
    const stats = await cg.stats(ctx);
    expect(stats).toEqual({
      memory: { usage: 1048576, maxUsage: 2097152, limit: 4194304, oomEvents: 3, oomKills: 2 },
      cpu: { usageNs: 1_500_000 },
      pids: { current: 4 },
    });
    // the exit handling's one-file read agrees
    expect(await cg.oomKills(ctx)).toBe(2);
  });
});

describe('cgroup v1 memory (fake cgroupfs)', () => {
  it('writes memory.swappiness and memory.oom_control, and refuses a swappiness above 100', async () => {
    const mem = join(root, 'memory');
    files(join(mem, 'c'), {
      'memory.swappiness': '60',
      'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\n',
      'memory.limit_in_bytes': '0',
    });
    const cg = await createCgroupManager({
      layout: { mode: 'v1', v1: new Map([['memory', mem]]), unified: undefined },
    }).open(ctx, 'c');
    await cg.apply(ctx, { memory: { swappiness: 10, disableOOMKiller: true } });
    expect(readFileSync(join(mem, 'c/memory.swappiness'), 'utf8')).toBe('10');
    expect(readFileSync(join(mem, 'c/memory.oom_control'), 'utf8')).toBe('1');
    await expect(cg.apply(ctx, { memory: { swappiness: 101 } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: /^cgroup c: linux\.resources\.memory\.swappiness: 101 is not between 0 and 100/,
    });
    await cg.apply(ctx, { memory: { swappiness: 0, disableOOMKiller: false } });
    expect(readFileSync(join(mem, 'c/memory.swappiness'), 'utf8')).toBe('0');
    expect(readFileSync(join(mem, 'c/memory.oom_control'), 'utf8')).toBe('1'); // false leaves the file alone
  });
});

describe('cgroup v1 kernel memory and network (fake cgroupfs)', () => {
  const capture = () => {
    const warnings: string[] = [];
    const logger = { ...ctx.logger, warn: (msg: string) => void warnings.push(msg) };
    return { warnings, wctx: withLogger(ctx, logger as typeof ctx.logger) };
  };

  it('writes kmem and kmem.tcp limits, and warns when the kernel lacks the file', async () => {
    const mem = join(root, 'memory');
    files(join(mem, 'c'), {
      'memory.limit_in_bytes': '9223372036854771712',
      'memory.kmem.limit_in_bytes': '9223372036854771712',
      'memory.kmem.tcp.limit_in_bytes': '9223372036854771712',
    });
    const cg = await createCgroupManager({
      layout: { mode: 'v1', v1: new Map([['memory', mem]]), unified: undefined },
    }).open(ctx, 'c');
    const { warnings, wctx } = capture();
    await cg.apply(wctx, { memory: { kernel: 50593792, kernelTCP: 50593792 } });
    expect(readFileSync(join(mem, 'c/memory.kmem.limit_in_bytes'), 'utf8')).toBe('50593792');
    expect(readFileSync(join(mem, 'c/memory.kmem.tcp.limit_in_bytes'), 'utf8')).toBe('50593792');
    expect(warnings).toEqual([]);

    rmSync(join(mem, 'c/memory.kmem.tcp.limit_in_bytes'));
    await cg.apply(wctx, { memory: { kernelTCP: 1 << 20 } });
    expect(warnings).toEqual([
      'cgroup c: linux.resources.memory.kernelTCP not applied: this kernel has no memory.kmem.tcp.limit_in_bytes',
    ]);
    expect(existsSync(join(mem, 'c/memory.kmem.tcp.limit_in_bytes'))).toBe(false);
  });

  it('writes net_cls.classid and one net_prio.ifpriomap line per interface', async () => {
    const cls = join(root, 'net_cls');
    const prio = join(root, 'net_prio');
    files(join(cls, 'c'), { 'net_cls.classid': '0' });
    files(join(prio, 'c'), { 'net_prio.ifpriomap': 'lo 0\n' });
    const v1 = new Map([
      ['net_cls', cls],
      ['net_prio', prio],
    ]);
    const cg = await createCgroupManager({ layout: { mode: 'v1', v1, unified: undefined } }).open(ctx, 'c');
    const { warnings, wctx } = capture();
    await cg.apply(wctx, { network: { classID: 0x100001, priorities: [{ name: 'lo', priority: 30 }] } });
    expect(readFileSync(join(cls, 'c/net_cls.classid'), 'utf8')).toBe(String(0x100001));
    // the fake file keeps the last write; the kernel merges each line into its map
    expect(readFileSync(join(prio, 'c/net_prio.ifpriomap'), 'utf8')).toBe('lo 30');
    expect(warnings).toEqual([]);
    await expect(
      cg.apply(wctx, { network: { priorities: [{ name: 'eth0 1\nlo', priority: 1 }] } }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: /network\.priorities: .* is not an interface name/ });
  });

  it('makes the container a net_cls and net_prio cgroup only where the host mounts them, and warns otherwise', async () => {
    mkdirSync(join(root, 'pids'));
    const cg = await createCgroupManager({
      layout: { mode: 'v1', v1: new Map([['pids', join(root, 'pids')]]), unified: undefined },
    }).create(ctx, 'berth/n');
    expect(cg.dirs).toEqual([join(root, 'pids/berth/n')]);
    const { warnings, wctx } = capture();
    await cg.apply(wctx, { network: { classID: 1, priorities: [{ name: 'lo', priority: 1 }] } });
    expect(warnings).toEqual([
      'cgroup berth/n: linux.resources.network.classID not applied: this host has no net_cls controller',
      'cgroup berth/n: linux.resources.network.priorities not applied: this host has no net_prio controller',
    ]);
    await cg.destroy(ctx);

    mkdirSync(join(root, 'net_cls,net_prio'));
    const shared = join(root, 'net_cls,net_prio');
    const both = await createCgroupManager({
      layout: {
        mode: 'v1',
        v1: new Map([
          ['net_cls', shared],
          ['net_prio', shared],
        ]),
        unified: undefined,
      },
    }).create(ctx, 'berth/m');
    expect(both.dirs).toEqual([join(shared, 'berth/m')]);
    await both.destroy(ctx);
  });

  it('warns on cgroup v2, which has no kernel memory or network controllers', async () => {
    const leaf = join(root, 'leaf');
    files(leaf, { 'memory.max': 'max' });
    const { warnings, wctx } = capture();
    await (await manager().open(ctx, 'leaf')).apply(wctx, { memory: { kernelTCP: 1 << 20 }, network: { classID: 1 } });
    expect(warnings).toEqual([
      expect.stringMatching(/memory\.kernelTCP not applied: cgroup v2 has no kernel memory limit/),
      expect.stringMatching(/network not applied: net_cls and net_prio have no cgroup v2 counterpart/),
    ]);
  });
});

describe('cgroup v1 with co-mounted controllers (fake cgroupfs)', () => {
  it('makes one directory for cpu and cpuacct mounted together', async () => {
    const shared = join(root, 'cpu,cpuacct');
    mkdirSync(shared);
    mkdirSync(join(root, 'pids'));
    const v1 = new Map([
      ['cpu', shared],
      ['cpuacct', shared],
      ['pids', join(root, 'pids')],
    ]);
    const cg = await createCgroupManager({ layout: { mode: 'v1', v1, unified: undefined } }).create(ctx, 'berth/x');
    expect([...cg.dirs].sort()).toEqual([join(shared, 'berth/x'), join(root, 'pids/berth/x')]);
    await cg.destroy(ctx);
    for (const d of cg.dirs) expect(existsSync(d)).toBe(false);
    expect(existsSync(join(shared, 'berth'))).toBe(false);
  });
});

describe('a v1 cpuset parent made by a concurrent create', () => {
  it('sets cpus and mems of the parent before making the child, when its maker has not yet', async () => {
    const cpuset = join(root, 'cpuset');
    files(cpuset, { 'cpuset.cpus': '0-1', 'cpuset.mems': '0' });
    // the other create's mkdir of the parent, just done: the kernel's files, empty until it fills them
    files(join(cpuset, 'berth'), { 'cpuset.cpus': '', 'cpuset.mems': '' });
    // as the kernel does at mkdir: a new cpuset's files, empty
    mkdirHook.after = (path) => {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(path, f), '');
    };
    const m = createCgroupManager({ layout: { mode: 'v1', v1: new Map([['cpuset', cpuset]]), unified: undefined } });
    const cg = await m.create(ctx, 'berth/x');
    for (const d of [join(cpuset, 'berth'), join(cpuset, 'berth/x')]) {
      expect(readFileSync(join(d, 'cpuset.cpus'), 'utf8')).toBe('0-1');
      expect(readFileSync(join(d, 'cpuset.mems'), 'utf8')).toBe('0');
    }
    mkdirHook.after = undefined;
    await cg.destroy(ctx).catch(() => undefined);
  });
});

describe('a shared parent removed by another engine', () => {
  it('walks again from the root when the parent vanishes between finding it and the mkdir below it', async () => {
    const pids = join(root, 'pids');
    mkdirSync(join(pids, 'berth'), { recursive: true }); // made by another engine, empty for now
    let removed = 0;
    mkdirHook.before = (path) => {
      // the other engine's last container goes: it removes the empty parent at the worst moment
      if (path === join(pids, 'berth/x') && removed++ === 0) rmSync(join(pids, 'berth'), { recursive: true });
    };
    const m = createCgroupManager({ layout: { mode: 'v1', v1: new Map([['pids', pids]]), unified: undefined } });
    const cg = await m.create(ctx, 'berth/x');
    expect(removed).toBe(2);
    expect(cg.dirs).toEqual([join(pids, 'berth/x')]);
    await cg.destroy(ctx);
    expect(existsSync(join(pids, 'berth'))).toBe(false); // made by this create: removed with it
  });

  it('gives up with the mkdir error when the parent keeps vanishing', async () => {
    const pids = join(root, 'pids');
    mkdirSync(pids);
    mkdirHook.before = (path) => {
      if (path === join(pids, 'berth/x')) rmSync(join(pids, 'berth'), { recursive: true, force: true });
    };
    const m = createCgroupManager({ layout: { mode: 'v1', v1: new Map([['pids', pids]]), unified: undefined } });
    await expect(m.create(ctx, 'berth/x')).rejects.toThrow(/^cgroup berth\/x: mkdir .*pids\/berth\/x: ENOENT/);
    expect(existsSync(join(pids, 'berth'))).toBe(false);
  });
});
