// createEngine: the one place berth's modules are composed for a data root — the
// graph on its graphdriver, the networkdriver, the execdriver with its cgroups,
// the container store and runtime, the event bus — every job registered, recovery
// run. berthd and the bench both start here. Spans are added here and nowhere
// else in the engine's modules: each driver and the graph's stores are wrapped by
// trace's instrument(), with the boundary each module declares.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ContainerStore } from '../container/store.js';
import type { UsernsRemap } from '../container/userns-remap.js';
import { VolumeStore } from '../container/volume-store.js';
import { invalidArgument, isBerthError, wrap } from '../errdefs/errors.js';
import { createCgroupManager } from '../execdriver/cgroups/manager.js';
import type { CgroupManager } from '../execdriver/cgroups/types.js';
import { createExecDriver, execDriverBoundary } from '../execdriver/execdriver.js';
import { writeFileAtomic } from '../fsutil/atomic-write.js';
import { Graph } from '../graph/graph.js';
import { graphdriverPlugin } from '../graphdriver/builtins.js';
import { graphdriverBoundary, type Driver } from '../graphdriver/driver.js';
import { withDiff } from '../graphdriver/naive-diff.js';
import type { IdShift } from '../archive/apply-layer.js';
import { native } from '../../native/index.js';
import { networkDriverBoundary, type NetworkDriver } from '../networkdriver/driver.js';
import { BridgeDriver } from '../networkdriver/network-driver.js';
import { formatIPv4, maskOf, parseIPv4 } from '../networkdriver/subnet.js';
import { detached, withTimeout, type Context } from '../trace/context.js';
import { instrument } from '../trace/instrument.js';
import { registerContainerJobs } from './container-jobs.js';
import { registerExecJobs } from './exec-jobs.js';
import { HealthMonitor } from './health-monitor.js';
import { ContainerRuntime } from './container-runtime.js';
import { Engine } from './engine.js';
import { EventBus } from './event-bus.js';
import { registerImageJobs } from './image-jobs.js';
import { registerNetworkJobs } from './network-jobs.js';
import { registerStreamJobs } from './stream-jobs.js';
import { registerSystemJobs } from './system-jobs.js';
import { registerVolumeJobs } from './volume-jobs.js';

export interface EngineConfig {
  /** Data root (`--root`): images, layers, containers, networks. */
  root: string;
  /** Runtime root (`--exec-root`); created when missing. Default /run/berth. */
  execRoot?: string;
  /** Graphdriver (`--storage-driver`); default overlay2, else vfs where overlay cannot be used. */
  storageDriver?: string;
  storageOptions?: Record<string, string>;
  /** Bridge of the default network (`--bridge`), default berth0. */
  bridge?: string;
  /** The bridge's address with the network's prefix (`--bip`, e.g. 10.213.0.1/16). */
  bip?: string;
  /** MTU of bridges and veths (the networkdriver's default when absent). */
  mtu?: number;
  /** How ports are published (the networkdriver's default when absent). */
  portDriver?: 'auto' | 'iptables' | 'proxy';
  /** Masquerade traffic leaving the bridges (default true; tests pass false). */
  masquerade?: boolean;
  /** Name servers for containers' resolv.conf (default the host's). */
  dns?: string[];
  /** Registries reached over plain HTTP although not loopback. */
  insecureRegistries?: string[];
  /** Parent of every container's cgroup; default `berth/<hash of root>`, so two roots never share cgroups. */
  cgroupParent?: string;
  /** null: run containers without cgroups (no resource limits, no OOM counter). Default: this host's cgroups. */
  cgroups?: CgroupManager | null;
  /**
   * `--userns-remap`: every container runs in a new user namespace with these ranges. Its rootfs is an overlay over
   * idmapped layers (overlay2) or an idmapped mount (other drivers) where the kernel allows one; else the data root
   * becomes `<root>/<uid>.<gid>` (as dockerd's) and its layers are stored with their ids shifted into the ranges. The
   * environment variable BERTH_USERNS_IDMAP=off forces that fallback (for tests).
   */
  usernsRemap?: UsernsRemap;
}

/** How a remapped engine gives containers their rootfs ownership. */
export interface UsernsMode {
  remap: UsernsRemap;
  /** true: idmapped rootfs mounts; false: layers stored shifted (in the remapped root). */
  idmap: boolean;
  /** How the rootfs gets its ownership, and why layers are stored shifted when they are (`berth info`). */
  rootfs: string;
}

/**
 * Why an idmapped rootfs on `driver` is refused, or undefined if it is allowed: a scratch base layer and a writable
 * layer over it are made, mounted (get), probed and removed. overlay2 is probed by remounting that layer over idmapped
 * layers as a container's is (overlayfs refuses an idmapped mount of itself), other drivers by an idmapped copy of the
 * mounted tree. Costs two layer creations and a mount or two.
 */
