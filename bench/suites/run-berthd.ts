// A private berthd for the `run` suite's api and cli levels: its own process started
// from its bundle on a tmpfs root, exec root, socket, bridge and free /24, holding the
// suite's static image pulled from an embedded registry on 127.0.0.1 — stopped by pid
// with SIGTERM and everything it made removed afterwards, also when its start failed.
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
import { packagePath } from '../../native/package-root.js';
import { blobOf, push } from '../../engine/registry/client/test-registry.js';
import { createRegistryServer, type RegistryServer } from '../../engine/registry/server/index.js';
import type { Context } from '../../engine/trace/index.js';
import { call } from '../peers/index.js';
import { deleteLinkIfPresent, stopDaemonChild, unmountAndRemove } from '../teardown.js';
import { STATIC_IMAGE, staticImageConfig, staticImageLayers } from './runtime-image.js';

/** The private daemon's bridge (at most 15 characters). */
export const BERTHD_BRIDGE = `bbd${process.pid}`.slice(0, 15);
/** How many VmRSS reads make one idle figure (one read per event-loop turn after a short pause). */
const RSS_READS = 5;

/** VmRSS of `pid` in KiB (from /proc/<pid>/status), or undefined when the process is gone. */
export function vmRssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** `n` reads of the summed VmRSS (MiB) of `pids`, 50 ms apart. */
export async function rssReads(pids: readonly number[], n = RSS_READS): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    await new Promise((r) => setTimeout(r, 50));
    let kib = 0;
    for (const pid of pids) {
      const v = vmRssKiB(pid);
      if (v === undefined) throw unavailable(`process ${pid}: gone while its RSS was read`);
      kib += v;
    }
    out.push(kib / 1024);
  }
  return out;
}

/** A /24 no host route uses yet. */
async function freeBip(): Promise<string> {
  const used = (await call(['ip', '-4', 'route', 'show', 'table', 'all'], { captureStdout: true })).stdout;
  for (let k = 0; k < 16; k++) {
    const prefix = `10.${50 + ((process.pid + 13 * k) % 50)}.${(process.pid >> 4) % 250}.`;
    if (!used.includes(prefix)) return `${prefix}1/24`;
  }
  throw unavailable(`berthd bridge ${BERTHD_BRIDGE}: no free 10.x.y.0/24 subnet`);
}

/**
 * Reference-counted private berthd. The first acquire() starts it and pulls the
 * image (tagged STATIC_IMAGE); the last release() reads its RSS once more, stops
 * it and removes its network, cgroups, mounts and directory. Idle RSS reads are
 * kept (rssAfterStart, rssAfterRuns) for the suite's daemon RSS cases.
 */
export class PrivateBerthd {
  private users = 0;
  private dir: string | undefined;
  private root: string | undefined;
  private bip: string | undefined;
  private daemon: ChildProcess | undefined;
  private registry: RegistryServer | undefined;
  /** VmRSS reads (MiB) of the idle daemon right after its start (image pulled). */
  rssAfterStart: number[] = [];
  /** VmRSS reads (MiB) of the idle daemon after the last case using it. */
  rssAfterRuns: number[] = [];

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

  /** The daemon's folder (root, exec root, socket, log), while it runs. */
  get folder(): string | undefined {
    return this.dir;
  }

  /** The daemon's --root, while it runs. */
  get rootDir(): string | undefined {
    return this.root;
  }

  /** The `berth` command line against this daemon: node, the berth bin, -H, …args. */
  cli(args: readonly string[]): string[] {
    return [process.execPath, packagePath('engine', 'client', 'bin.mjs'), '-H', this.host, ...args];
  }

  async acquire(ctx: Context): Promise<void> {
    this.users++;
    if (this.dir !== undefined) return;
    try {
      await this.start(ctx);
    } catch (err) {
      await this.stop(ctx).catch(() => undefined);
      this.users = 0;
      throw err;
    }
  }

  async release(ctx: Context): Promise<void> {
    if (this.users === 0) return;
    this.users--;
    if (this.users > 0) return;
    await this.stop(ctx);
  }

