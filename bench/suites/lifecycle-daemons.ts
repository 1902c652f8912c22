// The daemons the lifecycle suite drives over their API socket and through their command
// line, behind one shape: a private berthd (private-berthd.ts), a private dockerd
// (runtime-docker.ts) and a private podman service (workload-podman.ts), each kept up
// from the first of its cases to the last, with the processes whose memory counts.
import { join } from 'node:path';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { ApiClient } from '../../engine/client/api-client.js';
import type { Context } from '../../engine/trace/index.js';
import type { PrivateBerthd } from './private-berthd.js';
import { throughRegistry } from './run-berthd.js';
import type { PrivateDockerd } from './runtime-docker.js';
import { STATIC_IMAGE } from './runtime-image.js';
import { PrivatePodman } from './workload-podman.js';

export type LifecycleTarget = 'berth' | 'docker' | 'podman';

/** A daemon that speaks the Docker Engine API on a unix socket of its own. */
export interface ApiDaemon {
  readonly target: LifecycleTarget;
  /** `unix://…` (only while acquired). */
  readonly host: string;
  /** berthd files the spans of requests carrying a traceparent; dockerd does not. */
  readonly traced: boolean;
  acquire(ctx: Context): Promise<void>;
  release(ctx: Context): Promise<void>;
  /** The processes whose memory is the daemon's: berthd; dockerd, containerd, every shim; podman's service, conmons. */
  processes(): number[];
  /** What the daemon is, in a sentence, for the cases' methods. */
  readonly description: string;
  /** The command line against this daemon: its argv for `args` (only while acquired). */
  cli(args: readonly string[]): string[];
  /** The static image's name on this daemon (only while acquired). */
  readonly image: string;
  /** The levels measured through it: the API socket with berth's typed client, the command line. */
  readonly levels: readonly ('api' | 'cli')[];
  /** Whether its density steps run (over the API socket, containers on its bridge network). */
  readonly density: boolean;
}

export function berthDaemon(berthd: PrivateBerthd): ApiDaemon {
  return {
    target: 'berth',
    get host() {
      return berthd.host;
    },
    traced: true,
    acquire: (ctx) => berthd.acquire(ctx),
    release: (ctx) => berthd.release(ctx),
    processes: () => (berthd.pid === undefined ? [] : [berthd.pid]),
    cli: (args) => berthd.cli(args),
    image: STATIC_IMAGE,
    levels: ['api', 'cli'],
    density: true,
    description:
      'a private berthd (its own process from its bundle; overlay2 on a tmpfs root, own exec root, socket, bridge and /24; the image pulled from an embedded registry on 127.0.0.1)',
  };
}

export function dockerDaemon(dockerd: PrivateDockerd): ApiDaemon {
  return {
    target: 'docker',
    get host() {
      return `unix://${dockerd.socket}`;
    },
    traced: false,
    acquire: () => dockerd.acquire(),
    release: () => dockerd.release(),
    processes: () => dockerd.processes(),
    cli: (args) => dockerd.cli(args),
    image: STATIC_IMAGE,
    levels: ['api', 'cli'],
    density: true,
    description:
      'a private dockerd (overlay2 on a tmpfs data root, own exec root, pidfile, socket and bridge, --iptables=false --ip-forward=false --ip-masq=false; the image a `docker import` of the same static rootfs)',
  };
}

/**
 * podman's throughput at the cli level only: a private `podman system service` (workload-podman.ts)
 * holding the static image, pulled over its API from an embedded registry on 127.0.0.1
 * and named by that registry reference; the remote client (`podman --url`) drives it.
 * With `network` (netavark installed) its default network is a bridge of its own and its
 * density steps run over its API socket like the other daemons'.
 */
export function podmanDaemon(dataRoot: string, network: boolean): ApiDaemon {
  const podman = new PrivatePodman(dataRoot, { network });
  let image: string | undefined;
  return {
    target: 'podman',
    get host() {
      return podman.host;
    },
    traced: false,
    acquire: async () => {
      const dir = realpathSync(mkdtempSync(join(dataRoot, `berth-lc-registry-${process.pid}-`)));
      try {
        await throughRegistry(dir, async (registryHost, repo, tag) => {
          await podman.start(registryHost);
          image = `${registryHost}/${repo}:${tag}`;
          await new ApiClient(podman.host).pull(image);
        });
      } catch (err) {
        await podman.stop().catch(() => undefined);
        throw err;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    release: () => podman.stop(),
    processes: () => podman.processes(),
    cli: (args) => podman.cli(args),
    get image() {
      if (image === undefined) throw new Error('private podman: not started');
      return image;
    },
    levels: ['cli'],
    density: network,
    description: `a private podman service (overlay on a tmpfs storage root, own run root, tmpdir, socket and config, runc, cgroupfs${network ? '; its default network a netavark bridge of its own, DNS off' : ''}; the image pulled from an embedded registry on 127.0.0.1)`,
  };
}

/**
 * Keeps a daemon up across a known number of cases that each take it in setup
 * and give it back in teardown (the runner calls every teardown, also after a
 * failure): the first take starts it, the last give-back stops it, so the
 * daemon is not restarted between the suite's groups. `beforeStop` runs just
 * before (e.g. removing idle containers the cases left on purpose).
 */
export class SharedDaemon {
  private held = false;
  private given = 0;
  beforeStop: ((ctx: Context) => Promise<void>) | undefined;

  constructor(
    readonly daemon: ApiDaemon,
    private readonly cases: number,
  ) {}

  get client(): ApiClient {
    return new ApiClient(this.daemon.host);
  }

  async take(ctx: Context): Promise<void> {
    if (this.held) return;
    await this.daemon.acquire(ctx);
    this.held = true;
  }

  async giveBack(ctx: Context): Promise<void> {
    this.given++;
    if (this.given < this.cases || !this.held) return;
    this.held = false;
    let failure: unknown;
    try {
      await this.beforeStop?.(ctx);
    } catch (err) {
      failure = err;
    }
    await this.daemon.release(ctx);
    if (failure !== undefined) throw failure;
  }
}
