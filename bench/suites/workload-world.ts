// The `workload` suite's environment: a berth-registry process on 127.0.0.1 holding
// the service image (and the cold-start images once a case asks), a restartable
// private berthd, a private dockerd and a private podman service that pulled the service image from it. Opened by
// the first case's setup, closed after the last case's teardown (the suite announces
// its number of cases), everything removed also when a step failed.
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../../engine/client/api-client.js';
import { unavailable } from '../../engine/errdefs/errors.js';
import type { Context } from '../../engine/trace/index.js';
import { call } from '../peers/index.js';
import type { Profile } from '../results/document.js';
import { Teardown } from '../teardown.js';
import { startRegistryProcess, type RegistryProcess } from './pull-world.js';
import { PrivateDockerd } from './runtime-docker.js';
import { PrivateBerthd } from './private-berthd.js';
import { netavarkMissing } from './podman-network.js';
import { PrivatePodman } from './workload-podman.js';
import {
  pushColdImages,
  pushServiceImage,
  SERVICE_REPO,
  SERVICE_TAG,
  workloadCorpusDir,
  type ColdImage,
} from './workload-images.js';

/** The workload suite's berthd bridge (at most 15 characters; differs from the run suite's bbd<pid>). */
export const WORKLOAD_BRIDGE = `bwl${process.pid}`.slice(0, 15);

/** A daemon as the cases drive it: its socket for the API client, its command line. */
export type WorkloadTarget = 'berth' | 'docker' | 'podman';

export interface DaemonHandle {
  target: WorkloadTarget;
  /** `unix:///…/x.sock`. */
  host: string;
  cli(args: readonly string[]): string[];
  /** Ids of every container it has. */
  containers(): Promise<string[]>;
}

export interface WorkloadWorldOptions {
  dataRoot: string;
  profile: Profile;
  seed: number;
}

export class WorkloadWorld {
  private expected = 0;
  private released = 0;
  private users = 0;
  private dir: string | undefined;
  private registryProc: RegistryProcess | undefined;
  private opening: Promise<void> | undefined;
  private berthdReady: Promise<PrivateBerthd> | undefined;
  private dockerdReady: Promise<PrivateDockerd> | undefined;
  private coldReady: Promise<ColdImage[]> | undefined;
  private podmanReady: Promise<PrivatePodman> | undefined;
  private readonly podmanService: PrivatePodman;
  private readonly berthd: PrivateBerthd;
  private readonly dockerd: PrivateDockerd;

  constructor(readonly options: WorkloadWorldOptions) {
    this.berthd = new PrivateBerthd(options.dataRoot, { bridge: WORKLOAD_BRIDGE, subnetBase: 150, tmpfsSize: '1536m' });
    this.dockerd = new PrivateDockerd(options.dataRoot);
    // a bridge network of its own (netavark) for the service cases; without netavark those are left out
    this.podmanService = new PrivatePodman(options.dataRoot, { network: netavarkMissing() === undefined });
  }

  /** The number of acquire/release pairs (cases) before the world closes. */
  expect(cases: number): void {
    this.expected = cases;
  }

  /** `127.0.0.1:PORT` of the registry. */
  get registryHost(): string {
    if (this.registryProc === undefined) throw new Error('workload world: not open');
    return new URL(this.registryProc.url).host;
  }

  /** The service image's reference as both daemons pulled it. */
  get serviceImage(): string {
    return `${this.registryHost}/${SERVICE_REPO}:${SERVICE_TAG}`;
  }

  async acquire(_ctx: Context): Promise<void> {
    this.users++;
    this.opening ??= this.open();
    try {
      await this.opening;
    } catch (err) {
      this.opening = undefined;
      throw err;
    }
  }

  async release(ctx: Context): Promise<void> {
    // counted also for a case whose setup did not run (an interrupted run): the last one closes the world
    this.released++;
    if (this.users > 0) this.users--;
    if (this.users > 0 || this.released < this.expected) return;
    await this.close(ctx);
  }

  private async open(): Promise<void> {
    if (this.dir !== undefined) return;
    this.dir = realpathSync(mkdtempSync(join(this.options.dataRoot, `berth-workload-${process.pid}-`)));
    this.registryProc = await startRegistryProcess(join(this.dir, 'registry'));
    await pushServiceImage(this.registryProc.url);
  }

  /** The private berthd, started (and the service image pulled) on first use. */
  berth(ctx: Context): Promise<PrivateBerthd> {
    this.berthdReady ??= (async () => {
      await this.berthd.acquire(ctx);
      await this.berthd.client().pull(this.serviceImage);
      return this.berthd;
    })();
    return this.berthdReady;
  }

  /** The private dockerd, started (and the service image pulled) on first use. */
  docker(): Promise<PrivateDockerd> {
    this.dockerdReady ??= (async () => {
      await this.dockerd.acquire();
      const r = await call(this.dockerd.cli(['pull', '-q', this.serviceImage]));
      if (r.code !== 0)
        throw unavailable(`docker pull ${this.serviceImage}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
      return this.dockerd;
    })();
    return this.dockerdReady;
  }

  /** Whether the private dockerd was set up (it may be stopped between a restart case's steps). */
  get dockerOpen(): boolean {
    return this.dockerdReady !== undefined;
  }

  /** The private podman service, started (and the service image pulled over its API) on first use. */
  podman(): Promise<PrivatePodman> {
    this.podmanReady ??= (async () => {
      await this.podmanService.start(this.registryHost);
      await new ApiClient(this.podmanService.host).pull(this.serviceImage);
      return this.podmanService;
    })();
    return this.podmanReady;
  }

  async daemon(ctx: Context, target: WorkloadTarget): Promise<DaemonHandle> {
    if (target === 'podman') {
      const p = await this.podman();
      return { target, host: p.host, cli: (a) => p.cli(a), containers: () => p.containers() };
    }
    if (target === 'berth') {
      const b = await this.berth(ctx);
      return { target, host: b.host, cli: (a) => b.cli(a), containers: () => b.containers() };
    }
    const d = await this.docker();
    return { target, host: `unix://${d.socket}`, cli: (a) => d.cli(a), containers: () => d.containers() };
  }

  /** The cold-start images, built (cached) and pushed on first use. */
  coldImages(names: readonly string[]): Promise<ColdImage[]> {
    this.coldReady ??= pushColdImages(
      this.registryProc!.url,
      workloadCorpusDir(this.options.dataRoot, this.options.profile, this.options.seed),
      names,
      this.options.profile,
      this.options.seed,
    );
    return this.coldReady;
  }

  private async close(ctx: Context): Promise<void> {
    const t = new Teardown();
    if (this.berthdReady !== undefined) await t.attempt('berthd', () => this.berthd.release(ctx));
    if (this.dockerdReady !== undefined) await t.attempt('dockerd', () => this.dockerd.release());
    if (this.podmanReady !== undefined) await t.attempt('podman', () => this.podmanService.stop());
    if (this.registryProc !== undefined) await t.attempt('registry', () => this.registryProc!.close());
    if (this.dir !== undefined) rmSync(this.dir, { recursive: true, force: true });
    this.berthdReady = undefined;
    this.dockerdReady = undefined;
    this.podmanReady = undefined;
    this.coldReady = undefined;
    this.registryProc = undefined;
    this.dir = undefined;
    this.opening = undefined;
    this.released = 0;
    t.finish('workload world cleanup');
  }
}
