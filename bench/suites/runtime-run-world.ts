// The `run` suite's environment: a tmpfs of its own under the data root holding one
// berth Engine per graphdriver (createEngine on a root of its own, with a bridge and
// a free /24 of its own and the static image stored), made on first use, removed by
// the last user.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isBerthError, wrap } from '../../engine/errdefs/errors.js';
import { createCgroupManager } from '../../engine/execdriver/cgroups/manager.js';
import { MNT_DETACH, mountFs, unmount } from '../../engine/graphdriver/host-mount.js';
import { mountsUnder } from '../../engine/graphdriver/mountinfo.js';
import { createEngine, type BerthEngine } from '../../engine/jobs/builtins.js';
import type { Context } from '../../engine/trace/index.js';
import { putStaticImage } from './runtime-image.js';

export type RunGraphdriver = 'overlay2' | 'vfs';

/** The subnets tried for one engine's bridge, in order; one a host route uses is skipped. */
function candidateSubnets(variant: number): string[] {
  const pid = process.pid;
  return Array.from({ length: 8 }, (_, k) => `10.${200 + ((pid + 7 * k) % 50)}.${((pid >> 3) + variant) % 250}.1/24`);
}

function routesInUse(): string {
  try {
    return execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  } catch {
    return '';
  }
}

/**
 * Reference-counted: acquire() mounts the tmpfs; engine(name) opens that
 * graphdriver's Engine and stores the image once; the last release() shuts the
 * engines down and removes everything (mounts, bridges, cgroups under the
 * suite's parent, the directory).
 */
export class RunWorld {
  private users = 0;
  private base: string | undefined;
  private store: string | undefined;
  private readonly engines = new Map<RunGraphdriver, Promise<BerthEngine>>();
  readonly cgroupParent = `berth-bench-run-${process.pid}`;

  constructor(private readonly dataRoot: string) {}

  /** The bridge of the engine on graphdriver `name` (15 characters at most). */
  bridge(name: RunGraphdriver): string {
    return `bnr${process.pid}${name === 'overlay2' ? 'o' : 'v'}`;
  }

  /** One more user. The first mounts a 512 MiB tmpfs for the engines' roots. */
  async acquire(ctx: Context): Promise<void> {
    this.users++;
    if (this.base !== undefined) return;
    try {
      this.base = realpathSync(mkdtempSync(join(this.dataRoot, `berth-run-bench-${process.pid}-`)));
      this.store = join(this.base, 'store');
      mkdirSync(this.store, { mode: 0o755 });
      mountFs(`run bench tmpfs ${this.store}`, 'tmpfs', this.store, 'tmpfs', 0, 'size=512m,mode=0755');
    } catch (err) {
      await this.cleanup(ctx).catch(() => undefined);
      this.users = 0;
      throw err;
    }
  }

  /** The Engine on graphdriver `name` holding the static image; opened once. */
  engine(ctx: Context, name: RunGraphdriver): Promise<BerthEngine> {
    let e = this.engines.get(name);
    if (e === undefined) {
      if (this.store === undefined) throw new Error('run bench: not acquired');
      const root = join(this.store, name);
      e = (async () => {
        const used = routesInUse();
        let last: unknown;
        for (const bip of candidateSubnets(name === 'overlay2' ? 2 : 3)) {
          if (used.includes(bip.replace(/1\/24$/, '0/24'))) continue;
          try {
            const engine = await createEngine(ctx, {
              root,
              execRoot: join(root, 'exec'),
              storageDriver: name,
              bridge: this.bridge(name),
              bip,
              masquerade: false,
              portDriver: 'proxy',
              dns: ['127.0.0.1'],
              cgroupParent: `${this.cgroupParent}/${name}`,
            });
            await putStaticImage(ctx, engine.parts.graph);
            return engine;
          } catch (err) {
            last = err;
            if (!(isBerthError(err, 'INVALID_ARGUMENT') && /overlaps/.test((err as Error).message))) break;
          }
        }
        throw wrap(last, `run bench engine ${name}`);
      })();
      e.catch(() => undefined);
      this.engines.set(name, e);
    }
    return e;
  }

  /** Mount points under the tmpfs other than the tmpfs itself (a finished container leaves none). */
  async mountsLeft(): Promise<string[]> {
    if (this.store === undefined) return [];
    return (await mountsUnder(this.store)).filter((m) => m !== this.store);
  }

  /** One user done; the last removes everything (see cleanup). */
  async release(ctx: Context): Promise<void> {
    if (this.users === 0) return;
    this.users--;
    if (this.users > 0) return;
    await this.cleanup(ctx);
  }

  /**
   * Shuts the engines down (their network state, bridges and mounts removed), then cgroups, the tmpfs and the
   * directory. Tries every step; throws the first failure.
   */
  private async cleanup(ctx: Context): Promise<void> {
    const failures: unknown[] = [];
    for (const e of this.engines.values()) {
      const engine = await e.catch(() => undefined);
      if (engine === undefined) continue;
      await engine.shutdown(ctx).catch((err: unknown) => failures.push(err));
      await engine.parts.net.reset(ctx).catch((err: unknown) => failures.push(err));
      await engine.parts.driver.cleanup(ctx).catch((err: unknown) => failures.push(err));
    }
    this.engines.clear();
    await createCgroupManager()
      .cleanupStale(ctx, this.cgroupParent)
      .catch((e: unknown) => failures.push(e));
    if (this.store !== undefined) {
      for (const m of (await mountsUnder(this.store).catch(() => [] as string[])).reverse()) {
        try {
          unmount(`run bench ${m}`, m, MNT_DETACH);
        } catch (e) {
          failures.push(e);
        }
      }
    }
    this.store = undefined;
    if (this.base !== undefined) rmSync(this.base, { recursive: true, force: true });
    this.base = undefined;
    if (failures.length > 0) throw failures[0];
  }
}
