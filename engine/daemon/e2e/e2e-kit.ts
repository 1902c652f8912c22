// What the end-to-end tests share: a test image (the host's static busybox with
// its applet links, berth's static http-server workload, an /etc/passwd naming a
// user) pushed into an embedded registry on 127.0.0.1, and a berthd started from
// its bundle with a temporary root, exec-root, socket, bridge name and free
// subnet — stopped and everything it made removed afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { workloadBinary } from '../../execdriver/workload-rootfs.js';
import { packagePath } from '../../../native/package-root.js';
import { push, type Blob } from '../../registry/client/test-registry.js';
import { createRegistryServer, type RegistryServer, type RegistryServerOptions } from '../../registry/server/index.js';
import { execa } from 'execa';
import { ApiClient } from '../../client/api-client.js';

export const BUSYBOX = '/usr/bin/busybox';
const APPLETS = [
  'sh',
  'echo',
  'cat',
  'env',
  'pwd',
  'id',
  'sleep',
  'ls',
  'true',
  'false',
  'hostname',
  'wget',
  'printf',
  'test',
  'ip',
  'kill',
  'stty',
  'grep',
  'tr',
];

function sha256(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

function blob(mediaType: string, bytes: Buffer | string): Blob {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  return { mediaType, digest: sha256(b), size: b.length, bytes: b };
}

type Entry = {
  name: string;
  type: 'directory' | 'file' | 'symlink';
  mode: number;
  content?: Buffer;
  linkname?: string;
};

async function layerTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const header = {
        name: e.name,
        type: e.type,
        mode: e.mode,
        mtime: new Date(1_700_000_000_000),
        uid: 0,
        gid: 0,
        linkname: e.linkname,
      };
      if (e.type === 'file')
        pack.entry({ ...header, size: e.content!.length }, e.content!, (err) => (err ? reject(err) : resolve()));
      else pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface TestImageSpec {
  /** The image config's `config` (Cmd, Entrypoint, Env, WorkingDir, User…). */
  config: Record<string, unknown>;
}

/** A one-layer image with busybox, its applets, http-server, /etc/passwd and /etc/group; pushed as `repo:tag`. */
export async function pushTestImage(
  registry: RegistryServer,
  repo: string,
  tag: string,
  spec: TestImageSpec,
): Promise<string> {
  const dirs = ['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'srv', 'home', 'home/app'].map((d): Entry => ({
    name: `${d}/`,
    type: 'directory',
    mode: d === 'tmp' ? 0o1777 : 0o755,
  }));
  const files: Entry[] = [
    { name: 'bin/busybox', type: 'file', mode: 0o755, content: readFileSync(BUSYBOX) },
    { name: 'bin/http-server', type: 'file', mode: 0o755, content: readFileSync(workloadBinary('http-server')) },
    {
      name: 'etc/passwd',
      type: 'file',
      mode: 0o644,
      content: Buffer.from('root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:app:/home/app:/bin/sh\n'),
    },
    { name: 'etc/group', type: 'file', mode: 0o644, content: Buffer.from('root:x:0:\napp:x:2345:\n') },
    { name: 'srv/data.txt', type: 'file', mode: 0o644, content: Buffer.from('from the image\n') },
    ...APPLETS.map((a): Entry => ({ name: `bin/${a}`, type: 'symlink', mode: 0o777, linkname: 'busybox' })),
  ];
  const layer = await layerTar([...dirs, ...files]);
  const layerBlob = blob(
    'application/vnd.docker.image.rootfs.diff.tar.gzip',
    (await import('node:zlib')).gzipSync(layer),
  );
  const config = blob(
    'application/vnd.docker.container.image.v1+json',
    JSON.stringify({
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
      os: 'linux',
      created: '2026-01-01T00:00:00Z',
      config: { Env: ['PATH=/bin'], ...spec.config },
      rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
    }),
  );
  const mt = 'application/vnd.docker.distribution.manifest.v2+json';
  const desc = (b: Blob) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size });
  const manifest = blob(
    mt,
    JSON.stringify({ schemaVersion: 2, mediaType: mt, config: desc(config), layers: [desc(layerBlob)] }),
  );
  await push(registry.url, repo, [config, layerBlob], manifest, tag);
  return `${registry.host}/${repo}:${tag}`;
}

/** A /24 no host route uses, and a bridge name, both unique to this process. */
export function freeNetwork(): { bridge: string; bip: string; subnetPrefix: string } {
  const used = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  for (let k = 0; k < 32; k++) {
    const prefix = `10.${150 + ((process.pid + 7 * k) % 80)}.${(process.pid >> 3) % 250}.`;
    if (!used.includes(prefix))
      return {
        bridge: `bd${process.pid.toString(36)}${k.toString(36)}`.slice(0, 15),
        bip: `${prefix}1/24`,
        subnetPrefix: prefix,
      };
  }
  throw new Error('no free 10.x.y.0/24 subnet for the test bridge');
}

export interface DaemonProcess {
  readonly child: ChildProcess;
  readonly socket: string;
  readonly host: string;
  readonly stderr: () => string;
  /** Resolves with the exit code (or signal) once the process ended. */
  readonly exited: Promise<number | string>;
}

