// A private dockerd for the `run` suite's docker target: its own data root (a tmpfs),
// exec root, pidfile, socket and bridge, and no iptables, forwarding or masquerade
// changes, so starting and stopping it leaves the host as it was.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  realpathSync,
} from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../../engine/client/api-client.js';
import { unavailable } from '../../engine/errdefs/errors.js';
import { makeWorkloadRootfs } from '../../engine/execdriver/workload-rootfs.js';
import { mountFs } from '../../engine/graphdriver/host-mount.js';
import { call, onPath } from '../peers/index.js';
import { privateDockerd } from '../../testkit/dockerd.js';
import { background } from '../../engine/trace/index.js';
import { childrenOf, processesNaming } from '../../engine/fsutil/processes-naming.js';
import { exited, deleteLinkIfPresent, hostLeftovers, stopDaemonChild, unmountAndRemove } from '../teardown.js';
import { idleRssReads } from './daemon-memory.js';
import { STATIC_IMAGE } from './runtime-image.js';

/** The private daemon's bridge (at most 15 characters). */
export const DOCKER_BRIDGE = `bdk${process.pid}`.slice(0, 15);

/** Why docker cannot be measured here, or undefined when dockerd and the docker CLI are installed. */
export function dockerMissing(): string | undefined {
  if (onPath('dockerd') === undefined) return 'target docker left out: dockerd not installed (not on PATH)';
  if (onPath('docker') === undefined) return 'target docker left out: the docker CLI is not installed (not on PATH)';
  return undefined;
}

/** A /24 for the bridge that no host address or route uses yet. */
async function freeSubnet(): Promise<string> {
  const used = (await call(['ip', '-4', 'route', 'show', 'table', 'all'], { captureStdout: true })).stdout;
  for (let k = 0; k < 16; k++) {
    const prefix = `10.${100 + ((process.pid + 11 * k) % 50)}.${(process.pid >> 2) % 250}.`;
    if (!used.includes(prefix)) return prefix;
  }
  throw unavailable(`docker bridge ${DOCKER_BRIDGE}: no free 10.x.y.0/24 subnet`);
}

