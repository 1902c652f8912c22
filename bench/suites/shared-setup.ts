// One set-up that several bench cases share (a namespace, containers, a daemon):
// the first acquire builds it, the last release tears it down.
import type { Context } from '../../engine/trace/index.js';

/**
 * Counts users of a set-up. acquire builds it once (concurrent acquirers wait for the same build); a failed build
 * counts its user out again, and the next acquire builds afresh. The last release waits for a build still running,
 * then tears down whatever it made (also after a failed build).
 */
export class SharedSetup {
  private users = 0;
  private building: Promise<void> | undefined;

  constructor(
    private readonly build: (ctx: Context) => Promise<void>,
    private readonly teardown: (ctx: Context) => Promise<void>,
  ) {}

  async acquire(ctx: Context): Promise<void> {
    this.users++;
    try {
      this.building ??= this.build(ctx);
      await this.building;
    } catch (err) {
      this.building = undefined;
      await this.release(ctx).catch(() => undefined);
      throw err;
    }
  }

  /** One user done; the last one tears the set-up down. */
  async release(ctx: Context): Promise<void> {
    if (this.users === 0) return;
    this.users--;
    if (this.users > 0) return;
    const building = this.building;
    this.building = undefined;
    await building?.catch(() => undefined);
    await this.teardown(ctx);
  }
}
