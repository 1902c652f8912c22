// Docker's bridge as the network bench's comparison: a dockerd of the suite's own
// (own data/exec root, pid file, socket and bridge; --iptables=false so it changes
// no host rules), two containers of a one-binary image, all removed afterwards.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { wrap } from '../../engine/errdefs/errors.js';
import { hostRoutes } from '../../engine/networkdriver/host-routes.js';
import { runSteps } from '../../engine/networkdriver/netlink-ops.js';
import { overlaps, parseSubnet } from '../../engine/networkdriver/subnet.js';
import type { Context } from '../../engine/trace/index.js';
import { native } from '../../native/index.js';
import { freeLoopbackPorts } from './network-procs.js';
import {
  CONTAINER_PORTS,
  TRAFFIC_PATHS,
  type Endpoints,
  type TrafficPath,
  type TrafficTarget,
} from './network-traffic.js';
import type { BenchNetns } from './network-world.js';
import { Teardown } from '../teardown.js';
import { privateDockerd } from '../../testkit/dockerd.js';
import { SharedSetup } from './shared-setup.js';

/** The static sleep binary the image holds (native/workloads, built with the addon). */
const SLEEP_BIN = fileURLToPath(new URL('../../native/workloads/bin/sleep', import.meta.url));
/** The bridge dockerd is given (it creates none of its own). */
export const DOCKER_BENCH_BRIDGE = `bnd${process.pid}`.slice(0, 15);
const IMAGE = 'berthbench-sleep:1';

/** Why Docker cannot be measured here, or undefined when it can. */
export function dockerUnavailable(): string | undefined {
  const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  if (!has('dockerd', ['--version'])) return 'dockerd not installed (apt-get install docker.io)';
  if (!has('docker', ['--version'])) return 'docker CLI not installed';
  if (spawnSync('test', ['-x', SLEEP_BIN]).status !== 0)
    return `the static workload ${SLEEP_BIN} is not built (native/workloads/build.sh)`;
  return undefined;
}

interface DockerContainer {
  name: string;
  ns: BenchNetns;
  address: string;
}

/**
 * Two containers A and B on a private dockerd's default bridge network. Docker
 * publishes A's iperf3 and ping-pong ports on 127.0.0.1, which Docker serves
 * through docker-proxy (as it does for loopback clients with iptables too). The
 * traffic servers run in the containers' namespaces (nsenter by the container's
 * pid), so the same host binaries serve berth's and Docker's containers.
 */
export class DockerEnv implements TrafficTarget {
  readonly target = 'docker';
  readonly paths: readonly TrafficPath[] = TRAFFIC_PATHS.filter((p) => p !== 'loopback');
  /** dockerd's default MTU for its bridge network's veths (--mtu is not passed). */
  readonly mtu = 1500;
  readonly description =
    "Docker 20.10's default bridge network on a dockerd of the suite's own (--bridge of its own, --iptables=false: published 127.0.0.1 ports through docker-proxy)";
  private readonly shared = new SharedSetup(
    (ctx) => this.build(ctx),
    (ctx) => this.teardown(ctx),
  );
  private dir: string | undefined;
  private daemon: ChildProcess | undefined;
  private bridgeMade = false;
  private readonly containers: DockerContainer[] = [];
  private published = { iperf: 0, pingpong: 0 };

  constructor(private readonly dataRoot: string) {}

  private get socket(): string {
    return join(this.dir!, 'docker.sock');
  }

  private docker(args: string[], timeoutMs = 60_000) {
    return execa('docker', ['-H', `unix://${this.socket}`, ...args], { reject: false, timeout: timeoutMs });
  }

  private async must(args: string[], what: string): Promise<string> {
    const r = await this.docker(args);
    if (r.failed) throw new Error(`docker ${what}: ${String(r.stderr).trim() || r.shortMessage}`);
    return String(r.stdout).trim();
  }

  async acquire(ctx: Context): Promise<void> {
    try {
      await this.shared.acquire(ctx);
    } catch (err) {
      throw wrap(err, 'network bench docker');
    }
  }

