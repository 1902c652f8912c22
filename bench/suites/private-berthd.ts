// The bench's private berthd, for every suite that drives berth through its socket (run,
// lifecycle, reliability, workload): its own process from its bundle on a tmpfs root, exec
// root, socket, bridge and free /24; restartable on the same root; stopped by pid and
// everything it made (network, iptables rules, cgroups, mounts, folder) removed afterwards,
// also when its start failed or it died.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../../engine/client/api-client.js';
import { unavailable } from '../../engine/errdefs/errors.js';
import { createCgroupManager } from '../../engine/execdriver/cgroups/manager.js';
import { mountFs } from '../../engine/graphdriver/host-mount.js';
import { parseBip } from '../../engine/jobs/builtins.js';
import { BridgeDriver } from '../../engine/networkdriver/network-driver.js';
import { detached, type Context } from '../../engine/trace/index.js';
import { packagePath } from '../../native/package-root.js';
import { call } from '../peers/index.js';
import { deleteLinkIfPresent, hostLeftovers, stopDaemonChild, Teardown, unmountAndRemove } from '../teardown.js';
import { idleRssReads } from './daemon-memory.js';
import { poolFor } from './daemon-spans.js';

export interface PrivateBerthdOptions {
  /** The default network's bridge (at most 15 characters; unique per process and suite). */
  bridge: string;
  /** Its /24 is taken from 10.<subnetBase>–<subnetBase + 49>.x.0 (suites use apart ranges). */
  subnetBase: number;
  /** Size of the tmpfs holding root and exec root (`512m`). */
  tmpfsSize: string;
  /** Runs once after the first start, the daemon answering (e.g. pulling the suite's image). */
  seed?: (ctx: Context, berthd: PrivateBerthd) => Promise<void>;
}

/** A /24 no host route uses yet, from 10.<base>–<base + 49>.x.0. */
async function freeBip(bridge: string, base: number): Promise<string> {
  const used = (await call(['ip', '-4', 'route', 'show', 'table', 'all'], { captureStdout: true })).stdout;
  for (let k = 0; k < 16; k++) {
    const prefix = `10.${base + ((process.pid + 13 * k) % 50)}.${(process.pid >> 4) % 250}.`;
    if (!used.includes(prefix)) return `${prefix}1/24`;
  }
  throw unavailable(`berthd bridge ${bridge}: no free 10.x.y.0/24 subnet`);
}

/**
 * Reference-counted private berthd. The first acquire() makes the tmpfs root, starts
 * the daemon, runs the seed and reads its idle RSS once it idled past its allocator trim (rssAfterStart); the last
 * release() reads the idle RSS again the same way (rssAfterRuns), removes its containers, stops it and removes
 * everything it made. Between the two, stopDaemon() and startDaemon() (or spawnDaemon()
 * and waitPing()) restart the process on the same root, bridge and images.
 */
export class PrivateBerthd {
  private users = 0;
  private dir: string | undefined;
  private root: string | undefined;
  private bip: string | undefined;
  private daemon: ChildProcess | undefined;
  private starting: Promise<void> | undefined;
  /** VmRSS reads (MiB) of the daemon idle after its first start (seeded): daemon-memory.ts idleRssReads. */
  rssAfterStart: number[] = [];
  /** VmRSS reads (MiB) of the daemon idle before the last release stopped it: daemon-memory.ts idleRssReads. */
  rssAfterRuns: number[] = [];

  constructor(
    private readonly dataRoot: string,
    readonly options: PrivateBerthdOptions,
  ) {}

  get bridge(): string {
    return this.options.bridge;
  }

  get socket(): string {
    if (this.dir === undefined) throw new Error('private berthd: not started');
    return join(this.dir, 'berthd.sock');
  }

  get host(): string {
    return `unix://${this.socket}`;
  }

  /** The daemon's pid while its process runs. */
  get pid(): number | undefined {
    return this.daemon?.pid;
  }

  /** True while the daemon's process runs (it has not exited or been killed). */
  get running(): boolean {
    return this.daemon !== undefined && this.daemon.exitCode === null && this.daemon.signalCode === null;
  }

  /** The daemon's folder (root, exec root, socket, log), while it is set up. */
  get folder(): string | undefined {
    return this.dir;
  }