async function idmapRefusal(ctx: Context, driver: Driver, remap: UsernsRemap): Promise<string | undefined> {
  if (process.env.BERTH_USERNS_IDMAP === 'off') return 'turned off by BERTH_USERNS_IDMAP=off';
  const base = `idmap-probe-${process.pid}-${randomBytes(4).toString('hex')}`;
  const rw = `${base}-rw`;
  try {
    await driver.create(ctx, base, undefined);
    await driver.createReadWrite(ctx, rw, base);
    const path = await driver.get(ctx, rw);
    try {
      if (driver.idmapLayers !== undefined) {
        try {
          await driver.idmapLayers(ctx, rw, remap);
          return undefined;
        } catch (err) {
          return `overlayfs over idmapped layers refused: ${err instanceof Error ? err.message : String(err)}`;
        }
      }
      const refused = native().idmapProbe(path);
      return refused === null ? undefined : `the kernel answered ${refused} for ${path}`;
    } finally {
      await driver.put(ctx, rw);
    }
  } finally {
    await driver.remove(ctx, rw).catch(() => undefined);
    await driver.remove(ctx, base).catch(() => undefined);
  }
}

export interface BerthEngine {
  engine: Engine;
  /** What recovery found at start: containers marked exited, leftovers removed, and the restarts under way. */
  restored: { exited: string[]; removed: string[]; restarting: Promise<string[]> };
  /** The parts, for tests and the bench. */
  parts: {
    graph: Graph;
    driver: Driver;
    net: NetworkDriver;
    store: ContainerStore;
    volumes: VolumeStore;
    runtime: ContainerRuntime;
    events: EventBus;
    health: HealthMonitor;
  };
  /** The data root in use: `<root>/<uid>.<gid>` when a remap stores its layers shifted. */
  root: string;
  /** The remap, when --userns-remap is on. */
  userns?: UsernsMode;
  /** Stops running containers (each with its stop timeout), lets running jobs end, closes the modules. */
  shutdown(ctx: Context): Promise<void>;
}