  private async start(ctx: Context): Promise<void> {
    const dir = realpathSync(mkdtempSync(join(this.dataRoot, `berth-berthd-${process.pid}-`)));
    this.dir = dir;
    const store = join(dir, 'store');
    mkdirSync(store, { mode: 0o755 });
    mountFs(`berthd store ${store}`, 'tmpfs', store, 'tmpfs', 0, 'size=512m,mode=0755');
    this.root = join(store, 'root');
    this.bip = await freeBip();
    const log = openSync(join(dir, 'berthd.log'), 'a');
    try {
      this.daemon = spawn(
        process.execPath,
        [
          packagePath('engine', 'daemon', 'bin.mjs'),
          '--root',
          this.root,
          '--exec-root',
          join(store, 'exec'),
          '-H',
          this.host,
          '--storage-driver',
          'overlay2',
          '--bridge',
          BERTHD_BRIDGE,
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
    const client = new ApiClient(this.host);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (this.daemon.exitCode !== null || this.daemon.signalCode !== null) {
        throw unavailable(
          `private berthd: exited at start (${this.daemon.exitCode ?? this.daemon.signalCode}): ${this.logTail()}`,
        );
      }
      if (
        existsSync(this.socket) &&
        (await client.ping().then(
          () => true,
          () => false,
        ))
      )
        break;
      if (Date.now() > deadline) throw unavailable(`private berthd: no answer to /_ping after 60 s: ${this.logTail()}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    // the image goes in the way a user's does: pushed to a registry on 127.0.0.1, pulled by the daemon
    this.registry = await createRegistryServer({ root: join(dir, 'registry'), addr: '127.0.0.1:0' });
    const layers = await staticImageLayers();
    const layerBlobs = layers.map((b) => blobOf('application/vnd.oci.image.layer.v1.tar', b));
    const config = blobOf('application/vnd.oci.image.config.v1+json', staticImageConfig(layers));
    const desc = (b: { mediaType: string; digest: string; size: number }) => ({
      mediaType: b.mediaType,
      digest: b.digest,
      size: b.size,
    });
    const mt = 'application/vnd.oci.image.manifest.v1+json';
    const manifest = blobOf(
      mt,
      JSON.stringify({ schemaVersion: 2, mediaType: mt, config: desc(config), layers: layerBlobs.map(desc) }),
    );
    const [repo, tag] = STATIC_IMAGE.split(':') as [string, string];
    await push(this.registry.url, repo, [config, ...layerBlobs], manifest, tag);
    await client.pull(`${this.registry.host}/${repo}:${tag}`);
    await client.tag(`${this.registry.host}/${repo}:${tag}`, repo, tag);
    await this.registry.close();
    this.registry = undefined;
    ctx.logger.debug('private berthd started', { pid: this.daemon.pid, root: this.root });
    this.rssAfterStart = await rssReads([this.daemon.pid!]);
  }

  private logTail(): string {
    try {
      return readFileSync(join(this.dir!, 'berthd.log'), 'utf8').trim().split('\n').slice(-3).join(' | ');
    } catch {
      return '(no log)';
    }
  }

  /** Containers the daemon still has (a run --rm leaves none). */
  async containers(): Promise<string[]> {
    return (await new ApiClient(this.host).containerList({ all: true })).map((c) => c.Id);
  }

  /** SIGTERM to the daemon (after its idle RSS read), SIGKILL after 30 s; what went wrong goes to `failures`. */
  private async stopProcess(d: ChildProcess, pid: number, failures: string[]): Promise<void> {
    if (d.exitCode === null && d.signalCode === null) {
      try {
        this.rssAfterRuns = await rssReads([pid]);
      } catch (err) {
        failures.push((err as Error).message);
      }
      if ((await stopDaemonChild(d, 30_000)) === 'killed') {
        failures.push(`berthd (pid ${pid}) did not stop on SIGTERM within 30 s (killed): ${this.logTail()}`);
      } else if (d.exitCode !== 0)
        failures.push(`berthd (pid ${pid}) exited with ${d.exitCode ?? d.signalCode} on SIGTERM: ${this.logTail()}`);
    } else
      failures.push(`berthd (pid ${pid}) had exited on its own (${d.exitCode ?? d.signalCode}): ${this.logTail()}`);
  }

  private async stop(ctx: Context): Promise<void> {
    const failures: string[] = [];
    const d = this.daemon;
    this.daemon = undefined;
    if (this.registry !== undefined) await this.registry.close().catch((e: unknown) => failures.push(String(e)));
    this.registry = undefined;
    if (d !== undefined && d.pid !== undefined)
      await this.stopProcess(d, d.pid, failures).catch((err: unknown) =>
        failures.push(`berthd (pid ${d.pid}): ${(err as Error).message}`),
      );
    if (this.root !== undefined && this.bip !== undefined && existsSync(this.root)) {
      // the default network's bridge outlives the daemon (as docker0 does); remove it and berth's rules
      try {
        const net = await BridgeDriver.open(ctx, {
          root: this.root,
          defaultNetwork: { bridge: BERTHD_BRIDGE, ...parseBip(this.bip) },
        });
        await net.reset(ctx);
      } catch (err) {
        failures.push(`network: ${(err as Error).message}`);
      }
      const parent = `berth/${createHash('sha256').update(this.root).digest('hex').slice(0, 12)}`;
      try {
        await createCgroupManager().cleanupStale(ctx, parent);
      } catch (err) {
        failures.push(`cgroups ${parent}: ${(err as Error).message}`);
      }
    }
    const link = await deleteLinkIfPresent(BERTHD_BRIDGE);
    if (link !== undefined) failures.push(link);
    if (this.dir !== undefined) failures.push(...(await unmountAndRemove('private berthd', this.dir)));
    this.dir = undefined;
    this.root = undefined;
    this.bip = undefined;
    if (failures.length > 0) throw unavailable(`private berthd cleanup: ${failures.join('; ')}`);
  }
}
