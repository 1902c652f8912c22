// The `run` suite's environment: a tmpfs of its own under the data root holding one
// Graph per graphdriver (each with the static image), berth's execdriver, and the
// network bench's driver with a bridge of its own; made on first use, removed by the last.
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createCgroupManager } from '../../engine/execdriver/cgroups/manager.js';
import type { CgroupManager } from '../../engine/execdriver/cgroups/types.js';
import { createExecDriver, type ExecDriver } from '../../engine/execdriver/execdriver.js';
import { Graph } from '../../engine/graph/graph.js';
import { graphdriverPlugin } from '../../engine/graphdriver/builtins.js';
import type { Driver } from '../../engine/graphdriver/driver.js';
import { MNT_DETACH, mountFs, unmount } from '../../engine/graphdriver/host-mount.js';
import { mountsUnder } from '../../engine/graphdriver/mountinfo.js';
import { instrumentNetworkDriver, type NetworkDriver } from '../../engine/networkdriver/index.js';
import { instrument, type Context } from '../../engine/trace/index.js';
import { NetworkWorld } from './network-world.js';
import { putStaticImage } from './runtime-image.js';

export type RunGraphdriver = 'overlay2' | 'vfs';

/** The driver's methods as spans of module `graphdriver.<name>`. */
const DRIVER_METHODS = ['create', 'createReadWrite', 'remove', 'mounts', 'get', 'put', 'exists', 'applyDiff'] as const;

/**
 * Reference-counted: acquire() mounts the tmpfs and opens the execdriver and the
 * network; graph(name) opens that driver's Graph and stores the image once;
 * the last release() unmounts and removes everything (graphs' mounts, the
 * bridge, cgroups under the suite's parent, the directory).
 */
export class RunWorld {
  private users = 0;
  private base: string | undefined;
  private store: string | undefined;
  private readonly graphs = new Map<RunGraphdriver, Promise<{ graph: Graph; driver: Driver }>>();
  private manager: CgroupManager | undefined;
  private exec_: ExecDriver | undefined;
  private net_: NetworkDriver | undefined;
  readonly network: NetworkWorld;
  readonly cgroupParent = `berth-bench-run-${process.pid}`;

  constructor(private readonly dataRoot: string) {
    this.network = new NetworkWorld(dataRoot);
  }

  /** The directory the rootfs paths and the bundle live under (the tmpfs's parent). */
  get dir(): string {
    if (this.base === undefined) throw new Error('run bench: not acquired');
    return this.base;
  }

  get exec(): ExecDriver {
    if (this.exec_ === undefined) throw new Error('run bench: not acquired');
    return this.exec_;
  }

  get net(): NetworkDriver {
    if (this.net_ === undefined) throw new Error('run bench: not acquired');
    return this.net_;
  }

  /** One more user. The first mounts a 512 MiB tmpfs and opens the network (bridge bnb<pid>). */
  async acquire(ctx: Context): Promise<void> {
    this.users++;
    if (this.base !== undefined) return;
    try {
      this.base = realpathSync(mkdtempSync(join(this.dataRoot, `berth-run-bench-${process.pid}-`)));
      this.store = join(this.base, 'store');
      mkdirSync(this.store, { mode: 0o755 });
      mountFs(`run bench tmpfs ${this.store}`, 'tmpfs', this.store, 'tmpfs', 0, 'size=512m,mode=0755');
      this.manager = createCgroupManager();
      this.exec_ = createExecDriver({ cgroups: this.manager, cgroupParent: this.cgroupParent });
      this.net_ = instrumentNetworkDriver(await this.network.acquire(ctx));
    } catch (err) {
      await this.cleanup(ctx).catch(() => undefined);
      this.users = 0;
      throw err;
    }
  }

  /** The Graph on graphdriver `name` (instrumented as `graphdriver.<name>`) holding the static image; opened once. */
  graph(ctx: Context, name: RunGraphdriver): Promise<{ graph: Graph; driver: Driver }> {
    let g = this.graphs.get(name);
    if (g === undefined) {
      const root = join(this.store!, name);
      g = (async () => {
        const driver = instrument(`graphdriver.${name}`, await graphdriverPlugin(name).init(ctx, { root }), { methods: [...DRIVER_METHODS] });
        const graph = await Graph.open(ctx, { root, driver });
        await putStaticImage(ctx, graph);
        return { graph, driver };
      })();
      g.catch(() => undefined);
      this.graphs.set(name, g);
    }
    return g;
  }

  /** Mount points under the tmpfs other than the tmpfs itself (a finished container leaves none). */
  async mountsLeft(): Promise<string[]> {
    if (this.store === undefined) return [];
    return (await mountsUnder(this.store)).filter((m) => m !== this.store);
  }

  /** One user done; the last removes everything (see cleanup). */
  async release(ctx: Context): Promise<void> {
    if (this.users === 0) return;
    this.users--;
    if (this.users > 0) return;
    await this.cleanup(ctx);
  }

  /** Unmounts the graphdrivers and the tmpfs, removes cgroups, the network and the directory. Tries every step; throws the first failure. */
  private async cleanup(ctx: Context): Promise<void> {
    const failures: unknown[] = [];
    for (const g of this.graphs.values()) {
      const opened = await g.catch(() => undefined);
      if (opened !== undefined) await opened.driver.cleanup(ctx).catch((e: unknown) => failures.push(e));
    }
    this.graphs.clear();
    if (this.manager !== undefined) await this.manager.cleanupStale(ctx, this.cgroupParent).catch((e: unknown) => failures.push(e));
    this.manager = undefined;
    this.exec_ = undefined;
    if (this.net_ !== undefined) await this.network.release(ctx).catch((e: unknown) => failures.push(e));
    this.net_ = undefined;
    if (this.store !== undefined) {
      for (const m of await mountsUnder(this.store).catch(() => [] as string[])) {
        try {
          unmount(`run bench ${m}`, m, MNT_DETACH);
        } catch (e) {
          failures.push(e);
        }
      }
    }
    this.store = undefined;
    if (this.base !== undefined) rmSync(this.base, { recursive: true, force: true });
    this.base = undefined;
    if (failures.length > 0) throw failures[0];
  }
}