  private async build(ctx: Context): Promise<void> {
    // unix socket paths are short (108 bytes): a long data root falls back to the temp dir
    const parent = join(this.dataRoot, 'x'.repeat(40)).length < 80 ? this.dataRoot : os.tmpdir();
    this.dir = await mkdtemp(join(parent, 'berth-netbench-docker-'));
    const subnet = await this.freeSubnet();
    this.bridgeMade = true;
    await runSteps(ctx, [
      { op: 'bridge.create', name: DOCKER_BENCH_BRIDGE },
      { op: 'addr.add', name: DOCKER_BENCH_BRIDGE, address: subnet.replace(/0\/24$/, '1'), prefix: 24 },
      { op: 'link.up', name: DOCKER_BENCH_BRIDGE },
    ]);
    const log = join(this.dir, 'dockerd.log');
    const { openSync, closeSync } = await import('node:fs');
    const fd = openSync(log, 'a');
    try {
      const [cmd, ...args] = privateDockerd(this.dir, {
        flags: [
          '--bridge',
          DOCKER_BENCH_BRIDGE,
          '--iptables=false',
          '--ip-forward=false',
          '--ip-masq=false',
          '--storage-driver',
          'vfs',
          '--log-level',
          'warn',
        ],
      }).argv;
      this.daemon = spawn(cmd!, args, { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    const exited = new Promise<void>((resolve) => this.daemon!.once('exit', () => resolve()));
    let ready = false;
    for (let i = 0; i < 150 && !ready; i++) {
      if (this.daemon.exitCode !== null) break;
      ready = (await this.docker(['version', '--format', '{{.Server.Version}}'], 5_000)).exitCode === 0;
      if (!ready) await Promise.race([exited, new Promise((r) => setTimeout(r, 200))]);
    }
    if (!ready)
      throw new Error(
        `dockerd did not come up: ${(await readFile(log, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' | ')}`,
      );

    const img = join(this.dir, 'image');
    await mkdir(img);
    await copyFile(SLEEP_BIN, join(img, 'sleep'));
    const tarPath = join(this.dir, 'image.tar');
    const tar = await execa('tar', ['-C', img, '-cf', tarPath, 'sleep'], { reject: false });
    if (tar.failed) throw new Error(`image tar: ${String(tar.stderr).trim()}`);
    await this.must(['import', '-c', 'CMD ["/sleep"]', tarPath, IMAGE], 'import');

    [this.published.iperf, this.published.pingpong] = await freeLoopbackPorts(2);
    for (const which of ['a', 'b'] as const) {
      const name = `berthbench-${process.pid}-${which}`;
      const ports =
        which === 'a'
          ? [
              '-p',
              `127.0.0.1:${this.published.iperf}:${CONTAINER_PORTS['published-port'].iperf}`,
              '-p',
              `127.0.0.1:${this.published.pingpong}:${CONTAINER_PORTS['published-port'].pingpong}`,
            ]
          : [];
      await this.must(['run', '-d', '--name', name, ...ports, IMAGE], `run ${name}`);
      const [pid, address] = (
        await this.must(['inspect', '-f', '{{.State.Pid}} {{.NetworkSettings.IPAddress}}', name], `inspect ${name}`)
      ).split(' ');
      if (!pid || pid === '0' || !address)
        throw new Error(`docker container ${name}: no pid or address (${pid} ${address})`);
      this.containers.push({ name, ns: { name, path: `/proc/${pid}/ns/net` }, address });
    }
  }

  /** A /24 next to the berth bench's range that no host route uses. */
  private async freeSubnet(): Promise<string> {
    const routes = await hostRoutes();
    const pid = process.pid;
    for (let k = 0; k < 16; k++) {
      const cidr = `10.${150 + ((pid + 11 * k + 3) % 50)}.${((pid >> 3) + 100 + k) % 250}.0/24`;
      const subnet = parseSubnet(cidr);
      if (!routes.some((r) => overlaps(subnet, r.subnet))) return cidr;
    }
    throw new Error('no free 10.x /24 for the docker bench bridge');
  }

  /**
   * The last user removes the containers, stops dockerd by pid (TERM, then KILL
   * after 20 s), unmounts anything left under its directory, deletes its bridge
   * and the directory (which holds all of dockerd's files, its trust key too). Collects
   * failures and throws one after trying everything.
   */
  release(ctx: Context): Promise<void> {
    return this.shared.release(ctx);
  }

  private async teardown(ctx: Context): Promise<void> {
    const teardown = new Teardown();
    const attempt = (what: string, fn: () => Promise<unknown>) => teardown.attempt(what, fn);
    const daemon = this.daemon;
    this.daemon = undefined;
    if (daemon !== undefined && daemon.exitCode === null && daemon.signalCode === null) {
      const names = this.containers.map((c) => c.name);
      if (names.length > 0) await attempt('docker rm', () => this.must(['rm', '-f', ...names], 'rm'));
      await attempt('stop dockerd', () => stopByPid(daemon, 20_000));
    }
    this.containers.length = 0;
    if (this.dir !== undefined) {
      const dir = this.dir;
      await attempt(`unmount under ${dir}`, () => unmountUnder(dir));
      await attempt(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
      this.dir = undefined;
    }
    if (this.bridgeMade) {
      this.bridgeMade = false;
      await attempt(`bridge ${DOCKER_BENCH_BRIDGE}`, () =>
        runSteps(ctx, [{ op: 'link.delete', name: DOCKER_BENCH_BRIDGE, ifMissingOk: true }]),
      );
    }
    teardown.finish('network bench docker cleanup');
  }

  endpoints(path: TrafficPath, tool: 'iperf' | 'pingpong'): Endpoints {
    const [a, b] = this.containers;
    if (a === undefined || b === undefined) throw new Error('network bench docker: containers not running');
    const inner = path === 'loopback' ? 0 : CONTAINER_PORTS[path][tool];
    switch (path) {
      case 'host-to-container':
        return {
          serverNs: a.ns,
          clientNs: undefined,
          host: a.address,
          port: inner,
          listenHost: '0.0.0.0',
          listenPort: inner,
        };
      case 'container-to-container':
        return {
          serverNs: a.ns,
          clientNs: b.ns,
          host: a.address,
          port: inner,
          listenHost: '0.0.0.0',
          listenPort: inner,
        };
      case 'published-port':
        return {
          serverNs: a.ns,
          clientNs: undefined,
          host: '127.0.0.1',
          port: this.published[tool],
          listenHost: '0.0.0.0',
          listenPort: inner,
        };
      default:
        throw new Error(`network bench docker: no ${path} path (loopback is berth's reference)`);
    }
  }
}

/** SIGTERM by pid, SIGKILL after graceMs; resolves when it exited. */
async function stopByPid(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const done = await Promise.race([
    exited.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), graceMs)),
  ]);
  if (!done) {
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }
}

/** Lazily unmounts every mount at or below dir, deepest first (MNT_DETACH). */
async function unmountUnder(dir: string): Promise<void> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((x, y) => y.length - x.length);
  for (const p of points) native().umount2(p, 2);
}