export interface DaemonWorld {
  dir: string;
  root: string;
  execRoot: string;
  socket: string;
  network: { bridge: string; bip: string; subnetPrefix: string };
}

export function makeWorld(): DaemonWorld {
  const dir = mkdtempSync(join(tmpdir(), 'berthd-e2e-'));
  return {
    dir,
    root: join(dir, 'root'),
    execRoot: join(dir, 'exec'),
    socket: join(dir, 'berthd.sock'),
    network: freeNetwork(),
  };
}

/**
 * Spawns berthd's bundle for `world`; resolves once it logged that the API listens
 * (or rejects with its stderr if it exited). `env` is added to the daemon's
 * environment (BERTH_TEST_PAUSE_AT for the crash tests: engine/trace/pause-point.ts).
 */
export async function spawnDaemon(
  world: DaemonWorld,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<DaemonProcess> {
  const args = [
    packagePath('engine', 'daemon', 'bin.mjs'),
    '--root',
    world.root,
    '--exec-root',
    world.execRoot,
    '-H',
    `unix://${world.socket}`,
    '--bridge',
    world.network.bridge,
    '--bip',
    world.network.bip,
    '--log-level',
    'info',
    ...extra,
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      if (err.includes('berthd: API listening')) resolve();
    });
    void exited.then((code) => reject(new Error(`berthd exited (${code}) before listening:\n${err}`)));
  });
  return { child, socket: world.socket, host: `unix://${world.socket}`, stderr: () => err, exited };
}

/** SIGTERM (a clean shutdown) and wait for the exit; returns the exit code. */
export async function stopDaemon(d: DaemonProcess): Promise<number | string> {
  if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGTERM');
  return d.exited;
}

export async function startRegistry(dir: string): Promise<RegistryServer> {
  return createRegistryServer({ root: join(dir, 'registry'), addr: '127.0.0.1:0', logger: undefined });
}

/**
 * Removes what the daemon's networkdriver left on the host (the bridge stays up
 * after berthd exits, as docker0 does): endpoints, bridges, berth's iptables rules.
 */
export async function resetNetwork(world: DaemonWorld): Promise<void> {
  if (!existsSync(world.root)) return;
  const { BridgeDriver } = await import('../../networkdriver/network-driver.js');
  const { parseBip } = await import('../../jobs/builtins.js');
  const { background } = await import('../../trace/context.js');
  const ctx = background();
  const net = await BridgeDriver.open(ctx, {
    root: world.root,
    defaultNetwork: { bridge: world.network.bridge, ...parseBip(world.network.bip) },
  });
  await net.reset(ctx);
}

/** Unmounts anything left under `dir` (deepest first) and removes it. */
export function removeWorld(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined && m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** A running berthd with a registry beside it holding one test image, and an API client for it. */
export interface DaemonSetup {
  world: DaemonWorld;
  registry: RegistryServer;
  image: string;
  daemon: DaemonProcess;
  client: ApiClient;
  /** The further registries asked for, by name (each with its root in the world's folder). */
  registries: Record<string, RegistryServer>;
}

export interface DaemonWorldOptions {
  /** Added to berthd's command line. */
  daemonArgs?: string[];
  /** Further registries on 127.0.0.1, by name (e.g. a push target, one that wants credentials). */
  registries?: Record<string, Omit<RegistryServerOptions, 'root' | 'addr'>>;
  /** Pull the test image into berthd before the tests (they start from a daemon that has it). */
  pull?: boolean;
}

/**
 * Makes a world, starts a registry in it (and the further ones asked for), pushes `repo:tag` built from `spec`,
 * spawns berthd and, when asked, pulls the image into it. On failure undoes what it made and rethrows.
 */
export async function startDaemonWorld(
  repo: string,
  tag: string,
  spec: TestImageSpec,
  opts: DaemonWorldOptions = {},
): Promise<DaemonSetup> {
  const world = makeWorld();
  const made: Partial<DaemonSetup> = { world, registries: {} };
  try {
    made.registry = await startRegistry(world.dir);
    for (const [name, options] of Object.entries(opts.registries ?? {}))
      made.registries![name] = await createRegistryServer({
        root: join(world.dir, `registry-${name}`),
        addr: '127.0.0.1:0',
        ...options,
      });
    made.image = await pushTestImage(made.registry, repo, tag, spec);
    made.daemon = await spawnDaemon(world, opts.daemonArgs);
    made.client = new ApiClient(made.daemon.host);
    if (opts.pull === true) await made.client.pull(made.image);
    return made as DaemonSetup;
  } catch (err) {
    await stopDaemonWorld(made);
    throw err;
  }
}

/** Stops berthd and the registries, resets the host's network and removes the world; each part is optional. */
export async function stopDaemonWorld(s: Partial<DaemonSetup> | undefined): Promise<void> {
  if (s === undefined) return;
  try {
    if (s.daemon !== undefined) await stopDaemon(s.daemon);
    for (const r of [s.registry, ...Object.values(s.registries ?? {})]) await r?.close(100);
    if (s.world !== undefined) await resetNetwork(s.world);
  } finally {
    if (s.world !== undefined) removeWorld(s.world.dir);
  }
}

/** What a command printed and how it ended. */
export interface Run {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * The berth CLI (its bin, as a user runs it) against `host` — a function where a test replaces the daemon. `env` is
 * added to the environment (BERTH_CONFIG, for one); `input` is written to its stdin.
 */
export function berthCli(
  host: string | (() => string),
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): (args: string[], input?: string) => Promise<Run> {
  const bin = packagePath('engine', 'client', 'bin.cjs');
  return async (args, input) => {
    const r = await execa(bin, ['-H', typeof host === 'string' ? host : host(), ...args], {
      reject: false,
      stripFinalNewline: false,
      timeout: opts.timeoutMs ?? 120_000,
      ...(opts.env === undefined ? {} : { env: opts.env }),
      ...(input === undefined ? {} : { input }),
    });
    return { stdout: r.stdout as string, stderr: r.stderr as string, exitCode: r.exitCode ?? -1 };
  };
}

/** The docker CLIs looked for (Debian's and a newer one on PATH), each with its version when it runs here. */
export function dockerClis(): { bin: string; version: string | undefined }[] {
  return ['/usr/bin/docker', '/usr/local/bin/docker'].map((bin) => {
    if (!existsSync(bin)) return { bin, version: undefined };
    try {
      const version = execFileSync(bin, ['--version'], {
        encoding: 'utf8',
        env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent' },
      }).trim();
      return { bin, version };
    } catch {
      return { bin, version: undefined };
    }
  });
}

/** Polls `check` until it is true; a generous deadline, as the host may be busy. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** True when this host can run the end-to-end tests; else the reason. */
export function e2eSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync(BUSYBOX)) return `needs a static busybox at ${BUSYBOX}`;
  return undefined;
}

