// podman as the workload suite's third target: `podman system service` on a socket of
// its own, speaking the Docker API the api-level cases send, with a private storage
// root (tmpfs), run root, tmpdir, cgroupfs, the file events backend, an empty network
// config folder and the ulimits this host needs (docs/host-notes.md), all from a
// containers.conf and registries.conf of its own; stopped by pid and removed afterwards.
// With a bridge network (podman-network.ts) netavark is its network backend and that
// network its default, so `run -p` and the API's `bridge` mode land on it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApiClient } from '../../engine/client/api-client.js';
import { unavailable } from '../../engine/errdefs/errors.js';
import { MNT_DETACH, mountFs, unmount } from '../../engine/graphdriver/host-mount.js';
import { mountsUnder } from '../../engine/graphdriver/mountinfo.js';
import { onPath } from '../peers/index.js';
import { background } from '../../engine/trace/index.js';
import { processesNaming } from '../../engine/fsutil/processes-naming.js';
import { exited, hostLeftovers, Teardown } from '../teardown.js';
import {
  netavarkChains,
  netavarkMissing,
  networkFile,
  planNetwork,
  removeNetworkLeftovers,
  type PodmanNetwork,
} from './podman-network.js';

const execFileAsync = promisify(execFile);

/** Why podman cannot be measured here, or undefined when it is installed. */
export function podmanMissing(): string | undefined {
  if (onPath('podman') === undefined)
    return 'target podman left out: podman not installed (not on PATH; apt-get install podman)';
  return undefined;
}

/**
 * The cgroup folders podman's cgroupfs manager makes for its containers' parent and conmon, per hierarchy (deepest
 * first).
 */
function libpodCgroups(): string[] {
  const root = '/sys/fs/cgroup';
  let hierarchies: string[];
  try {
    hierarchies = readdirSync(root).map((h) => join(root, h));
  } catch {
    return [];
  }
  if (hierarchies.some((h) => h.endsWith('cgroup.controllers'))) hierarchies = [root];
  return hierarchies.flatMap((h) => [join(h, 'libpod_parent', 'conmon'), join(h, 'libpod_parent')]);
}

/**
 * A private `podman system service`. start() writes its config files, mounts a tmpfs
 * storage root and starts the service until /_ping answers; stop() removes its
 * containers over the API, stops the service (SIGTERM, SIGKILL after 20 s), kills
 * conmon and container processes still naming its folder, unmounts and removes it.
 */
export class PrivatePodman {
  private dir: string | undefined;
  /** The run root: a short path of its own (podman refuses a runroot longer than 50 characters). */
  private runRoot: string | undefined;
  private service: ChildProcess | undefined;
  /** libpod cgroup folders that existed before the service started (left alone at stop). */
  private cgroupsBefore = new Set<string>();
  version: string | null = null;
  /** The bridge network while started with `{ network: true }`. */
  network: PodmanNetwork | undefined;
  /** NETAVARK chains (`table/chain`) on the host before the service started. */
  private chainsBefore = new Set<string>();
  /** Network namespace files of the containers seen, for the removal of any podman left. */
  private readonly sandboxes = new Set<string>();

  constructor(
    private readonly dataRoot: string,
    private readonly options: { network?: boolean } = {},
  ) {}

  get socket(): string {
    if (this.dir === undefined) throw new Error('private podman: not started');
    return join(this.dir, 'podman.sock');
  }

  get host(): string {
    return `unix://${this.socket}`;
  }

  /** `podman --url unix://… …args` (the remote client against the private service). */
  cli(args: readonly string[]): string[] {
    return ['podman', '--url', this.host, ...args];
  }

  async containers(): Promise<string[]> {
    return (await new ApiClient(this.host).containerList({ all: true })).map((c) => c.Id);
  }

