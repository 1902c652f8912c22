// A private berthd that can be stopped and started again on the same root: the
// `workload` suite's berth target (services, cold start, restart policy) and its
// daemon restart cases. Own tmpfs root, exec root, socket, bridge and free /24; pulls
// from a registry on 127.0.0.1; stopped by pid and everything it made removed afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../../engine/client/api-client.js';
import { unavailable } from '../../engine/errdefs/errors.js';
import { createCgroupManager } from '../../engine/execdriver/cgroups/manager.js';
import { MNT_DETACH, mountFs, unmount } from '../../engine/graphdriver/host-mount.js';
import { mountsUnder } from '../../engine/graphdriver/mountinfo.js';
import { parseBip } from '../../engine/jobs/builtins.js';
import { BridgeDriver } from '../../engine/networkdriver/network-driver.js';
import type { Context } from '../../engine/trace/index.js';
import { packagePath } from '../../native/package-root.js';
import { call } from '../peers/index.js';
import { Teardown } from '../teardown.js';

/** The workload suite's berthd bridge (at most 15 characters; differs from the run suite's bbd<pid>). */
export const WORKLOAD_BRIDGE = `bwl${process.pid}`.slice(0, 15);

/** A /24 no host route uses yet (10.150–199.x, apart from the run suite's and docker's ranges). */
async function freeBip(): Promise<string> {
  const used = (await call(['ip', '-4', 'route', 'show', 'table', 'all'], { captureStdout: true })).stdout;
  for (let k = 0; k < 16; k++) {
    const prefix = `10.${150 + ((process.pid + 7 * k) % 50)}.${(process.pid >> 3) % 250}.`;
    if (!used.includes(prefix)) return `${prefix}1/24`;
  }
  throw unavailable(`berthd bridge ${WORKLOAD_BRIDGE}: no free 10.x.y.0/24 subnet`);
}

export function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Sends `sig` to our own child `pid`; one already gone (ESRCH) is left alone. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Reference-counted private berthd whose process can be restarted (stopDaemon,
 * startDaemon) while its root, bridge and images stay. The first acquire() makes
 * the tmpfs root and starts the daemon; the last release() stops it and removes its
 * network (bridge, iptables rules), cgroups, mounts and directory, also after a
 * failed start or a daemon that died.
 */
export class RestartableBerthd {
  private users = 0;
  private dir: string | undefined;
  private root: string | undefined;
  private bip: string | undefined;
  private daemon: ChildProcess | undefined;
  private starting: Promise<void> | undefined;

  constructor(private readonly dataRoot: string) {}

  get socket(): string {
    if (this.dir === undefined) throw new Error('private berthd: not started');
    return join(this.dir, 'berthd.sock');
  }

  get host(): string {
    return `unix://${this.socket}`;
  }

  get pid(): number | undefined {
    return this.daemon?.pid;
  }

  client(): ApiClient {
    return new ApiClient(this.host);
  }

  /** The `berth` command line against this daemon: node, the berth bin, -H, …args. */
  cli(args: readonly string[]): string[] {
    return [process.execPath, packagePath('engine', 'client', 'bin.mjs'), '-H', this.host, ...args];
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
      const dir = realpathSync(mkdtempSync(join(this.dataRoot, `berth-wl-berthd-${process.pid}-`)));
      this.dir = dir;
      const store = join(dir, 'store');
      mkdirSync(store, { mode: 0o755 });
      mountFs(`berthd store ${store}`, 'tmpfs', store, 'tmpfs', 0, 'size=1536m,mode=0755');
      this.root = join(store, 'root');
      this.bip = await freeBip();
      await this.startDaemon();
      ctx.logger.debug('workload berthd started', { pid: this.daemon?.pid, root: this.root });
    } catch (err) {
      await this.tearDown(ctx).catch(() => undefined);
      throw err;
    }
  }

  /** Spawns berthd on the kept root; resolves once the socket exists (not yet answering). */
  spawnDaemon(): ChildProcess {
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
          WORKLOAD_BRIDGE,
          '--bip',
          this.bip,
          '--log-level',
          'warn',
        ],
        { stdio: ['ignore', log, log] },
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
      await sleep(intervalMs);
    }
  }

  async startDaemon(): Promise<void> {
    this.spawnDaemon();
    await this.waitPing();
  }

  /** SIGTERM, then SIGKILL after 30 s (reported). Resolves once the process is gone. */
  async stopDaemon(): Promise<void> {
    const d = this.daemon;
    if (d === undefined || d.pid === undefined) return;
    if (d.exitCode !== null || d.signalCode !== null) {
      this.daemon = undefined;
      throw unavailable(
        `private berthd (pid ${d.pid}) had exited on its own (${d.exitCode ?? d.signalCode}): ${this.logTail()}`,
      );
    }
    signal(d.pid, 'SIGTERM');
    if (!(await exited(d, 30_000))) {
      signal(d.pid, 'SIGKILL');
      await exited(d, 5_000);
      this.daemon = undefined;
      throw unavailable(
        `private berthd (pid ${d.pid}) did not stop on SIGTERM within 30 s (killed): ${this.logTail()}`,
      );
    }
    this.daemon = undefined;
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

  /** Ids of every container the daemon has. */
  async containers(): Promise<string[]> {
    return (await this.client().containerList({ all: true })).map((c) => c.Id);
  }

  /** Force-removes every container the daemon has. */
  async removeAll(): Promise<void> {
    const client = this.client();
    for (const id of await this.containers()) await client.containerRemove(id, { force: true });
  }

  private async tearDown(ctx: Context): Promise<void> {
    const t = new Teardown();
    const d = this.daemon;
    if (d !== undefined && d.exitCode === null && d.signalCode === null) {
      await t.attempt('containers', () => this.removeAll());
    }
    await t.attempt('berthd', () => this.stopDaemon());
    if (this.root !== undefined && this.bip !== undefined && existsSync(this.root)) {
      // the default network's bridge outlives the daemon (as docker0 does); remove it and berth's rules
      await t.attempt('network', async () => {
        const net = await BridgeDriver.open(ctx, {
          root: this.root!,
          defaultNetwork: { bridge: WORKLOAD_BRIDGE, ...parseBip(this.bip!) },
        });
        await net.reset(ctx);
      });
      const parent = `berth/${createHash('sha256').update(this.root).digest('hex').slice(0, 12)}`;
      await t.attempt(`cgroups ${parent}`, () => createCgroupManager().cleanupStale(ctx, parent));
    }
    if (existsSync(`/sys/class/net/${WORKLOAD_BRIDGE}`)) {
      await t.attempt(`bridge ${WORKLOAD_BRIDGE}`, async () => {
        const r = await call(['ip', 'link', 'del', WORKLOAD_BRIDGE]);
        if (r.code !== 0) throw new Error(r.stderr.trim());
      });
    }
    if (this.dir !== undefined) {
      for (const m of (await mountsUnder(this.dir).catch(() => [] as string[])).reverse()) {
        await t.attempt(`unmount ${m}`, async () => unmount(`private berthd ${m}`, m, MNT_DETACH));
      }
      rmSync(this.dir, { recursive: true, force: true });
    }
    this.dir = undefined;
    this.root = undefined;
    this.bip = undefined;
    t.finish('private berthd cleanup');
  }
}
