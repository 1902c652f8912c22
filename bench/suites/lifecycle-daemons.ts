// The daemons the lifecycle suite drives over their API socket, behind one shape: a
// private berthd (private-berthd.ts) and a private dockerd (runtime-docker.ts), each kept
// up from the first of its cases to the last, with the processes whose memory counts.
import { ApiClient } from '../../engine/client/api-client.js';
import type { Context } from '../../engine/trace/index.js';
import type { PrivateBerthd } from './private-berthd.js';
import type { PrivateDockerd } from './runtime-docker.js';

export type LifecycleTarget = 'berth' | 'docker';

/** A daemon that speaks the Docker Engine API on a unix socket of its own. */
export interface ApiDaemon {
  readonly target: LifecycleTarget;
  /** `unix://…` (only while acquired). */
  readonly host: string;
  /** berthd files the spans of requests carrying a traceparent; dockerd does not. */
  readonly traced: boolean;
  acquire(ctx: Context): Promise<void>;
  release(ctx: Context): Promise<void>;
  /** The processes whose memory is the daemon's: berthd; dockerd + containerd + every containerd-shim. */
  processes(): number[];
  /** What the daemon is, in a sentence, for the cases' methods. */
  readonly description: string;
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
    description:
      'a private dockerd (overlay2 on a tmpfs data root, own exec root, pidfile, socket and bridge, --iptables=false --ip-forward=false --ip-masq=false; the image a `docker import` of the same static rootfs)',
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
