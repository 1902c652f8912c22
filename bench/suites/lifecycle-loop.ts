// The lifecycle suite's throughput loop, bucketbench-style: N workers, each running
// create -> start -> wait (or stop) -> remove in turn over a daemon's API or through
// its command line, with each operation timed and every failed iteration counted
// rather than dropped.
import { isBerthError, unavailable } from '../../engine/errdefs/errors.js';
import type { ApiClient } from '../../engine/client/api-client.js';
import { call } from '../peers/index.js';
import { STATIC_IMAGE } from './runtime-image.js';

/** What the container runs: /bin/true (ends by itself, waited for) or /bin/sleep (stopped). */
export type Workload = 'true' | 'sleep';
export const WORKLOADS: readonly Workload[] = ['true', 'sleep'];
/** The timed operations of one lifecycle; `end` is the wait for /bin/true, the stop for sleep. */
export const OPS = ['create', 'start', 'end', 'remove'] as const;
export type Op = (typeof OPS)[number];
/** The network of every throughput container (its own namespace with only lo). */
export const LOOP_NETWORK = 'none';

export function commandOf(workload: Workload): string[] {
  return workload === 'true' ? ['/bin/true'] : ['/bin/sleep', '3600'];
}

/** The name of `end` for a workload, as the notes and derived cases spell it. */
export function endOpName(workload: Workload): 'wait' | 'stop' {
  return workload === 'true' ? 'wait' : 'stop';
}

export interface RoundResult {
  /** Lifecycles that went through all four operations. */
  completed: number;
  /** Lifecycles that failed at some step (the container force-removed after). */
  errors: number;
  /** Wall time of the round, s. */
  seconds: number;
  /** ms per successful operation, in the order they ended. */
  latencies: Record<Op, number[]>;
  /** The first error's message, for a warning or a failed round. */
  firstError: string | undefined;
}