/** `10.213.0.1/16` → the default network's subnet and gateway. INVALID_ARGUMENT for anything else. */
export function parseBip(bip: string): { subnet: string; gateway: string } {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(bip);
  const addr = m ? parseIPv4(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (addr === undefined || !(prefix >= 8 && prefix <= 30))
    throw invalidArgument(`bip ${JSON.stringify(bip)}: expected the bridge's address and prefix, e.g. 10.213.0.1/16`);
  const base = (addr & maskOf(prefix)) >>> 0;
  if (addr === base) throw invalidArgument(`bip ${bip}: the bridge address cannot be the network address`);
  return { subnet: `${formatIPv4(base)}/${prefix}`, gateway: formatIPv4(addr) };
}

async function openDriver(
  ctx: Context,
  root: string,
  name: string | undefined,
  options: Record<string, string> | undefined,
  idShift?: IdShift,
): Promise<{ name: string; driver: Driver }> {
  const tried: string[] = [];
  for (const candidate of name !== undefined ? [name] : ['overlay2', 'vfs']) {
    try {
      const raw = await graphdriverPlugin(candidate).init(ctx, {
        root,
        ...(options ? { options } : {}),
        ...(idShift ? { idShift } : {}),
      });
      const driver = withDiff(raw, idShift);
      // the optional methods a driver has are spans too
      const methods = [...graphdriverBoundary.methods!, ...(driver.getDetached ? (['getDetached'] as const) : [])];
      return {
        name: candidate,
        driver: instrument(`graphdriver.${candidate}`, driver, { ...graphdriverBoundary, methods }),
      };
    } catch (err) {
      if (name !== undefined) throw wrap(err, `storage driver ${candidate}`);
      tried.push(`${candidate}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw invalidArgument(`no usable storage driver (${tried.join('; ')})`);
}

async function engineId(root: string): Promise<string> {
  const path = join(root, 'engine-id');
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  if (existing !== undefined && /^[0-9a-f]{64}$/.test(existing.trim())) return existing.trim();
  const id = randomBytes(32).toString('hex');
  await writeFileAtomic(path, id, { mode: 0o600, sync: true });
  return id;
}

/**
 * Opens an engine on `config.root`: creates what is missing, recovers what a crash
 * left (containers whose process is gone marked exited, their mounts, interfaces,
 * port rules, addresses and cgroups released), registers every job and returns it
 * with its shutdown. Fails naming the module that could not be opened.
 */
export async function createEngine(ctx: Context, config: EngineConfig): Promise<BerthEngine> {
  let root = resolve(config.root);
  await mkdir(root, { recursive: true, mode: 0o711 });
  await mkdir(config.execRoot ?? '/run/berth', { recursive: true, mode: 0o700 });
  let { name: driverName, driver } = await openDriver(ctx, root, config.storageDriver, config.storageOptions);
  let userns: UsernsMode | undefined;
  const remap = config.usernsRemap;
  if (remap !== undefined) {
    const refused = await idmapRefusal(ctx, driver, remap).catch(async (err: unknown) => {
      await driver.cleanup(detached(ctx)).catch(() => undefined);
      throw wrap(err, `--userns-remap: probing idmapped mounts on ${driverName}`);
    });
    userns = {
      remap,
      idmap: refused === undefined,
      rootfs:
        refused === undefined
          ? driver.idmapLayers !== undefined
            ? 'overlay over idmapped layers'
            : 'idmapped mount'
          : `layers stored shifted (${refused})`,
    };
    if (refused !== undefined) {
      await driver.cleanup(detached(ctx));
      ctx.logger.warn('userns-remap: idmapped rootfs mounts refused; layers are stored remapped', {
        driver: driverName,
        reason: refused,
      });
      root = join(root, `${remap.uid.hostID}.${remap.gid.hostID}`);
      await mkdir(root, { recursive: true, mode: 0o711 });
      ({ name: driverName, driver } = await openDriver(ctx, root, driverName, config.storageOptions, remap));
    }
  }
  const id = await engineId(root);
  const closers: (() => Promise<unknown>)[] = [() => driver.cleanup(detached(ctx))];
  try {
    const graph = await Graph.open(ctx, { root, driver, instrument });
    const bip = config.bip ? parseBip(config.bip) : undefined;
    const net = instrument(
      'networkdriver',
      (await BridgeDriver.open(ctx, {
        root,
        defaultNetwork: { ...(config.bridge ? { bridge: config.bridge } : {}), ...(bip ?? {}) },
        ...(config.mtu !== undefined ? { mtu: config.mtu } : {}),
        ...(config.portDriver ? { portDriver: config.portDriver } : {}),
        ...(config.masquerade !== undefined ? { masquerade: config.masquerade } : {}),
        ...(config.dns ? { dns: config.dns } : {}),
      })) as NetworkDriver,
      networkDriverBoundary,
    );
    closers.push(() => net.close(detached(ctx)));
    let cgroups: CgroupManager | null;
    if (config.cgroups !== undefined) cgroups = config.cgroups;
    else {
      try {
        cgroups = createCgroupManager();
      } catch (err) {
        ctx.logger.warn('cgroups unavailable: containers run without resource limits', {
          error: err instanceof Error ? err.message : String(err),
        });
        cgroups = null;
      }
    }
    const cgroupParent = config.cgroupParent ?? `berth/${createHash('sha256').update(root).digest('hex').slice(0, 12)}`;
    const exec = instrument(
      'execdriver',
      createExecDriver({
        cgroups,
        cgroupParent,
        // the engine removes its parent cgroup at shutdown and at start (restore)
        keepCgroupParent: true,
      }),
      execDriverBoundary,
    );
    const store = await ContainerStore.open(ctx, root);
    // Under a remap a new volume is the containers' root's, as dockerd makes it.
    const volumes = await VolumeStore.open(
      ctx,
      root,
      userns ? { owner: { uid: userns.remap.uid.hostID, gid: userns.remap.gid.hostID } } : {},
    );
    const events = new EventBus();
    const runtime = new ContainerRuntime({
      store,
      graph,
      exec,
      net,
      cgroups,
      cgroupParent,
      events,
      volumes,
      driverName,
      baseCtx: detached(ctx),
      ...(userns ? { userns: { ...userns, root } } : {}),
    });

    const engine = new Engine();
    const execs = registerExecJobs(engine, {
      container: (ref) => store.get(ref),
      exists: (cid) => store.find(cid) !== undefined,
      exec,
      events,
    });
    registerContainerJobs(engine, {
      runtime,
      store,
      execIds: (cid) => execs.execIds(cid),
      volumeDir: (name) => volumes.mountpoint(name),
    });
    registerImageJobs(engine, {
      graph,
      store,
      events,
      driverName,
      ...(config.insecureRegistries ? { insecureRegistries: config.insecureRegistries } : {}),
      instrument,
    });
    registerNetworkJobs(engine, { net, store, events });
    registerVolumeJobs(engine, { volumes, events, usedBy: (name) => runtime.containersUsing(name) });
    registerSystemJobs(engine, {
      store,
      graph,
      driver,
      driverName,
      events,
      root,
      engineId: id,
      cgroupVersion: cgroupVersionOf(),
      ...(userns ? { userns: true, usernsRootfs: userns.rootfs } : {}),
    });
    registerStreamJobs(engine, { container: (ref) => store.get(ref), io: (c, ref) => runtime.ioFor(c, ref) });

    // health checkers follow the start events, so the restarts recovery makes get theirs
    const health = new HealthMonitor({ engine, store, events, execs, baseCtx: detached(ctx) });
    health.watch();
    closers.push(async () => health.close());
    const restored = await runtime.restore(ctx);
    restored.restarting.catch(() => undefined);
    let down: Promise<void> | undefined;
    return {
      engine,
      restored,
      parts: { graph, driver, net, store, volumes, runtime, events, health },
      ...(userns ? { userns } : {}),
      root,
      shutdown: (c) =>
        (down ??= (async () => {
          await restored.restarting.catch(() => undefined);
          health.close();
          await runtime.shutdown(c);
          await engine.close(withTimeout(c, 5000));
          for (const close of closers.reverse())
            await close().catch((err: unknown) =>
              c.logger.warn('engine shutdown: close a module', { error: String(err) }),
            );
        })()),
    };
  } catch (err) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    throw isBerthError(err) ? err : wrap(err, `engine ${root}`);
  }
}

function cgroupVersionOf(): '1' | '2' {
  return existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
}
