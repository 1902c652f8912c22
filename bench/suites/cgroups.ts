// The `cgroups` suite: what berth's cgroup manager pays to create a container's cgroup,
// move a process in, write a typical set of limits and remove it, per backend (v1, the
// v2 hierarchy of a hybrid host, pure v2) and per controller set.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isBerthError } from '../../engine/errdefs/errors.js';
import {
  createCgroupManager,
  detectLayout,
  type Cgroup,
  type CgroupLayout,
  type CgroupManager,
} from '../../engine/execdriver/cgroups/index.js';
import { V1_CONTROLLERS } from '../../engine/execdriver/cgroups/v1.js';
import { V2_CONTROLLERS } from '../../engine/execdriver/cgroups/v2.js';
import type { Resources } from '../../engine/execdriver/spec/types.js';
import type { Context } from '../../engine/trace/index.js';
import type { CaseDef, MacroCase, Suite, SuiteContext } from '../suite.js';

const SUITE = 'cgroups';

/**
 * v1: v1 hierarchies only; v2-hybrid: the cgroup2 mount beside v1 (/sys/fs/cgroup/unified); v2: a pure cgroup2 host.
 */
export type BackendName = 'v1' | 'v2-hybrid' | 'v2';

/** Controller sets measured on v1; on v2 the manager enables every controller it knows that the root offers. */
export const controllerSets: Record<string, readonly string[]> = {
  pids: ['pids'],
  'memory+cpu+pids': ['memory', 'cpu', 'pids'],
  full: V1_CONTROLLERS,
};

export type Operation = 'create' | 'attach' | 'apply' | 'destroy';
const operations: readonly Operation[] = ['create', 'attach', 'apply', 'destroy'];

/** One backend × controller set this host can measure. */
export interface CgroupVariant {
  backend: BackendName;
  /** Set name (v1) or the enabled controllers joined by + (v2; `none` when the root offers none). */
  controllers: string;
  layout: CgroupLayout;
  /** What apply() writes; undefined when the set has no controller to limit. */
  resources: Resources | undefined;
}

/**
 * A typical `docker run -m 512m --cpus 1.5 --cpu-shares 512 --pids-limit 1024`, limited to what the controllers can
 * enforce.
 */
export function typicalResources(controllers: readonly string[], backend: BackendName): Resources | undefined {
  const r: Resources = {};
  if (controllers.includes('memory')) r.memory = { limit: 512 * 1024 * 1024, reservation: 256 * 1024 * 1024 };
  if (controllers.includes('cpu')) r.cpu = { shares: 512, quota: 150_000, period: 100_000 };
  if (controllers.includes('pids')) r.pids = { limit: 1024 };
  // Docker's device policy: deny everything, then the default allow list (the v1 backend adds it).
  if (controllers.includes('devices') && backend === 'v1') r.devices = [{ allow: false, access: 'rwm' }];
  return Object.keys(r).length === 0 ? undefined : r;
}

function hostLayout(): CgroupLayout | undefined {
  try {
    return detectLayout();
  } catch {
    return undefined;
  }
}

/** Controllers a cgroup2 root offers to its children (cgroup.controllers). */
function offeredV2(root: string): string[] {
  try {
    return readFileSync(join(root, 'cgroup.controllers'), 'utf8')
      .trim()
      .split(/\s+/)
      .filter((c) => c !== '');
  } catch {
    return [];
  }
}

/**
 * The variants a host with this layout (undefined: no cgroup mounted) can measure;
 * `skip` gets one line per backend or set left out, with the reason.
 */