function elapsedMs(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/**
 * One lifecycle of `workload` through `client`: create, start, then for /bin/true
 * the wait (next-exit, armed before start: the arm counts to `end`) and a non-zero
 * exit fails it; for sleep a stop with timeout 0 (SIGTERM, then SIGKILL at once:
 * the static sleep as pid 1 of its namespace has no SIGTERM handler, so the kernel
 * drops SIGTERM and SIGKILL ends it — the same on both daemons); then remove.
 * Each operation that succeeded is pushed to `latencies`. On a failure the
 * container is force-removed (untimed) and the error rethrown.
 */
export async function lifecycleOnce(
  client: ApiClient,
  workload: Workload,
  latencies: Record<Op, number[]>,
): Promise<void> {
  let t = process.hrtime.bigint();
  const { Id: id } = await client.containerCreate({
    Image: STATIC_IMAGE,
    Cmd: commandOf(workload),
    HostConfig: { NetworkMode: LOOP_NETWORK },
  });
  latencies.create.push(elapsedMs(t));
  try {
    if (workload === 'true') {
      t = process.hrtime.bigint();
      const { result } = await client.containerWait(id, 'next-exit');
      let armMs = elapsedMs(t);
      t = process.hrtime.bigint();
      await client.containerStart(id);
      latencies.start.push(elapsedMs(t));
      t = process.hrtime.bigint();
      const { StatusCode } = await result;
      armMs += elapsedMs(t);
      if (StatusCode !== 0) throw unavailable(`container ${id}: /bin/true ended with exit code ${StatusCode}`);
      latencies.end.push(armMs);
    } else {
      t = process.hrtime.bigint();
      await client.containerStart(id);
      latencies.start.push(elapsedMs(t));
      t = process.hrtime.bigint();
      await client.containerStop(id, 0);
      latencies.end.push(elapsedMs(t));
    }
    t = process.hrtime.bigint();
    await client.containerRemove(id);
    latencies.remove.push(elapsedMs(t));
  } catch (err) {
    await client.containerRemove(id, { force: true }).catch((e: unknown) => {
      if (!isBerthError(e, 'NOT_FOUND'))
        throw unavailable(
          `container ${id}: not removed after a failed lifecycle (${(err as Error).message}): ${(e as Error).message}`,
          { cause: e },
        );
    });
    throw err;
  }
}

/** One lifecycle, its successful operations' ms pushed to `latencies`; throws when a step failed. */
export type Lifecycle = (latencies: Record<Op, number[]>) => Promise<void>;

/** A worker's lifecycle over the API: lifecycleOnce on one client of its own. */
export function apiLifecycle(client: () => ApiClient, workload: Workload): () => Lifecycle {
  return () => {
    const c = client();
    return (latencies) => lifecycleOnce(c, workload, latencies);
  };
}

/**
 * One lifecycle of `workload` through a command line (`cli(args)` gives the argv of
 * berth, docker or podman against its daemon), a process per operation: `create
 * --network none IMAGE CMD` (the id from its output), `start`, then for /bin/true
 * `wait` (its printed status must be 0) or for sleep `stop -t 0`, then `rm`. Each
 * operation's ms is from spawn to exit. On a failure the container is force-removed
 * (`rm -f`, untimed) and the error rethrown.
 */
export async function cliLifecycleOnce(
  cli: (args: readonly string[]) => string[],
  image: string,
  workload: Workload,
  latencies: Record<Op, number[]>,
): Promise<void> {
  const run = async (args: readonly string[]): Promise<string> => {
    const argv = cli(args);
    const r = await call(argv, { captureStdout: true });
    if (r.code !== 0)
      throw unavailable(`${argv.join(' ')}: exit ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').pop() ?? ''}`);
    return r.stdout.trim();
  };
  let t = process.hrtime.bigint();
  const id = (await run(['create', '--network', LOOP_NETWORK, image, ...commandOf(workload)])).split('\n').pop()!;
  latencies.create.push(elapsedMs(t));
  try {
    t = process.hrtime.bigint();
    await run(['start', id]);
    latencies.start.push(elapsedMs(t));
    t = process.hrtime.bigint();
    if (workload === 'true') {
      const status = (await run(['wait', id])).split('\n').pop();
      if (status !== '0') throw unavailable(`container ${id}: /bin/true ended with status ${status}`);
    } else await run(['stop', '-t', '0', id]);
    latencies.end.push(elapsedMs(t));
    t = process.hrtime.bigint();
    await run(['rm', id]);
    latencies.remove.push(elapsedMs(t));
  } catch (err) {
    const r = await call(cli(['rm', '-f', id]));
    if (r.code !== 0 && !/no such container/i.test(r.stderr))
      throw unavailable(
        `container ${id}: not removed after a failed lifecycle (${(err as Error).message}): ${r.stderr.trim()}`,
        { cause: err },
      );
    throw err;
  }
}

/** A worker's lifecycle through a command line (cliLifecycleOnce). */
export function cliLifecycle(
  cli: (args: readonly string[]) => string[],
  image: string,
  workload: Workload,
): () => Lifecycle {
  return () => (latencies) => cliLifecycleOnce(cli, image, workload, latencies);
}

/**
 * One round: `concurrency` workers each run `perWorker` lifecycles back to back
 * (bucketbench's threads × iterations), each worker's from `lifecycle()`. With `capMs`
 * a worker starts no further lifecycle once the round has run that long (each runs at
 * least one), so a round of a slow target ends after about the cap plus one lifecycle.
 * A failed lifecycle is counted and the worker goes on; throughput is completed
 * lifecycles over the round's wall time.
 */
export async function lifecycleRound(
  lifecycle: () => Lifecycle,
  concurrency: number,
  perWorker: number,
  capMs?: number,
): Promise<RoundResult> {
  const latencies: Record<Op, number[]> = { create: [], start: [], end: [], remove: [] };
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const t0 = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    const once = lifecycle();
    for (let i = 0; i < perWorker; i++) {
      if (i > 0 && capMs !== undefined && elapsedMs(t0) >= capMs) break;
      try {
        await once(latencies);
        completed++;
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { completed, errors, seconds: elapsedMs(t0) / 1e3, latencies, firstError };
}
