// The cgroup v2 backend: one directory in the unified hierarchy. Controllers must be
// enabled in every ancestor's cgroup.subtree_control before a child can use them.
// fs.promises, not node:fs/promises: loaded on first use, not at berth-runtime's start
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { deadlineExceeded, notImplemented } from '../../errdefs/errors.js';
import type { Context } from '../../trace/context.js';
import type { Resources } from '../spec/types.js';
import type { CgroupBackend, CgroupDirs } from './backend.js';
import { parseKeyed, readControl, readControlIfExists, writeControl } from './cgroup-fs.js';
import { limitV2, sharesToWeight, swapMaxV2 } from './convert.js';
import type { CgroupLayout } from './detect.js';
import type { CgroupStats } from './types.js';

/** Controllers berth enables for its cgroups when the parent offers them. */
export const V2_CONTROLLERS = ['cpu', 'cpuset', 'memory', 'pids'] as const;

export function createV2Backend(layout: CgroupLayout): CgroupBackend {
  if (layout.unified === undefined) throw notImplemented('cgroups: the host has no cgroup2 hierarchy');
  const roots = new Map([['unified', layout.unified]]);
  const leaf = (cg: CgroupDirs): string => cg.dirs.get('unified')!;

  async function applyMemory(cg: CgroupDirs, mem: NonNullable<Resources['memory']>): Promise<void> {
    const d = leaf(cg);
    if (mem.swap !== undefined && mem.limit === undefined) {
      throw notImplemented(
        `cgroup ${cg.path}: linux.resources.memory.swap needs memory.limit on cgroup v2 (memory.swap.max is swap alone)`,
      );
    }
    if (mem.limit !== undefined) await writeControl(cg.path, d, 'memory.max', limitV2(mem.limit));
    if (mem.swap !== undefined) await writeControl(cg.path, d, 'memory.swap.max', swapMaxV2(mem.limit, mem.swap));
    if (mem.reservation !== undefined) await writeControl(cg.path, d, 'memory.low', limitV2(mem.reservation));
  }

  async function applyCpu(cg: CgroupDirs, cpu: NonNullable<Resources['cpu']>): Promise<void> {
    const d = leaf(cg);
    if (cpu.shares !== undefined && cpu.shares > 0)
      await writeControl(cg.path, d, 'cpu.weight', sharesToWeight(cpu.shares));
    const quotaSet = cpu.quota !== undefined && cpu.quota !== 0;
    const periodSet = cpu.period !== undefined && cpu.period > 0;
    if (quotaSet || periodSet) {
      const [curQuota = 'max', curPeriod = '100000'] = (await readControl(cg.path, d, 'cpu.max')).split(/\s+/);
      const quota = quotaSet ? (cpu.quota! < 0 ? 'max' : String(cpu.quota)) : curQuota;
      const period = periodSet ? String(cpu.period) : curPeriod;
      await writeControl(cg.path, d, 'cpu.max', `${quota} ${period}`);
    }
    if (cpu.cpus !== undefined && cpu.cpus !== '') await writeControl(cg.path, d, 'cpuset.cpus', cpu.cpus);
    if (cpu.mems !== undefined && cpu.mems !== '') await writeControl(cg.path, d, 'cpuset.mems', cpu.mems);
  }

  async function waitEvents(cg: CgroupDirs, frozen: '0' | '1'): Promise<void> {
    const d = leaf(cg);
    await writeControl(cg.path, d, 'cgroup.freeze', frozen);
    for (let i = 0; i < 500; i++) {
      if (parseKeyed(await readControl(cg.path, d, 'cgroup.events')).get('frozen') === Number(frozen)) return;
      await sleep(Math.min(1 + i, 20));
    }
    throw deadlineExceeded(`cgroup ${cg.path} cgroup.events: not ${frozen === '1' ? 'frozen' : 'thawed'} in time`);
  }

  return {
    mode: 'v2',
    roots: () => roots,
    async beforeMkdir(_key, parent) {
      const offered = new Set(((await readControlIfExists(parent, parent, 'cgroup.controllers')) ?? '').split(/\s+/));
      const usable = V2_CONTROLLERS.filter((c) => offered.has(c));
      if (usable.length === 0) return;
      const enabled = new Set((await readControl(parent, parent, 'cgroup.subtree_control')).split(/\s+/));
      const want = usable.filter((c) => !enabled.has(c));
      if (want.length > 0)
        await writeControl(parent, parent, 'cgroup.subtree_control', want.map((c) => `+${c}`).join(' '));
    },
    async afterMkdir() {},
    async apply(ctx, cg, r) {
      if (r.blockIO)
        ctx.logger.warn(
          `cgroup ${cg.path}: linux.resources.blockIO not applied: berth does not write io.weight/io.max on cgroup v2`,
        );
      if (r.memory) {
        // no cgroup v2 file for either (runc and crun warn too)
        if (r.memory.swappiness !== undefined)
          ctx.logger.warn(
            `cgroup ${cg.path}: linux.resources.memory.swappiness not applied: cgroup v2 has no memory.swappiness`,
          );
        for (const field of ['kernel', 'kernelTCP'] as const) {
          if (r.memory[field] !== undefined)
            ctx.logger.warn(
              `cgroup ${cg.path}: linux.resources.memory.${field} not applied: cgroup v2 has no kernel memory limit`,
            );
        }
        if (r.memory.disableOOMKiller === true)
          ctx.logger.warn(
            `cgroup ${cg.path}: linux.resources.memory.disableOOMKiller not applied: cgroup v2 cannot disable the OOM killer`,
          );
        await applyMemory(cg, r.memory);
      }
      if (r.network && (r.network.classID !== undefined || (r.network.priorities ?? []).length > 0))
        ctx.logger.warn(
          `cgroup ${cg.path}: linux.resources.network not applied: net_cls and net_prio have no cgroup v2 counterpart`,
        );
      if (r.cpu) await applyCpu(cg, r.cpu);
      if (r.pids) await writeControl(cg.path, leaf(cg), 'pids.max', r.pids.limit > 0 ? r.pids.limit : 'max');
      if (r.devices && r.devices.length > 0) {
        throw notImplemented(
          `cgroup ${cg.path}: linux.resources.devices: device rules need an eBPF device program on cgroup v2, which berth does not load yet`,
        );
      }
    },
    async stats(_ctx, cg) {
      const d = leaf(cg);
      const out: CgroupStats = {};
      const current = await readControlIfExists(cg.path, d, 'memory.current');
      if (current !== undefined) {
        const events = parseKeyed((await readControlIfExists(cg.path, d, 'memory.events')) ?? '');
        const peak = await readControlIfExists(cg.path, d, 'memory.peak');
        const max = await readControl(cg.path, d, 'memory.max');
        out.memory = {
          usage: Number(current),
          maxUsage: Number(peak ?? current),
          ...(max === 'max' ? {} : { limit: Number(max) }),
          oomEvents: events.get('oom') ?? 0,
          oomKills: events.get('oom_kill') ?? 0,
        };
      }
      const cpu = await readControlIfExists(cg.path, d, 'cpu.stat');
      if (cpu !== undefined) out.cpu = { usageNs: (parseKeyed(cpu).get('usage_usec') ?? 0) * 1000 };
      const pids = await readControlIfExists(cg.path, d, 'pids.current');
      if (pids !== undefined) {
        const max = await readControl(cg.path, d, 'pids.max');
        out.pids = { current: Number(pids), ...(max === 'max' ? {} : { limit: Number(max) }) };
      }
      return out;
    },
    async oomKills(_ctx, cg) {
      return parseKeyed((await readControlIfExists(cg.path, leaf(cg), 'memory.events')) ?? '').get('oom_kill') ?? 0;
    },
    async freeze(_ctx, cg) {
      await waitEvents(cg, '1');
    },
    async thaw(_ctx, cg) {
      await waitEvents(cg, '0');
    },
    async killAll(_ctx, cg) {
      const d = leaf(cg);
      if (!(await exists(join(d, 'cgroup.kill')))) return false;
      await writeControl(cg.path, d, 'cgroup.kill', '1');
      return true;
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.access(path);
    return true;
  } catch {
    return false;
  }
}