  /** The daemon's --root, while it is set up. */
  get rootDir(): string | undefined {
    return this.root;
  }

  client(): ApiClient {
    return new ApiClient(this.host, { pool: poolFor(this.host) });
  }

  /** The `berth` command line against this daemon, as a user runs it: the berth bin (sh, then node), -H, …args. */
  cli(args: readonly string[]): string[] {
    return [packagePath('engine', 'client', 'bin.cjs'), '-H', this.host, ...args];
  }

  async acquire(ctx: Context): Promise<void> {
    this.users++;
    if (this.starting === undefined) {
      this.starting = this.setUp(ctx);
      this.starting.catch(() => undefined);
    }
    try {
      await this.starting;
    } catch (err) {
      this.users--;
      // the next acquire tries afresh (setUp removed what it had made)
      if (this.users === 0) this.starting = undefined;
      throw err;
    }
  }

  async release(ctx: Context): Promise<void> {
    if (this.users === 0) return;
    this.users--;
    if (this.users > 0) return;
    this.starting = undefined;
    await this.tearDown(ctx);
  }

  private async setUp(ctx: Context): Promise<void> {
    try {
      const dir = realpathSync(mkdtempSync(join(this.dataRoot, `berth-berthd-${process.pid}-`)));
      this.dir = dir;
      const store = join(dir, 'store');
      mkdirSync(store, { mode: 0o755 });
      mountFs(`berthd store ${store}`, 'tmpfs', store, 'tmpfs', 0, `size=${this.options.tmpfsSize},mode=0755`);
      this.root = join(store, 'root');
      this.bip = await freeBip(this.bridge, this.options.subnetBase);
      await this.startDaemon();
      await this.options.seed?.(ctx, this);
      ctx.logger.debug('private berthd started', { pid: this.daemon?.pid, root: this.root });
      this.rssAfterStart = await idleRssReads(this.daemon!.pid!);
    } catch (err) {
      await this.tearDown(ctx).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Spawns berthd on the kept root and returns its process (not yet answering: waitPing()); `env` is added to the
   * bench's environment (e.g. BERTH_TEST_PAUSE_AT for a fault case).
   */
  spawnDaemon(env: Record<string, string> = {}): ChildProcess {
    if (this.dir === undefined || this.root === undefined || this.bip === undefined)
      throw new Error('private berthd: not set up');
    if (this.daemon !== undefined && this.daemon.exitCode === null && this.daemon.signalCode === null)
      throw new Error('private berthd: already running');
    const log = openSync(join(this.dir, 'berthd.log'), 'a');
    try {
      this.daemon = spawn(
        process.execPath,
        [
          packagePath('engine', 'daemon', 'bin.mjs'),
          '--root',
          this.root,
          '--exec-root',
          join(this.dir, 'store', 'exec'),
          '-H',
          this.host,
          '--storage-driver',
          'overlay2',
          '--bridge',
          this.bridge,
          '--bip',
          this.bip,
          '--log-level',
          'warn',
        ],
        // a process group of its own: a Ctrl-C at the terminal reaches the bench alone, which stops it in order
        { stdio: ['ignore', log, log], detached: true, env: { ...process.env, ...env } },
      );
    } finally {
      closeSync(log);
    }
    return this.daemon;
  }

  /** Polls /_ping every `intervalMs` until it answers; UNAVAILABLE when the daemon exits or after `timeoutMs`. */
  async waitPing(timeoutMs = 60_000, intervalMs = 5): Promise<void> {
    const d = this.daemon;
    if (d === undefined) throw new Error('private berthd: not running');
    const client = this.client();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (d.exitCode !== null || d.signalCode !== null)
        throw unavailable(`private berthd: exited at start (${d.exitCode ?? d.signalCode}): ${this.logTail()}`);
      if (
        existsSync(this.socket) &&
        (await client.ping().then(
          () => true,
          () => false,
        ))
      )
        return;
      if (Date.now() > deadline)
        throw unavailable(`private berthd: no answer to /_ping after ${timeoutMs / 1000} s: ${this.logTail()}`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  async startDaemon(env: Record<string, string> = {}): Promise<void> {
    this.spawnDaemon(env);
    await this.waitPing();
  }

  /** SIGKILL to the daemon's pid (a crash, for fault cases); resolves once the process is gone. */
  async killDaemon(): Promise<void> {
    const d = this.daemon;
    if (d === undefined || d.pid === undefined) return;
    this.daemon = undefined;
    if (d.exitCode !== null || d.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => d.once('exit', () => resolve()));
    d.kill('SIGKILL');
    await exited;
  }

  /** The daemon's log (stdout and stderr of every start on this root), or '' before the first. */
  log(): string {
    try {
      return readFileSync(join(this.dir!, 'berthd.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** SIGTERM, then SIGKILL after 30 s (reported). Resolves once the process is gone; a non-zero exit is reported. */
  async stopDaemon(): Promise<void> {
    const d = this.daemon;
    if (d === undefined || d.pid === undefined) return;
    this.daemon = undefined;
    if (d.exitCode !== null || d.signalCode !== null)
      throw unavailable(
        `private berthd (pid ${d.pid}) had exited on its own (${d.exitCode ?? d.signalCode}): ${this.logTail()}`,
      );
    if ((await stopDaemonChild(d, 30_000)) === 'killed')
      throw unavailable(
        `private berthd (pid ${d.pid}) did not stop on SIGTERM within 30 s (killed): ${this.logTail()}`,
      );
    if (d.exitCode !== 0)
      throw unavailable(
        `private berthd (pid ${d.pid}) exited with ${d.exitCode ?? d.signalCode} on SIGTERM: ${this.logTail()}`,
      );
  }

  logTail(): string {
    try {
      return readFileSync(join(this.dir!, 'berthd.log'), 'utf8').trim().split('\n').slice(-3).join(' | ');
    } catch {
      return '(no log)';
    }
  }

  /** Ids of every container the daemon has (a run --rm leaves none). */
  async containers(): Promise<string[]> {
    return (await this.client().containerList({ all: true })).map((c) => c.Id);
  }

  /** Force-removes every container the daemon has. */
  async removeAll(): Promise<void> {
    const client = this.client();
    for (const id of await this.containers()) await client.containerRemove(id, { force: true });
  }

  private async tearDown(parent: Context): Promise<void> {
    // runs to its end also when the run was interrupted (a cancelled context would stop the network reset half way,
    // leaving the bridge's iptables rules after the bridge itself went)
    const ctx = detached(parent);
    const t = new Teardown();
    let owner: string | undefined;
    let cgroups: string | undefined;
    const d = this.daemon;
    if (d !== undefined && d.pid !== undefined && d.exitCode === null && d.signalCode === null) {
      await t.attempt('idle RSS', async () => {
        this.rssAfterRuns = await idleRssReads(d.pid!);
      });
      await t.attempt('containers', () => this.removeAll());
    }
    await t.attempt('berthd', () => this.stopDaemon());
    if (this.root !== undefined && this.bip !== undefined && existsSync(this.root)) {
      // the default network's bridge outlives the daemon (as docker0 does); remove it and berth's rules
      await t.attempt('network', async () => {
        const net = await BridgeDriver.open(ctx, {
          root: this.root!,
          defaultNetwork: { bridge: this.bridge, ...parseBip(this.bip!) },
        });
        owner = net.owner;
        await net.reset(ctx);
      });
      cgroups = `berth/${createHash('sha256').update(this.root).digest('hex').slice(0, 12)}`;
      const stale = cgroups;
      await t.attempt(`cgroups ${stale}`, () => createCgroupManager().cleanupStale(ctx, stale));
    }
    await t.attempt('bridge', async () => {
      const failed = await deleteLinkIfPresent(this.bridge);
      if (failed !== undefined) throw new Error(failed);
    });
    if (this.dir !== undefined) {
      const dir = this.dir;
      await t.attempt('mounts', async () => {
        const failed = await unmountAndRemove('private berthd', dir);
        if (failed.length > 0) throw new Error(failed.join('; '));
      });
    }
    await t.attempt('left on the host', async () => {
      const left = await hostLeftovers(ctx, { bridge: this.bridge, owner, cgroups, dir: this.dir });
      if (left.length > 0) throw new Error(left.join('; '));
    });
    this.dir = undefined;
    this.root = undefined;
    this.bip = undefined;
    t.finish('private berthd cleanup');
  }
}