  /** Starts the service; `registry` (`127.0.0.1:PORT`) is configured as a plain-HTTP registry. */
  async start(registry: string): Promise<void> {
    try {
      await this.startService(registry);
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  private async startService(registry: string): Promise<void> {
    if (this.options.network === true) {
      const missing = netavarkMissing();
      if (missing !== undefined) throw unavailable(missing);
      this.chainsBefore = netavarkChains();
      this.network = await planNetwork();
    }
    const net = this.network;
    this.cgroupsBefore = new Set(libpodCgroups().filter((d) => existsSync(d)));
    const dir = realpathSync(mkdtempSync(join(this.dataRoot, `berth-podman-${process.pid}-`)));
    this.dir = dir;
    for (const d of ['root', 'tmp', 'net']) mkdirSync(join(dir, d), { mode: 0o700 });
    const run = mkdtempSync(join(existsSync('/run') ? '/run' : tmpdir(), `bpm${process.pid}-`));
    this.runRoot = run;
    mountFs(`podman storage root ${join(dir, 'root')}`, 'tmpfs', join(dir, 'root'), 'tmpfs', 0, 'size=1536m,mode=0700');
    writeFileSync(
      join(dir, 'containers.conf'),
      [
        '[containers]',
        'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]',
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        // crun refuses this host's hybrid cgroup layout (docs/host-notes.md); runc runs on it
        'runtime = "runc"',
        'events_logger = "file"',
        `tmp_dir = "${join(dir, 'tmp')}"`,
        '[network]',
        `network_config_dir = "${join(dir, 'net')}"`,
        ...(net === undefined
          ? []
          : ['network_backend = "netavark"', `default_network = "${net.name}"`, `default_subnet = "${net.subnet}"`]),
        '',
      ].join('\n'),
    );
    if (net !== undefined) writeFileSync(join(dir, 'net', `${net.name}.json`), networkFile(net));
    writeFileSync(
      join(dir, 'registries.conf'),
      `unqualified-search-registries = []\n[[registry]]\nlocation = "${registry}"\ninsecure = true\n`,
    );
    writeFileSync(
      join(dir, 'storage.conf'),
      `[storage]\ndriver = "overlay"\ngraphroot = "${join(dir, 'root')}"\nrunroot = "${run}"\n`,
    );
    writeFileSync(join(dir, 'policy.json'), '{"default":[{"type":"insecureAcceptAnything"}]}\n');
    await this.spawnService();
    const v = (await new ApiClient(this.host).call<{ Version?: string }>('GET', '/version').catch(() => ({}))) as {
      Version?: string;
    };
    this.version = v.Version ?? null;
  }

  /** Starts `podman system service` on the prepared roots and waits until /_ping answers (60 s at most). */
  private async spawnService(): Promise<void> {
    const dir = this.dir!;
    const log = openSync(join(dir, 'podman.log'), 'a');
    try {
      this.service = spawn('podman', [...this.globalFlags(), 'system', 'service', '--time', '0', this.host], {
        stdio: ['ignore', log, log],
        env: this.env(),
        // a process group of its own: a Ctrl-C at the terminal reaches the bench alone, which stops it in order
        detached: true,
      });
    } finally {
      closeSync(log);
    }
    const client = new ApiClient(this.host);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const s = this.service;
      if (s.exitCode !== null || s.signalCode !== null)
        throw unavailable(`private podman service: exited at start (${s.exitCode ?? s.signalCode}): ${this.logTail()}`);
      if (
        await client.ping().then(
          () => true,
          () => false,
        )
      )
        break;
      if (Date.now() > deadline)
        throw unavailable(`private podman service: no answer to /_ping after 60 s: ${this.logTail()}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The service's pid while it runs. */
  get pid(): number | undefined {
    const s = this.service;
    return s === undefined || s.exitCode !== null || s.signalCode !== null ? undefined : s.pid;
  }

  /**
   * Stops the service alone (SIGTERM; SIGKILL and an error after 20 s): its containers keep running under their
   * conmon, as they do when podman's service ends.
   */
  async stopService(): Promise<void> {
    const s = this.service;
    if (s === undefined || this.pid === undefined) return;
    s.kill('SIGTERM');
    if (await exited(s, 20_000)) return;
    s.kill('SIGKILL');
    await exited(s, 5_000);
    throw unavailable(`private podman service: pid ${s.pid} did not stop on SIGTERM within 20 s (killed)`);
  }

  /** Starts the service again on the same roots (after stopService), until /_ping answers. */
  async restartService(): Promise<void> {
    if (this.dir === undefined) throw new Error('private podman: not started');
    if (this.pid !== undefined) throw new Error(`private podman: the service (pid ${this.pid}) still runs`);
    await this.spawnService();
  }

  /** The global flags naming the private roots and config (the service's, and the local CLI's at cleanup). */
  private globalFlags(): string[] {
    const dir = this.dir!;
    return [
      '--root',
      join(dir, 'root'),
      '--runroot',
      this.runRoot!,
      '--tmpdir',
      join(dir, 'tmp'),
      '--storage-driver',
      'overlay',
      '--cgroup-manager',
      'cgroupfs',
      '--events-backend',
      'file',
      '--network-config-dir',
      join(dir, 'net'),
    ];
  }

  private env(): NodeJS.ProcessEnv {
    const dir = this.dir!;
    return {
      ...process.env,
      CONTAINERS_CONF: join(dir, 'containers.conf'),
      CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
      CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
      CONTAINERS_POLICY_JSON: join(dir, 'policy.json'),
      XDG_RUNTIME_DIR: this.runRoot!,
    };
  }

  /** podman itself (not the remote client) on the private roots, once the service is gone; its stdout. */
  private async local(args: readonly string[]): Promise<string> {
    try {
      const { stdout } = await execFileAsync('podman', [...this.globalFlags(), ...args], {
        env: this.env(),
        timeout: 120_000,
      });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`podman ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
    }
  }

  /** Remembers the network namespace file of every container the service has (before they are removed). */
  private async noteSandboxes(client: ApiClient, ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const info = (await client.containerInspect(id).catch(() => undefined)) as
        { NetworkSettings?: { SandboxKey?: string } } | undefined;
      const key = info?.NetworkSettings?.SandboxKey;
      if (key !== undefined && key !== '') this.sandboxes.add(key);
    }
  }

  /**
   * The pids whose memory is podman's: the service and every conmon (one per running container) naming its roots;
   * the containers' own processes are not counted.
   */
  processes(): number[] {
    const s = this.service;
    if (s?.pid === undefined || this.dir === undefined) return [];
    const conmons = [
      ...processesNaming(this.dir),
      ...(this.runRoot === undefined ? [] : processesNaming(this.runRoot)),
    ].filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'conmon';
      } catch {
        return false;
      }
    });
    return [s.pid, ...new Set(conmons)];
  }

  logTail(): string {
    try {
      return readFileSync(join(this.dir!, 'podman.log'), 'utf8').trim().split('\n').slice(-3).join(' | ');
    } catch {
      return '(no log)';
    }
  }

  async stop(): Promise<void> {
    try {
      await this.stopAll();
    } finally {
      if (this.runRoot !== undefined) rmSync(this.runRoot, { recursive: true, force: true });
      this.runRoot = undefined;
    }
  }

  /** Removes the containers the service left, with podman itself on the private roots (their networks torn down). */
  private async removeLeft(): Promise<void> {
    const ids = (await this.local(['ps', '-aq', '--no-trunc'])).split('\n').filter((l) => l.trim() !== '');
    if (ids.length === 0) return;
    const keys = await this.local(['inspect', '--format', '{{.NetworkSettings.SandboxKey}}', ...ids]);
    for (const k of keys.split('\n')) if (k.trim() !== '') this.sandboxes.add(k.trim());
    await this.local(['rm', '-f', '-a']);
  }

  private async stopAll(): Promise<void> {
    const t = new Teardown();
    const s = this.service;
    this.service = undefined;
    let apiFailure: string | undefined;
    if (s !== undefined && s.pid !== undefined && s.exitCode === null && s.signalCode === null) {
      try {
        const client = new ApiClient(this.host);
        const ids = await this.containers();
        await this.noteSandboxes(client, ids);
        for (const id of ids) await client.containerRemove(id, { force: true });
      } catch (err) {
        // the local removal below takes what is left; a failure there is the one reported
        apiFailure = (err as Error).message;
      }
      s.kill('SIGTERM');
      if (!(await exited(s, 20_000))) {
        s.kill('SIGKILL');
        await exited(s, 5_000);
        await t.attempt('podman service', async () => {
          throw new Error(`pid ${s.pid} did not stop on SIGTERM within 20 s (killed)`);
        });
      }
    }
    if (this.dir !== undefined && this.runRoot !== undefined && existsSync(join(this.dir, 'containers.conf'))) {
      // containers the service did not remove (it failed or died): podman's own removal tears their network down
      await t.attempt('containers left', () =>
        this.removeLeft().catch((err: unknown) => {
          const msg = (err as Error).message;
          throw new Error(apiFailure === undefined ? msg : `over the API: ${apiFailure}; then ${msg}`);
        }),
      );
    }
    if (this.dir !== undefined) {
      const dir = this.dir;
      // conmon and container processes outlive the service; ours name our folders
      for (const pid of [
        ...processesNaming(dir),
        ...(this.runRoot === undefined ? [] : processesNaming(this.runRoot)),
      ]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      const bridge = this.network?.bridge;
      if (this.network !== undefined) {
        const n = this.network;
        await t.attempt('network', () => removeNetworkLeftovers(n, this.chainsBefore, this.sandboxes));
        this.network = undefined;
        this.sandboxes.clear();
      }
      for (const m of (await mountsUnder(dir).catch(() => [] as string[])).reverse()) {
        await t.attempt(`unmount ${m}`, async () => unmount(`private podman ${m}`, m, MNT_DETACH));
      }
      if (this.runRoot !== undefined) {
        for (const m of (await mountsUnder(this.runRoot).catch(() => [] as string[])).reverse()) {
          await t.attempt(`unmount ${m}`, async () => unmount(`private podman ${m}`, m, MNT_DETACH));
        }
      }
      rmSync(dir, { recursive: true, force: true });
      this.dir = undefined;
      // the parent cgroups podman made for containers and conmon, when they were not there before and are empty now
      for (const d of libpodCgroups()) {
        if (this.cgroupsBefore.has(d) || !existsSync(d)) continue;
        await t.attempt(`cgroup ${d}`, async () => {
          try {
            rmdirSync(d);
          } catch (err) {
            // another podman on the host has containers under it now: it is theirs to leave
            const code = (err as NodeJS.ErrnoException).code;
            if (code !== 'EBUSY' && code !== 'ENOTEMPTY') throw err;
          }
        });
      }
      // nothing of it may stay: its bridge and the rules naming it, mounts, folders, processes naming them
      const run = this.runRoot;
      await t.attempt('left on the host', async () => {
        const left = [
          ...(await hostLeftovers(background(), { bridge, dir })),
          ...(run === undefined ? [] : await hostLeftovers(background(), { dir: run })).filter(
            (l) => !l.startsWith('folder '),
          ),
        ];
        if (left.length > 0) throw new Error([...new Set(left)].join('; '));
      });
    }
    t.finish('private podman cleanup');
  }
}