export function variantsFor(layout: CgroupLayout | undefined, skip: (message: string) => void): CgroupVariant[] {
  const out: CgroupVariant[] = [];
  if (layout === undefined) {
    skip('no cgroup filesystem is mounted: every backend left out');
    return out;
  }
  if (layout.v1.size === 0) skip('backend v1 left out: this host has no cgroup v1 hierarchy');
  else {
    for (const [name, controllers] of Object.entries(controllerSets)) {
      const missing = controllers.filter((c) => !layout.v1.has(c));
      if (name !== 'full' && missing.length > 0) {
        skip(`backend v1, controllers ${name} left out: no ${missing.join(', ')} hierarchy on this host`);
        continue;
      }
      const present = controllers.filter((c) => layout.v1.has(c));
      // Co-mounted controllers (cpu,cpuacct) share one directory: keep the first of each mount.
      const v1 = new Map<string, string>();
      const mounts = new Set<string>();
      for (const c of present) {
        const mount = layout.v1.get(c)!;
        if (mounts.has(mount)) continue;
        mounts.add(mount);
        v1.set(c, mount);
      }
      out.push({
        backend: 'v1',
        controllers: name,
        layout: { mode: 'v1', v1, unified: undefined },
        resources: typicalResources(present, 'v1'),
      });
    }
  }
  const v2Backend: BackendName = layout.mode === 'v2' ? 'v2' : 'v2-hybrid';
  if (layout.unified === undefined) skip('backends v2-hybrid and v2 left out: this host has no cgroup2 mount');
  else {
    const enabled = V2_CONTROLLERS.filter((c) => offeredV2(layout.unified!).includes(c));
    out.push({
      backend: v2Backend,
      controllers: enabled.length === 0 ? 'none' : enabled.join('+'),
      layout: { mode: 'v2', v1: new Map(), unified: layout.unified },
      resources: typicalResources(enabled, v2Backend),
    });
  }
  if (layout.mode !== 'v2') skip('backend v2 (pure cgroup2 host) left out: this host is not a pure cgroup v2 host');
  else if (layout.unified !== undefined) skip('backend v2-hybrid left out: this host is a pure cgroup v2 host');
  return out;
}

let serial = 0;

/** A cgroup path no other run or process uses. */
function uniquePath(): string {
  return `berth-bench-${process.pid}-${serial++}`;
}

