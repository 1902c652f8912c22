// The cgroup v1 backend (and hybrid: v1 controllers, plus a directory in the unified
// cgroup2 hierarchy that only tracks processes). One directory per controller, at
// <mount of controller>/<path>; co-mounted controllers share theirs.
import { setTimeout as sleep } from 'node:timers/promises';
import { deadlineExceeded, failedPrecondition, invalidArgument, wrap } from '../../errdefs/errors.js';
import type { Context } from '../../trace/context.js';
import type { Resources } from '../spec/types.js';
import type { CgroupBackend, CgroupDirs } from './backend.js';
import { parseKeyed, readControl, readControlIfExists, writeControl, writeControls } from './cgroup-fs.js';
import { DEFAULT_ALLOWED_DEVICES, deviceLine } from './convert.js';
import type { CgroupLayout } from './detect.js';
import type { CgroupStats } from './types.js';

/** Controllers every container cgroup is made in, when the host has them. */
export const V1_CONTROLLERS = [
  'pids',
  'memory',
  'cpu',
  'cpuacct',
  'cpuset',
  'devices',
  'freezer',
  'blkio',
  'net_cls',
  'net_prio',
] as const;

/** The key of the unified (cgroup2) hierarchy among a hybrid host's roots. */
export const UNIFIED_KEY = 'unified';

/** v1's "no limit" reads as a huge number (PAGE_COUNTER_MAX pages); anything above 2^62 is unlimited. */
const UNLIMITED_ABOVE = 2 ** 62;