async function mustRun(argv: string[], subject: string): Promise<string> {
  const r = await call(argv, { captureStdout: true });
  if (r.code !== 0) throw unavailable(`${subject}: ${argv.join(' ')}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * Reference-counted private dockerd. The first acquire() mounts a tmpfs data
 * root, makes bridge bdk<pid> with a free /24, starts dockerd (overlay2,
 * --iptables=false --ip-forward=false --ip-masq=false, own socket) and imports a
 * tar of the static rootfs as STATIC_IMAGE; the last release() stops dockerd and
 * its containerd (by pid), unmounts, removes the bridge and the directory (its files, trust key included, are all
 * in it: testkit/dockerd.ts). Cost: dockerd's and containerd's start-up.
 */
export class PrivateDockerd {
  private users = 0;
  private dir: string | undefined;
  private daemon: ChildProcess | undefined;
  private helpers: number[] = [];
  private bridgeMade = false;
  version: string | null = null;
  /** VmRSS reads (MiB, dockerd + its containerd) right after the start and the image import, before any case ran. */
  idleRss: number[] = [];
  /** How many processes idleRss summed (dockerd, containerd, shims). */
  idleRssProcesses = 0;

  constructor(private readonly dataRoot: string) {}

  get socket(): string {
    if (this.dir === undefined) throw new Error('private dockerd: not started');
    return join(this.dir, 'docker.sock');
  }

  /** `docker -H unix://<own socket> …args`. */
  cli(args: readonly string[]): string[] {
    return ['docker', '-H', `unix://${this.socket}`, ...args];
  }

  async acquire(): Promise<void> {
    this.users++;
    if (this.dir !== undefined) return;
    try {
      await this.start();
    } catch (err) {
      await this.stop().catch(() => undefined);
      this.users = 0;
      throw err;
    }
  }

  async release(): Promise<void> {
    if (this.users === 0) return;
    this.users--;
    if (this.users > 0) return;
    await this.stop();
  }

  private async start(): Promise<void> {
    const dir = realpathSync(mkdtempSync(join(this.dataRoot, `berth-dockerd-${process.pid}-`)));
    this.dir = dir;
    const data = join(dir, 'data');
    mkdirSync(data);
    mkdirSync(join(dir, 'exec'));
    mountFs(`dockerd data root ${data}`, 'tmpfs', data, 'tmpfs', 0, 'size=512m,mode=0711');
    const prefix = await freeSubnet();
    await mustRun(['ip', 'link', 'add', DOCKER_BRIDGE, 'type', 'bridge'], `bridge ${DOCKER_BRIDGE}`);
    this.bridgeMade = true;
    await mustRun(['ip', 'addr', 'add', `${prefix}1/24`, 'dev', DOCKER_BRIDGE], `bridge ${DOCKER_BRIDGE}`);
    await mustRun(['ip', 'link', 'set', DOCKER_BRIDGE, 'up'], `bridge ${DOCKER_BRIDGE}`);
    await this.startDaemon();
    this.version = await this.serverVersion();
    const rootfs = makeWorkloadRootfs(join(dir, 'rootfs'));
    await mustRun(['tar', '-C', rootfs, '-cf', join(dir, 'rootfs.tar'), '.'], 'static rootfs tar');
    await mustRun(this.cli(['import', join(dir, 'rootfs.tar'), STATIC_IMAGE]), `docker import ${STATIC_IMAGE}`);
    // dockerd, its containerd and any shim, found by name and folder (as the lifecycle suite reads them), read after
    // the same idle wait as berthd
    const processes = this.processes();
    this.idleRss = await idleRssReads(processes);
    this.idleRssProcesses = processes.length;
  }

  private async serverVersion(): Promise<string | null> {
    const r = await call(this.cli(['version', '--format', '{{.Server.Version}}']), { captureStdout: true });
    return r.code === 0 ? r.stdout.trim() : null;
  }

  private logTail(): string {
    try {
      return readFileSync(join(this.dir!, 'dockerd.log'), 'utf8').trim().split('\n').slice(-3).join(' | ');
    } catch {
      return '(no log)';
    }
  }

  /**
   * Starts dockerd on the kept data root (first start or a restart after stopDaemon) and waits until /_ping answers
   * (polled every 5 ms, 60 s at most). Live restore is off: the containers it records were stopped at its last stop.
   */
  async startDaemon(): Promise<void> {
    const dir = this.dir;
    if (dir === undefined) throw new Error('private dockerd: not set up');
    if (this.pid !== undefined) throw new Error(`private dockerd: already running (pid ${this.pid})`);
    const log = openSync(join(dir, 'dockerd.log'), 'a');
    let d: ChildProcess;
    try {
      const [cmd, ...args] = privateDockerd(dir, {
        flags: [
          '--bridge',
          DOCKER_BRIDGE,
          '--iptables=false',
          '--ip-forward=false',
          '--ip-masq=false',
          '--live-restore=false',
          '--storage-driver',
          'overlay2',
        ],
      }).argv;
      d = spawn(
        cmd!,
        args,
        // a process group of its own: a Ctrl-C at the terminal reaches the bench alone, which stops it in order
        { stdio: ['ignore', log, log], detached: true },
      );
    } finally {
      closeSync(log);
    }
    this.daemon = d;
    const client = new ApiClient(`unix://${this.socket}`);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (d.exitCode !== null || d.signalCode !== null)
        throw unavailable(`private dockerd: exited at start (${d.exitCode ?? d.signalCode}): ${this.logTail()}`);
      if (
        existsSync(this.socket) &&
        (await client.ping().then(
          () => true,
          () => false,
        ))
      )
        break;
      if (Date.now() > deadline)
        throw unavailable(`private dockerd: no answer to /_ping after 60 s: ${this.logTail()}`);
      await new Promise((res) => setTimeout(res, 5));
    }
    this.helpers = [...new Set([...this.helpers, ...childrenOf(d.pid!)])];
  }

  /**
   * Stops dockerd alone, keeping its data root (SIGTERM: with live restore off it stops its containers, then its
   * containerd; SIGKILL and an error after 20 s). Resolves once dockerd and its containerd are gone.
   */
  async stopDaemon(): Promise<void> {
    const d = this.daemon;
    if (d === undefined || d.pid === undefined) return;
    this.daemon = undefined;
    const helpers = [...new Set([...this.helpers, ...childrenOf(d.pid)])];
    this.helpers = helpers;
    if ((await stopDaemonChild(d, 20_000)) === 'killed')
      throw unavailable(
        `private dockerd (pid ${d.pid}) did not stop on SIGTERM within 20 s (killed): ${this.logTail()}`,
      );
    const alive = helpers.filter((pid) => existsSync(`/proc/${pid}`) && this.naming(pid));
    if (alive.length > 0)
      throw unavailable(`private dockerd: its containerd (pid ${alive.join(', ')}) outlived dockerd's stop`);
  }

  /** Whether process `pid` names this daemon's folder in its command line. */
  private naming(pid: number): boolean {
    try {
      return this.dir !== undefined && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(this.dir);
    } catch {
      return false;
    }
  }

  /** dockerd's pid while it runs. */
  get pid(): number | undefined {
    const d = this.daemon;
    return d === undefined || d.exitCode !== null || d.signalCode !== null ? undefined : d.pid;
  }

  /**
   * The daemon's processes now: dockerd, its containerd and every containerd-shim
   * (one per running container), found in /proc by name and by a command line that
   * names this daemon's directory (so another dockerd's are never counted).
   */
  processes(): number[] {
    const dir = this.dir;
    if (dir === undefined || this.daemon?.pid === undefined) return [];
    const out: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
        if (comm !== 'dockerd' && comm !== 'containerd' && !comm.startsWith('containerd-shim')) continue;
        if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) out.push(Number(entry));
      } catch {
        // gone meanwhile
      }
    }
    return out;
  }

  /** Containers the daemon still has (a `run --rm` leaves none). */
  async containers(): Promise<string[]> {
    const out = await mustRun(this.cli(['ps', '-aq']), 'docker ps');
    return out.split('\n').filter((l) => l.trim() !== '');
  }

  private async stop(): Promise<void> {
    const failures: string[] = [];
    const d = this.daemon;
    this.daemon = undefined;
    if (d !== undefined && d.pid !== undefined) {
      if (d.exitCode === null && d.signalCode === null) {
        this.helpers = [...new Set([...this.helpers, ...childrenOf(d.pid)])];
        if ((await stopDaemonChild(d, 20_000)) === 'killed')
          failures.push('dockerd did not stop on SIGTERM within 20 s (killed)');
      }
      // its containerd stops with it; one that did not is killed by its pid
      for (const pid of this.helpers) {
        try {
          // only while it is still the daemon's helper (its command line names our directory)
          if (this.dir !== undefined && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(this.dir))
            process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      this.helpers = [];
    }
    const dir = this.dir;
    if (dir !== undefined) {
      // shims of containers a dockerd that died did not stop name our folder (their socket address)
      for (const pid of processesNaming(dir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      failures.push(...(await unmountAndRemove('private dockerd', dir)));
      this.dir = undefined;
    }
    if (this.bridgeMade) {
      const link = await deleteLinkIfPresent(DOCKER_BRIDGE);
      if (link !== undefined) failures.push(link);
      this.bridgeMade = false;
    }
    // nothing of it may stay: its bridge, mounts, folder, processes naming the folder (no iptables: --iptables=false)
    const left = await hostLeftovers(background(), { bridge: DOCKER_BRIDGE, dir });
    if (left.length > 0) failures.push(`left on the host: ${left.join('; ')}`);
    if (failures.length > 0) throw unavailable(`private dockerd cleanup: ${failures.join('; ')}`);
  }
}