/**
 * Resolves once the daemon announced that it stopped at pause point `name` (engine/trace/pause-point.ts); rejects if it
 * exits first.
 */
export function pausedAt(d: DaemonProcess, name: string): Promise<void> {
  const line = `berth-test-pause: ${name} `;
  return new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (!d.stderr().includes(line)) return;
      d.child.stderr!.off('data', check);
      resolve();
    };
    d.child.stderr!.on('data', check);
    check();
    void d.exited.then((code) =>
      reject(new Error(`berthd exited (${code}) before pausing at ${name}:\n${d.stderr()}`)),
    );
  });
}

/** SIGKILL, then wait for the exit. */
export async function killDaemon(d: DaemonProcess): Promise<void> {
  if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL');
  await d.exited;
}

/** Graph layers on disk: folders of the graphdriver's layer directory (none once every image is gone). */
export function driverLayers(world: DaemonWorld): string[] {
  const out: string[] = [];
  for (const driver of ['overlay2', 'vfs']) {
    for (const sub of ['', 'dir']) {
      const dir = join(world.root, driver, sub);
      if (!existsSync(dir)) continue;
      // .rm-*: a removed layer's tree, deleted after the removal answered
      for (const e of readdirSync(dir, { withFileTypes: true }))
        if (e.isDirectory() && /^(\.rm-)?[0-9a-f]{64}/.test(e.name)) out.push(join(dir, e.name));
    }
  }
  return out;
}

/**
 * What a daemon of `world` has on the host besides its bridge: mounts under the
 * world's folder, host veths on its bridge, cgroups under its parent (any
 * hierarchy), iptables rules naming its bridge, processes running from its root.
 * Each entry names the kind and the thing; an empty list is a clean host.
 */
export function hostLeftovers(world: DaemonWorld): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const point = line.split(' ')[4];
    if (point !== undefined && point.startsWith(`${world.dir}/`)) out.push(`mount ${point}`);
  }
  const links = execFileSync('ip', ['-o', 'link', 'show', 'master', world.network.bridge], { encoding: 'utf8' }).trim();
  for (const l of links === '' ? [] : links.split('\n')) out.push(`veth ${l.split(':')[1]?.trim().split('@')[0]}`);
  const parent = `berth/${createHash('sha256').update(world.root).digest('hex').slice(0, 12)}`;
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', hierarchy, parent);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory()) out.push(`cgroup ${join(dir, e.name)}`);
  }
  for (const table of ['filter', 'nat']) {
    let rules = '';
    try {
      rules = execFileSync('iptables', ['-w', '-t', table, '-S'], { encoding: 'utf8' });
    } catch {
      continue; // no iptables on this host
    }
    // The bridge's own masquerade and forward rules stay with the bridge; per-container ones name a port or an address.
    for (const r of rules.split('\n'))
      if (r.includes(world.network.bridge) && /--dport|DNAT/.test(r)) out.push(`iptables ${table}: ${r}`);
  }
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const root = readlinkSync(`/proc/${pid}/root`);
      if (root.startsWith(`${world.dir}/`)) out.push(`process ${pid} (root ${root})`);
      else if (readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`/${parent}/`))
        out.push(`process ${pid} (in a cgroup under ${parent})`);
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}