export function createV1Backend(layout: CgroupLayout): CgroupBackend {
  const rootMap = new Map<string, string>();
  for (const c of V1_CONTROLLERS) {
    const mount = layout.v1.get(c);
    if (mount !== undefined) rootMap.set(c, mount);
  }
  if (layout.mode === 'hybrid' && layout.unified !== undefined) rootMap.set(UNIFIED_KEY, layout.unified);

  const dir = (cg: CgroupDirs, key: string): string | undefined => cg.dirs.get(key);
  const need = (cg: CgroupDirs, key: string, what: string): string => {
    const d = dir(cg, key);
    if (d === undefined)
      throw failedPrecondition(`cgroup ${cg.path}: ${what} needs the ${key} controller, which this host does not have`);
    return d;
  };

  async function applyMemory(ctx: Context, cg: CgroupDirs, mem: NonNullable<Resources['memory']>): Promise<void> {
    const oom = mem.disableOOMKiller === true;
    if (
      mem.limit === undefined &&
      mem.swap === undefined &&
      mem.reservation === undefined &&
      mem.swappiness === undefined &&
      mem.kernel === undefined &&
      mem.kernelTCP === undefined &&
      !oom
    )
      return;
    const d = need(cg, 'memory', 'linux.resources.memory');
    // Kernel memory first: old kernels refuse a kmem limit once the cgroup has tasks.
    if (mem.kernel !== undefined)
      await applyKernelMemory(ctx, cg, d, 'kernel', 'memory.kmem.limit_in_bytes', mem.kernel);
    if (mem.kernelTCP !== undefined)
      await applyKernelMemory(ctx, cg, d, 'kernelTCP', 'memory.kmem.tcp.limit_in_bytes', mem.kernelTCP);
    if (mem.swappiness !== undefined) {
      if (!Number.isInteger(mem.swappiness) || mem.swappiness < 0 || mem.swappiness > 100) {
        throw invalidArgument(
          `cgroup ${cg.path}: linux.resources.memory.swappiness: ${mem.swappiness} is not between 0 and 100`,
        );
      }
      await writeControl(cg.path, d, 'memory.swappiness', mem.swappiness);
    }
    if (oom) await writeControl(cg.path, d, 'memory.oom_control', 1);
    const memsw =
      mem.swap === undefined ? undefined : await readControlIfExists(cg.path, d, 'memory.memsw.limit_in_bytes');
    if (mem.swap !== undefined && memsw === undefined) {
      ctx.logger.warn(
        `cgroup ${cg.path}: memory.swap not applied: this host has no swap accounting (memory.memsw.limit_in_bytes)`,
      );
    }
    if (mem.swap !== undefined && memsw !== undefined) {
      // memsw must stay >= limit at every moment: raise memsw first, lower it last.
      const current = Number(memsw);
      const raising = mem.swap === -1 || mem.swap > current;
      if (raising) await writeControl(cg.path, d, 'memory.memsw.limit_in_bytes', mem.swap);
      if (mem.limit !== undefined) await writeControl(cg.path, d, 'memory.limit_in_bytes', mem.limit);
      if (!raising) await writeControl(cg.path, d, 'memory.memsw.limit_in_bytes', mem.swap);
    } else if (mem.limit !== undefined) {
      await writeControl(cg.path, d, 'memory.limit_in_bytes', mem.limit);
    }
    if (mem.reservation !== undefined) await writeControl(cg.path, d, 'memory.soft_limit_in_bytes', mem.reservation);
  }

  /**
   * memory.kernel / kernelTCP, as crun writes them: the file is written where this kernel
   * has it, and a warning names the field when it has not, or when the kernel took the
   * write without enforcing it (Linux deprecated kmem.limit_in_bytes: it keeps reading
   * unlimited).
   */
  async function applyKernelMemory(
    ctx: Context,
    cg: CgroupDirs,
    d: string,
    field: 'kernel' | 'kernelTCP',
    file: string,
    value: number,
  ): Promise<void> {
    if ((await readControlIfExists(cg.path, d, file)) === undefined) {
      ctx.logger.warn(`cgroup ${cg.path}: linux.resources.memory.${field} not applied: this kernel has no ${file}`);
      return;
    }
    await writeControl(cg.path, d, file, value);
    const now = Number(await readControl(cg.path, d, file));
    const unlimited = value < 0 || value >= UNLIMITED_ABOVE;
    if (unlimited ? now < UNLIMITED_ABOVE : now !== value) {
      ctx.logger.warn(
        `cgroup ${cg.path}: linux.resources.memory.${field} not enforced: this kernel accepts ${file} but reads ${now}`,
      );
    }
  }

  /**
   * linux.resources.network on net_cls (classID) and net_prio (one ifpriomap line per
   * interface). A controller this host does not mount is named in a warning and the
   * container goes on without it (net_cls and net_prio have no cgroup v2 counterpart).
   */
  async function applyNetwork(ctx: Context, cg: CgroupDirs, net: NonNullable<Resources['network']>): Promise<void> {
    if (net.classID !== undefined) {
      const d = dir(cg, 'net_cls');
      if (d === undefined)
        ctx.logger.warn(
          `cgroup ${cg.path}: linux.resources.network.classID not applied: this host has no net_cls controller`,
        );
      else await writeControl(cg.path, d, 'net_cls.classid', net.classID);
    }
    const priorities = net.priorities ?? [];
    if (priorities.length > 0) {
      const d = dir(cg, 'net_prio');
      if (d === undefined) {
        ctx.logger.warn(
          `cgroup ${cg.path}: linux.resources.network.priorities not applied: this host has no net_prio controller`,
        );
        return;
      }
      for (const p of priorities) {
        if (!/^[^\s/]{1,15}$/.test(p.name))
          throw invalidArgument(
            `cgroup ${cg.path}: linux.resources.network.priorities: ${JSON.stringify(p.name)} is not an interface name`,
          );
        await writeControl(cg.path, d, 'net_prio.ifpriomap', `${p.name} ${p.priority}`);
      }
    }
  }

  async function applyCpu(cg: CgroupDirs, cpu: NonNullable<Resources['cpu']>): Promise<void> {
    if (cpu.shares !== undefined && cpu.shares > 0)
      await writeControl(cg.path, need(cg, 'cpu', 'linux.resources.cpu.shares'), 'cpu.shares', cpu.shares);
    if ((cpu.period !== undefined && cpu.period > 0) || (cpu.quota !== undefined && cpu.quota !== 0)) {
      const d = need(cg, 'cpu', 'linux.resources.cpu.quota');
      const writePeriod = async () => {
        if (cpu.period !== undefined && cpu.period > 0) await writeControl(cg.path, d, 'cpu.cfs_period_us', cpu.period);
      };
      const writeQuota = async () => {
        if (cpu.quota !== undefined && cpu.quota !== 0) await writeControl(cg.path, d, 'cpu.cfs_quota_us', cpu.quota);
      };
      try {
        await writePeriod();
      } catch {
        // The kernel refuses a period that makes the current quota invalid: quota first then.
        await writeQuota();
        await writePeriod();
        return;
      }
      await writeQuota();
    }
    if (cpu.cpus !== undefined && cpu.cpus !== '')
      await writeControl(cg.path, need(cg, 'cpuset', 'linux.resources.cpu.cpus'), 'cpuset.cpus', cpu.cpus);
    if (cpu.mems !== undefined && cpu.mems !== '')
      await writeControl(cg.path, need(cg, 'cpuset', 'linux.resources.cpu.mems'), 'cpuset.mems', cpu.mems);
  }

  /**
   * linux.resources.blockIO on the blkio controller: each setting whose file this
   * kernel has is written (throttles as "major:minor rate" lines); the others are
   * named in a warning, as runc and crun go on without them (no CFQ/BFQ weights here).
   */
  async function applyBlockIO(ctx: Context, cg: CgroupDirs, io: NonNullable<Resources['blockIO']>): Promise<void> {
    const d = dir(cg, 'blkio');
    if (d === undefined) {
      ctx.logger.warn(`cgroup ${cg.path}: linux.resources.blockIO not applied: this host has no blkio controller`);
      return;
    }
    const write = async (field: string, file: string, lines: string[]) => {
      if (lines.length === 0) return;
      if ((await readControlIfExists(cg.path, d, file)) === undefined) {
        ctx.logger.warn(`cgroup ${cg.path}: linux.resources.blockIO.${field} not applied: this kernel has no ${file}`);
        return;
      }
      for (const line of lines) await writeControl(cg.path, d, file, line);
    };
    const one = (v: number | undefined) => (v === undefined || v === 0 ? [] : [String(v)]);
    await write('weight', 'blkio.weight', one(io.weight));
    await write('leafWeight', 'blkio.leaf_weight', one(io.leafWeight));
    const devices = io.weightDevice ?? [];
    await write(
      'weightDevice',
      'blkio.weight_device',
      devices.filter((w) => w.weight !== undefined).map((w) => `${w.major}:${w.minor} ${w.weight}`),
    );
    await write(
      'weightDevice',
      'blkio.leaf_weight_device',
      devices.filter((w) => w.leafWeight !== undefined).map((w) => `${w.major}:${w.minor} ${w.leafWeight}`),
    );
    const throttles = [
      ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
      ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
      ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
      ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
    ] as const;
    for (const [field, file] of throttles)
      await write(
        field,
        file,
        (io[field] ?? []).map((t) => `${t.major}:${t.minor} ${t.rate}`),
      );
  }

  async function waitFreezer(cg: CgroupDirs, d: string, want: 'FROZEN' | 'THAWED'): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      await writeControl(cg.path, d, 'freezer.state', want);
      if ((await readControl(cg.path, d, 'freezer.state')) === want) return;
      await sleep(Math.min(1 + i, 20));
    }
    throw deadlineExceeded(`cgroup ${cg.path} freezer.state: still not ${want}`);
  }

  return {
    mode: layout.mode,
    roots: () => rootMap,
    async beforeMkdir() {},
    async afterMkdir(key, d, parent) {
      if (key !== 'cpuset') return;
      // A new cpuset starts with no cpus and mems and accepts no process until they are set (ENOSPC). The manager
      // calls this for levels it finds too, top down, so a parent another engine made but had not filled yet is
      // filled from its own parent before this level copies it.
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        if ((await readControl(d, d, file)) === '')
          await writeControl(d, d, file, await readControl(parent, parent, file));
      }
    },
    async apply(ctx, cg, r) {
      if (r.memory) await applyMemory(ctx, cg, r.memory);
      if (r.cpu) await applyCpu(cg, r.cpu);
      if (r.pids)
        await writeControl(
          cg.path,
          need(cg, 'pids', 'linux.resources.pids'),
          'pids.max',
          r.pids.limit > 0 ? r.pids.limit : 'max',
        );
      if (r.blockIO) await applyBlockIO(ctx, cg, r.blockIO);
      if (r.network) await applyNetwork(ctx, cg, r.network);
      if (r.devices) {
        const d = need(cg, 'devices', 'linux.resources.devices');
        await writeControls(
          cg.path,
          d,
          [...r.devices, ...DEFAULT_ALLOWED_DEVICES].map((rule) => [
            rule.allow ? 'devices.allow' : 'devices.deny',
            deviceLine(rule),
          ]),
        );
      }
    },
    async stats(_ctx, cg) {
      const out: CgroupStats = {};
      const mem = dir(cg, 'memory');
      if (mem !== undefined) {
        const oom = parseKeyed((await readControlIfExists(cg.path, mem, 'memory.oom_control')) ?? '');
        const limit = Number(await readControl(cg.path, mem, 'memory.limit_in_bytes'));
        const kills = oom.get('oom_kill') ?? 0;
        out.memory = {
          usage: Number(await readControl(cg.path, mem, 'memory.usage_in_bytes')),
          maxUsage: Number(await readControl(cg.path, mem, 'memory.max_usage_in_bytes')),
          ...(limit < UNLIMITED_ABOVE ? { limit } : {}),
          oomEvents: kills,
          oomKills: kills,
        };
      }
      const acct = dir(cg, 'cpuacct');
      if (acct !== undefined) out.cpu = { usageNs: Number(await readControl(cg.path, acct, 'cpuacct.usage')) };
      const pids = dir(cg, 'pids');
      if (pids !== undefined) {
        const max = await readControl(cg.path, pids, 'pids.max');
        out.pids = {
          current: Number(await readControl(cg.path, pids, 'pids.current')),
          ...(max === 'max' ? {} : { limit: Number(max) }),
        };
      }
      return out;
    },
    async oomKills(_ctx, cg) {
      const mem = dir(cg, 'memory');
      if (mem === undefined) return 0;
      return parseKeyed((await readControlIfExists(cg.path, mem, 'memory.oom_control')) ?? '').get('oom_kill') ?? 0;
    },
    ...(rootMap.has('freezer')
      ? {
          async freeze(_ctx: Context, cg: CgroupDirs) {
            await waitFreezer(cg, need(cg, 'freezer', 'freeze'), 'FROZEN');
          },
          async thaw(_ctx: Context, cg: CgroupDirs) {
            try {
              await waitFreezer(cg, need(cg, 'freezer', 'thaw'), 'THAWED');
            } catch (err) {
              throw wrap(err, `cgroup ${cg.path}: thaw`);
            }
          },
        }
      : {}),
  };
}
