// The engines and tools a berth pull is compared with on the same registry:
// skopeo (copy into an OCI layout), dockerd (started by the bench with its own
// roots and socket, stopped by pid) and podman (only when installed).
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { unavailable, wrap } from '../../engine/errdefs/errors.js';
import { onPath } from '../../engine/fsutil/on-path.js';
import { native } from '../../native/index.js';
import { privateDockerd } from '../../testkit/dockerd.js';

/** The first line a command prints for `args`, or undefined when it does not run. */
export function toolVersion(cmd: string, args: string[] = ['--version']): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined || r.status !== 0) return undefined;
  return (r.stdout || r.stderr).trim().split('\n')[0];
}

/** Why a peer cannot be measured here, or undefined when it can. */
export function peerUnavailable(peer: 'skopeo' | 'docker' | 'podman'): string | undefined {
  if (peer === 'skopeo')
    return toolVersion('skopeo') === undefined ? 'skopeo not installed (apt-get install skopeo)' : undefined;
  if (peer === 'podman')
    return toolVersion('podman') === undefined ? 'podman not installed (apt-get install podman)' : undefined;
  if (process.getuid?.() !== 0) return 'dockerd needs root';
  if (onPath(DOCKERD) === undefined || onPath(DOCKER_CLI) === undefined)
    return `docker.io not installed (${DOCKERD} and ${DOCKER_CLI} on PATH; apt-get install docker.io)`;
  return undefined;
}

/** A policy.json accepting any image, for skopeo and podman. */
export async function writePolicy(dir: string): Promise<string> {
  const path = join(dir, 'policy.json');
  await writeFile(path, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  return path;
}

/**
 * `skopeo copy docker://HOST/REPO:TAG oci:DIR:TAG` with TLS verification off:
 * fetches the manifest, config and layer blobs and verifies their digests into an
 * OCI layout (no decompression, no extraction). Fails with skopeo's stderr.
 */
export async function skopeoCopy(policy: string, source: string, dir: string, tag: string): Promise<void> {
  const r = await execa(
    'skopeo',
    ['--policy', policy, 'copy', '-q', '--src-tls-verify=false', `docker://${source}`, `oci:${dir}:${tag}`],
    { reject: false, stdin: 'ignore' },
  );
  if (r.failed) throw unavailable(`skopeo copy ${source}: ${String(r.stderr || r.shortMessage).trim()}`);
}

/** Docker's daemon and CLI, found on PATH. */
export const DOCKERD = 'dockerd';
export const DOCKER_CLI = 'docker';

/**
 * A dockerd of the bench's own (testkit/dockerd.ts): data root on the bench's store, exec root, pid file,
 * config, trust key and unix socket in a private temporary folder, no bridge, no iptables, the embedded registry as
 * an insecure registry. stop() ends it by pid.
 */
export class BenchDockerd {
  private daemon: ResultPromise | undefined;
  private runDir = '';

  private constructor(
    readonly dataRoot: string,
    readonly storageDriver: string,
  ) {}

  get socket(): string {
    return join(this.runDir, 'docker.sock');
  }

  /**
   * Starts dockerd and waits until it answers (≤ 60 s). On failure it is stopped
   * again and its folders removed; the error names dockerd and its log.
   */
  static async start(dataRoot: string, registryHost: string, storageDriver: string): Promise<BenchDockerd> {
    const d = new BenchDockerd(dataRoot, storageDriver);
    d.runDir = await mkdtemp(join(os.tmpdir(), `bpd-${process.pid}-`));
    try {
      await mkdir(join(d.runDir, 'cli'));
      await writeFile(join(d.runDir, 'cli', 'config.json'), '{}');
      await mkdir(dataRoot, { recursive: true });
      const [cmd, ...args] = privateDockerd(d.runDir, {
        dataRoot,
        flags: [
          '--bridge=none',
          '--iptables=false',
          '--ip-masq=false',
          '--insecure-registry',
          registryHost,
          `--storage-driver=${storageDriver}`,
          '--log-level=error',
        ],
      }).argv;
      d.daemon = execa(cmd!, args, {
        reject: false,
        stdin: 'ignore',
        stdout: { file: join(d.runDir, 'dockerd.log') },
        stderr: { file: join(d.runDir, 'dockerd.err') },
      });
      const deadline = Date.now() + 60_000;
      for (;;) {
        const ping = await d.docker(['version', '--format', '{{.Server.Version}}'], 10_000).catch(() => undefined);
        if (ping !== undefined) break;
        if (Date.now() > deadline || (d.daemon.exitCode !== undefined && d.daemon.exitCode !== null)) {
          const log = await readFile(join(d.runDir, 'dockerd.err'), 'utf8').catch(() => '');
          throw unavailable(`dockerd did not start: ${log.trim().split('\n').slice(-3).join(' | ')}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      return d;
    } catch (err) {
      await d.stop().catch(() => undefined);
      throw wrap(err, 'pull bench: dockerd');
    }
  }

  /** Runs the docker CLI against this daemon; throws naming the command with its stderr. */
  async docker(args: string[], timeout = 300_000): Promise<string> {
    const r = await execa(DOCKER_CLI, ['-H', `unix://${this.socket}`, ...args], {
      env: { DOCKER_CONFIG: join(this.runDir, 'cli') },
      reject: false,
      stdin: 'ignore',
      timeout,
    });
    if (r.failed) throw unavailable(`docker ${args[0]}: ${String(r.stderr || r.shortMessage).trim()}`);
    return String(r.stdout);
  }

  /** `docker pull REF` (quiet). */
  async pull(ref: string): Promise<void> {
    await this.docker(['pull', '-q', ref]);
  }

  /** Removes the image and prunes every unused one, so the next pull is cold. Idempotent. */
  async forget(ref: string): Promise<void> {
    await this.docker(['rmi', '-f', ref]).catch(() => undefined);
    await this.docker(['image', 'prune', '-a', '-f']);
  }

  /**
   * Stops dockerd by its pid (SIGTERM, SIGKILL after 30 s), ends its managed
   * containerd by pid if it outlived it, unmounts what is left under its roots,
   * removes its folders. Idempotent.
   */
  async stop(): Promise<void> {
    const daemon = this.daemon;
    this.daemon = undefined;
    if (daemon?.pid !== undefined && (daemon.exitCode === null || daemon.exitCode === undefined)) {
      const containerdPid = await readFile(join(this.runDir, 'exec', 'containerd', 'containerd.pid'), 'utf8').then(
        (t) => Number(t.trim()),
        () => undefined,
      );
      try {
        process.kill(daemon.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          process.kill(daemon.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 30_000);
      await daemon;
      clearTimeout(timer);
      if (
        containerdPid !== undefined &&
        Number.isInteger(containerdPid) &&
        containerdPid > 0 &&
        isAlive(containerdPid)
      ) {
        const cmdline = await readFile(`/proc/${containerdPid}/cmdline`, 'utf8').catch(() => '');
        if (cmdline.includes(this.runDir)) process.kill(containerdPid, 'SIGKILL');
      }
    }
    await unmountUnder(this.dataRoot);
    if (this.runDir !== '') await unmountUnder(this.runDir);
    await rm(this.dataRoot, { recursive: true, force: true });
    if (this.runDir !== '') await rm(this.runDir, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Mount points at or below `dir`, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const points = text
    .split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(`${dir}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Lazily unmounts everything at or below `dir` (what a killed daemon left). */
async function unmountUnder(dir: string): Promise<void> {
  for (const p of await mountsUnder(dir)) {
    try {
      native().umount2(p, 2);
    } catch {
      // gone meanwhile
    }
  }
}
