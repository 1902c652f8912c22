// The lifecycle suite's density world: a fleet of idle `sleep` containers on the
// daemon's bridge network, grown step by step, and the start of one more container
// timed against it (berth's with the daemon's spans joined beneath the client's).
import { ApiClient } from '../../engine/client/api-client.js';
import { isBerthError, unavailable } from '../../engine/errdefs/errors.js';
import type { Context } from '../../engine/trace/index.js';
import { tracedClient } from './daemon-spans.js';
import type { ApiDaemon } from './lifecycle-daemons.js';

export const DENSITY_NETWORK = 'bridge';
const IDLE_COMMAND = ['/bin/sleep', '3600'];
/** Idle containers are started this many at a time while the fleet grows. */
const GROW_CONCURRENCY = 4;

/** The idle containers a daemon runs for the density steps, in the order started. */
export class IdleFleet {
  readonly ids: string[] = [];

  constructor(private readonly daemon: ApiDaemon) {}

  /** Creates and starts idle sleep containers until `n` run; each one that fails is removed and the error rethrown. */
  async growTo(n: number): Promise<void> {
    const client = new ApiClient(this.daemon.host);
    let failure: unknown;
    const worker = async (): Promise<void> => {
      while (this.ids.length < n && failure === undefined) {
        const placeholder = this.ids.push('') - 1;
        let id: string | undefined;
        try {
          id = (
            await client.containerCreate({
              Image: this.daemon.image,
              Cmd: IDLE_COMMAND,
              HostConfig: { NetworkMode: DENSITY_NETWORK },
            })
          ).Id;
          this.ids[placeholder] = id;
          await client.containerStart(id);
        } catch (err) {
          failure ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: GROW_CONCURRENCY }, worker));
    // slots whose create failed hold ''
    for (let i = this.ids.length - 1; i >= 0; i--) if (this.ids[i] === '') this.ids.splice(i, 1);
    if (failure !== undefined)
      throw unavailable(
        `${this.daemon.target}: growing the idle fleet to ${n} containers: ${(failure as Error).message}`,
        { cause: failure },
      );
    const running = (await client.containerList({ filters: { status: ['running'] } })).length;
    if (running !== n)
      throw unavailable(`${this.daemon.target}: ${running} containers running, expected the ${n} idle ones`);
  }

  /** Force-removes every idle container (SIGKILL, then removal); failures named together. */
  async clear(): Promise<void> {
    const client = new ApiClient(this.daemon.host);
    const failures: string[] = [];
    const ids = this.ids.splice(0);
    const worker = async (): Promise<void> => {
      for (let id = ids.pop(); id !== undefined; id = ids.pop()) {
        try {
          await client.containerRemove(id, { force: true });
        } catch (err) {
          if (!isBerthError(err, 'NOT_FOUND')) failures.push(`${id}: ${(err as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: GROW_CONCURRENCY }, worker));
    if (failures.length > 0)
      throw unavailable(`${this.daemon.target}: idle containers not removed: ${failures.join('; ')}`);
  }
}

/** A sleep container created for the next density sample (untimed). */
export async function createProbeContainer(daemon: ApiDaemon): Promise<string> {
  return (
    await new ApiClient(daemon.host).containerCreate({
      Image: daemon.image,
      Cmd: IDLE_COMMAND,
      HostConfig: { NetworkMode: DENSITY_NETWORK },
    })
  ).Id;
}

/**
 * The start of container `id` over the API, in ms: one `client` span (module
 * client) whose id goes out as the request's traceparent; for berth the daemon's
 * spans of that trace are joined beneath it after the timing, when spans are collected.
 */
export async function timedStart(ctx: Context, daemon: ApiDaemon, id: string): Promise<number> {
  const traced = tracedClient(ctx, daemon.host, daemon.traced);
  const t0 = process.hrtime.bigint();
  await traced.step('start', () => traced.client.containerStart(id));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await traced.join();
  return ms;
}