/** A `sleep` this case started; killed by its pid. */
function startSleeper(): ChildProcess {
  return spawn('sleep', ['300'], { stdio: 'ignore' });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function spawned(child: ChildProcess): Promise<number> {
  if (child.pid !== undefined) return child.pid;
  return new Promise((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid!));
    child.once('error', reject);
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await exited(child);
}

/** Everything one case made: cgroup paths and sleeps, removed after each sample and again at teardown. */
class Leftovers {
  readonly paths = new Set<string>();
  readonly sleepers = new Set<ChildProcess>();

  constructor(private readonly manager: CgroupManager) {}

  async create(ctx: Context): Promise<Cgroup> {
    const path = uniquePath();
    this.paths.add(path);
    return this.manager.create(ctx, path);
  }

  async sleeper(): Promise<number> {
    const child = startSleeper();
    this.sleepers.add(child);
    return spawned(child);
  }

  /** Kills the sleeps, then destroys every cgroup left (a missing one is fine). */
  async clean(ctx: Context): Promise<void> {
    for (const child of [...this.sleepers]) {
      await stop(child);
      this.sleepers.delete(child);
    }
    for (const path of [...this.paths]) {
      try {
        const cg = await this.manager.open(ctx, path);
        await cg.kill(ctx, 'SIGKILL');
        await cg.destroy(ctx);
      } catch (err) {
        if (!isBerthError(err, 'NOT_FOUND')) throw err;
      }
      this.paths.delete(path);
    }
  }
}

const methodOf: Record<Operation, string> = {
  create:
    'CgroupManager.create() of a new cgroup (mkdir in every hierarchy of the backend, v1 cpuset cpus/mems copied, v2 controllers enabled in the parent); destroy() after, untimed.',
  attach:
    'Cgroup.attach() of a running `sleep` (its pid written to cgroup.procs of every hierarchy); the cgroup and the sleep are made before and removed after, untimed.',
  apply: 'Cgroup.apply() of a typical resource set on a fresh empty cgroup; made before and destroyed after, untimed.',
  destroy:
    'Cgroup.destroy() of a cgroup whose only process (a `sleep`, attached, then killed and reaped before the timing starts) has left: rmdir of every directory, retrying EBUSY.',
};

function resourceText(r: Resources | undefined): string {
  if (r === undefined) return 'nothing';
  const parts: string[] = [];
  if (r.memory)
    parts.push(`memory limit ${r.memory.limit! / 2 ** 20} MiB, reservation ${r.memory.reservation! / 2 ** 20} MiB`);
  if (r.cpu) parts.push(`cpu shares ${r.cpu.shares}, quota ${r.cpu.quota}/${r.cpu.period} µs`);
  if (r.pids) parts.push(`pids limit ${r.pids.limit}`);
  if (r.devices) parts.push('devices: deny all, then the default allow list');
  return parts.join('; ');
}

function operationCase(v: CgroupVariant, op: Operation): MacroCase {
  const manager = createCgroupManager({ layout: v.layout });
  const left = new Leftovers(manager);
  let cg: Cgroup | undefined;
  let victim: ChildProcess | undefined;
  const hierarchies = [...v.layout.v1.values(), ...(v.layout.unified !== undefined ? [v.layout.unified] : [])];
  return {
    kind: 'macro',
    suite: SUITE,
    case: op,
    target: 'berth',
    parameters: { backend: v.backend, controllers: v.controllers },
    unit: 'us',
    direction: 'lower-is-better',
    method:
      `One sample: ${methodOf[op]}${op === 'apply' ? ` Resources: ${resourceText(v.resources)}.` : ''} ` +
      `Hierarchies: ${hierarchies.join(', ')}. Cgroups are berth-bench-<pid>-<n> directly under each hierarchy's root.`,
    notes:
      v.backend === 'v1' && v.controllers === 'full'
        ? [
            `"full" is every v1 controller berth's manager uses that this host has (${[...v.layout.v1.keys()].join(', ')}); Docker also joins blkio, net_cls, perf_event and hugetlb, which berth does not.`,
          ]
        : v.backend !== 'v1'
          ? [
              "On cgroup v2 the manager enables every controller it knows (cpu, cpuset, memory, pids) that the root offers, so the set is the host's, not chosen.",
            ]
          : [],
    group: op,
    beforeSample: async (ctx) => {
      if (op === 'create') return;
      cg = await left.create(ctx);
      if (op === 'attach' || op === 'destroy') {
        const pid = await left.sleeper();
        victim = [...left.sleepers].find((c) => c.pid === pid);
        if (op === 'destroy') {
          await cg.attach(ctx, pid);
          await stop(victim!);
          left.sleepers.delete(victim!);
        }
      }
    },
    sample: async (ctx) => {
      if (op === 'create') cg = await left.create(ctx);
      else if (op === 'attach') await cg!.attach(ctx, victim!.pid!);
      else if (op === 'apply') await cg!.apply(ctx, v.resources!);
      else await cg!.destroy(ctx);
    },
    afterSample: async (ctx) => {
      cg = undefined;
      victim = undefined;
      await left.clean(ctx);
    },
    teardown: async (ctx) => {
      await left.clean(ctx);
    },
  };
}

function buildCases(ctx: SuiteContext): CaseDef[] {
  const cases: CaseDef[] = [];
  const variants = variantsFor(hostLayout(), (m) => ctx.warn(m));
  for (const op of operations) {
    for (const v of variants) {
      if (op === 'apply' && v.resources === undefined) {
        ctx.warn(
          `apply on backend ${v.backend}, controllers ${v.controllers} left out: no controller to write limits to`,
        );
        continue;
      }
      cases.push(operationCase(v, op));
    }
  }
  return cases;
}

/** Why the suite cannot run here, or undefined. */
async function requirements(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (creates cgroups)';
  if (hostLayout() === undefined) return 'no cgroup filesystem is mounted on this host';
  return undefined;
}

export const cgroupsSuite: Suite = {
  name: SUITE,
  description: 'cgroup create, attach, limit writes and destroy per backend (v1, v2) and controller set',
  targets: ['berth'],
  requires: requirements,
  cases: buildCases,
};
