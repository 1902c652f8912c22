// Host veths whose container's network namespace is gone or going: the kernel
// deletes both ends with the namespace, so release does not wait for a slow
// RTM_DELLINK; this reaper checks after a grace period and deletes any still there.
import { access } from 'node:fs/promises';
import { internal } from '../errdefs/errors.js';
import { background, type Context } from '../trace/index.js';
import { runSteps } from './netlink-ops.js';

export interface VethReaperOptions {
  /** How long after release a veth may still exist before the reaper deletes it. */
  graceMs: number;
  /** Runs fn under the container's lock (so a reap never races an allocation of the same name). */
  lock: <T>(containerId: string, fn: () => Promise<T>) => Promise<T>;
  /** True when a live endpoint owns the veth name now (then it is not the released one). */
  owned: (veth: string) => boolean;
  /** At most this many veths are checked per round (default 32); the rest wait for the next. */
  batch?: number;
}

interface Pending {
  containerId: string;
  dueMs: number;
}

async function linkExists(name: string): Promise<boolean> {
  return access(`/sys/class/net/${name}`).then(
    () => true,
    () => false,
  );
}

export class VethReaper {
  private readonly pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: VethReaperOptions) {}

  /** The host veths released and not yet checked, sorted. */
  list(): string[] {
    return [...this.pending.keys()].sort();
  }

  /**
   * Records a host veth to check after the grace period and makes sure a round
   * is scheduled (unless stopped: then recover() finds it). Cheap, synchronous.
   */
  add(containerId: string, veth: string): void {
    this.pending.set(veth, { containerId, dueMs: Date.now() + this.options.graceMs });
    this.schedule();
  }

  /**
   * The caller is about to create a veth of this name (under the container's
   * lock): if it is pending, it is deleted now (tolerating its absence) and
   * forgotten. A no-op for a name that is not pending. Cost: a netlink round
   * trip when pending and still present.
   */
  async take(ctx: Context, veth: string): Promise<void> {
    if (!this.pending.has(veth)) return;
    this.pending.delete(veth);
    if (await linkExists(veth)) await runSteps(ctx, [{ op: 'link.delete', name: veth, ifMissingOk: true }]);
  }

  /**
   * Checks every pending veth now, whatever its due time, and deletes those still
   * present. Returns the names deleted. For recover(); works also after stop().
   * A failed delete stays pending and is reported in the error.
   */
  async reapAll(ctx: Context): Promise<string[]> {
    await this.round;
    return this.reap(ctx, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
  }

  /** Cancels the scheduled round and waits for one in progress. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.round;
  }

  private schedule(): void {
    if (this.stopped || this.timer !== undefined || this.pending.size === 0) return;
    const next = Math.min(...[...this.pending.values()].map((p) => p.dueMs));
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.round = this.reap(background(), Date.now(), this.options.batch ?? 32)
          .then(
            () => undefined,
            (err: unknown) =>
              background().logger.warn('networkdriver: veth reaper', {
                error: err instanceof Error ? err.message : String(err),
              }),
          )
          .finally(() => {
            this.round = undefined;
            this.schedule();
          });
      },
      Math.max(0, next - Date.now()),
    );
    // A pending check never keeps the process alive: recover() finishes it after a restart.
    this.timer.unref();
  }

  private async reap(ctx: Context, nowMs: number, limit: number): Promise<string[]> {
    const due = [...this.pending.entries()].filter(([, p]) => p.dueMs <= nowMs).slice(0, limit);
    const deleted: string[] = [];
    const failures: string[] = [];
    for (const [veth, p] of due) {
      if (this.stopped && limit !== Number.POSITIVE_INFINITY) break;
      await this.options.lock(p.containerId, async () => {
        if (this.pending.get(veth) !== p) return;
        if (this.options.owned(veth) || !(await linkExists(veth))) {
          this.pending.delete(veth);
          return;
        }
        try {
          await runSteps(ctx, [{ op: 'link.delete', name: veth, ifMissingOk: true }]);
          this.pending.delete(veth);
          deleted.push(veth);
        } catch (err) {
          // Retried one grace period later, not in a tight loop.
          p.dueMs = Date.now() + this.options.graceMs;
          failures.push(err instanceof Error ? err.message : String(err));
        }
      });
    }
    if (failures.length > 0) throw internal(`networkdriver veth reaper: ${failures.join('; ')}`);
    return deleted;
  }
}
