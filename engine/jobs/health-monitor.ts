// Runs the health checks of running containers (Docker's daemon/health.go): one
// checker per container with a Healthcheck, begun at its `start` event and ended
// at `die` or `destroy`, so restarts (a policy's, recovery's after a daemon
// restart) begin a new one. A probe is an exec through the exec jobs (the
// container's namespaces, cgroup, user and environment), killed when it outlasts
// the timeout; its result goes into State.Health under the container's lock, and
// a change of status is a `health_status: <status>` event.
import type { HealthcheckResult } from '../api/types.js';
import {
  applyProbeResult,
  goDuration,
  healthTimings,
  OutputBuffer,
  probeCommand,
  startingHealth,
} from '../container/health.js';
import { rfc3339Nano, type ContainerRecord } from '../container/record.js';
import type { ContainerStore } from '../container/store.js';
import { linkedContext, withSignal, type Context } from '../trace/context.js';
import type { Engine } from './engine.js';
import type { EventBus } from './event-bus.js';
import type { ExecRegistry } from './exec-jobs.js';

export interface HealthMonitorDeps {
  engine: Engine;
  store: ContainerStore;
  events: EventBus;
  execs: ExecRegistry;
  /** The engine's background context (logger; never cancelled). */
  baseCtx: Context;
}

interface Checker {
  rec: ContainerRecord;
  /** Aborted when the checker ends: an in-flight probe's exec stream is let go and its result dropped. */
  stop: AbortController;
  timer: NodeJS.Timeout | undefined;
}

export class HealthMonitor {
  private readonly checkers = new Map<string, Checker>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly d: HealthMonitorDeps) {}

  /** Follows the containers' start and exit events from now on, and checks the ones running now. */
  watch(): void {
    this.unsubscribe ??= this.d.events.subscribe((e) => {
      if (e.Type !== 'container') return;
      if (e.Action === 'start') this.begin(e.Actor.ID);
      else if (e.Action === 'die' || e.Action === 'destroy') this.end(e.Actor.ID);
    });
    for (const rec of this.d.store.list()) if (rec.state.status === 'running') this.begin(rec.id);
  }

  /** Ends every checker and stops following events. */
  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const id of [...this.checkers.keys()]) this.end(id);
  }

  /** True while container `id` has a checker (for tests). */
  checking(id: string): boolean {
    return this.checkers.has(id);
  }

  private begin(id: string): void {
    this.end(id);
    const rec = this.d.store.find(id);
    if (rec === undefined || rec.state.status !== 'running' || probeCommand(rec.config.Healthcheck) === undefined)
      return;
    const c: Checker = { rec, stop: new AbortController(), timer: undefined };
    this.checkers.set(id, c);
    this.schedule(c);
  }

  private end(id: string): void {
    const c = this.checkers.get(id);
    if (c === undefined) return;
    this.checkers.delete(id);
    clearTimeout(c.timer);
    c.stop.abort();
  }

  /** The next probe: StartInterval while starting within the start period, else Interval (Docker's getInterval). */
  private schedule(c: Checker): void {
    const t = healthTimings(c.rec.config.Healthcheck ?? {});
    const inStart = Date.now() - Date.parse(c.rec.state.startedAt) < t.startPeriodMs;
    const delay = inStart && c.rec.state.health?.Status === 'starting' ? t.startIntervalMs : t.intervalMs;
    c.timer = setTimeout(() => void this.probeOnce(c), delay);
    c.timer.unref();
  }

  private async probeOnce(c: Checker): Promise<void> {
    if (c.stop.signal.aborted) return;
    const { rec } = c;
    const ctx = this.d.baseCtx;
    const result = await this.probe(c).catch((err: unknown): HealthcheckResult => ({
      Start: rfc3339Nano(),
      End: rfc3339Nano(),
      ExitCode: -1,
      Output: err instanceof Error ? err.message : String(err),
    }));
    if (c.stop.signal.aborted) return;
    await this.d.store
      .locked(rec.id, async () => {
        if (c.stop.signal.aborted || this.d.store.find(rec.id) !== rec || rec.state.status !== 'running') return;
        const health = (rec.state.health ??= startingHealth(undefined));
        const t = healthTimings(rec.config.Healthcheck ?? {});
        const before = applyProbeResult(health, result, {
          retries: t.retries,
          startPeriodMs: t.startPeriodMs,
          startedAt: rec.state.startedAt,
        });
        await this.d.store.save(ctx, rec);
        if (before !== health.Status)
          this.d.events.publish('container', `health_status: ${health.Status}`, rec.id, {
            name: rec.name,
            image: rec.image,
          });
      })
      .catch((err: unknown) =>
        ctx.logger.warn(`container ${rec.id}: record a health check`, {
          error: err instanceof Error ? err.message : String(err),
        }),
      );
    if (!c.stop.signal.aborted) this.schedule(c);
  }

  /**
   * One probe: an exec of the check's command with stdout and stderr collected
   * (cut at Docker's limit); past the timeout the exec is killed and the result
   * is exit code -1 with Docker's message. The exec instance is dropped after.
   */
  private async probe(c: Checker): Promise<HealthcheckResult> {
    const { engine } = this.d;
    const hc = c.rec.config.Healthcheck ?? {};
    const t = healthTimings(hc);
    // the probe's own signal, aborted by the daemon's or the checker's: AbortSignal.any (withSignal) on those two
    // long-lived signals would leave an entry on each per probe for their whole life (Node 20)
    const own = new AbortController();
    const { ctx, unlink } = linkedContext(this.d.baseCtx, own);
    const stop = (): void => own.abort(c.stop.signal.reason);
    if (c.stop.signal.aborted) stop();
    else c.stop.signal.addEventListener('abort', stop, { once: true });
    try {
      return await this.probeIn(ctx, c, t);
    } finally {
      unlink();
      c.stop.signal.removeEventListener('abort', stop);
    }
  }

  private async probeIn(ctx: Context, c: Checker, t: ReturnType<typeof healthTimings>): Promise<HealthcheckResult> {
    const { engine } = this.d;
    const hc = c.rec.config.Healthcheck ?? {};
    const start = rfc3339Nano();
    const { Id } = await engine.job(ctx, 'exec_create', {
      id: c.rec.id,
      config: { Cmd: probeCommand(hc)!, AttachStdout: true, AttachStderr: true },
    });
    try {
      const out = new OutputBuffer();
      const timeout = new AbortController();
      const run = engine.job(
        withSignal(ctx, timeout.signal),
        'exec_start',
        { execId: Id },
        { onEvent: (chunk) => out.write(chunk.data) },
      );
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        run.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), t.timeoutMs))),
      ]).finally(() => clearTimeout(timer));
      if (timedOut) {
        const info = await engine.job(ctx, 'exec_inspect', { execId: Id }).catch(() => undefined);
        if (info?.Running === true && info.Pid > 0) {
          try {
            process.kill(info.Pid, 'SIGKILL');
          } catch {
            // it ended meanwhile
          }
        }
        timeout.abort();
        await run.catch(() => undefined);
        return {
          Start: start,
          End: rfc3339Nano(),
          ExitCode: -1,
          Output: `Health check exceeded timeout (${goDuration(t.timeoutMs)})`,
        };
      }
      const info = await engine.job(ctx, 'exec_inspect', { execId: Id });
      return { Start: start, End: rfc3339Nano(), ExitCode: info.ExitCode ?? -1, Output: out.toString() };
    } finally {
      this.d.execs.forget(Id);
    }
  }
}
