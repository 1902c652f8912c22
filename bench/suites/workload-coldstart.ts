// The workload suite's cold start of realistic images: pull from the bench's own
// registry on 127.0.0.1, create, attach, start, and the container's first output,
// on berth and docker over the API. Each sample starts with the image absent; the
// pull's share of the whole is kept per sample (Slacker's split of a start into
// pull and run), and berth's part comes apart further from berthd's spans.
import type { Duplex } from 'node:stream';
import { ApiClient } from '../../engine/client/api-client.js';
import { isBerthError, unavailable } from '../../engine/errdefs/errors.js';

import type { MacroCase } from '../suite.js';
import { tracedClient, type TracedClient } from './daemon-spans.js';
import { nowNs, type SpanRecord } from '../../engine/trace/index.js';
import { READY_WORD, type ColdImage } from './workload-images.js';
import { SUITE } from './workload-services.js';
import type { DaemonHandle, WorkloadTarget, WorkloadWorld } from './workload-world.js';

/** Per measured sample: ms of each part of the cold start (COLD_PARTS), by case key. */
export const coldSplits = new Map<string, ColdSplit[]>();

export function coldKey(target: string, image: string): string {
  return `${target}/${image}`;
}

/** Resolves once `stream` carried `word` (framed or raw output); rejects on its end or after `timeoutMs`. */
function firstOutput(stream: Duplex, word: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => done(unavailable(`no output ${JSON.stringify(word)} within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    const onData = (c: Buffer) => {
      seen = (seen + c.toString('latin1')).slice(-256);
      if (seen.includes(word)) done();
    };
    const onEnd = () => done(unavailable(`output ended before ${JSON.stringify(word)}: ${JSON.stringify(seen)}`));
    const done = (err?: Error) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      if (err === undefined) resolve();
      else reject(err);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onEnd);
    stream.on('error', (e) => done(e));
  });
}

/**
 * Force-removes container `id`, retried twice 200 ms apart: podman refuses a
 * removal while the container is between exit and stopped ("container state improper").
 */
export async function removeContainer(client: ApiClient, id: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.containerRemove(id, { force: true });
      return;
    } catch (err) {
      if (attempt >= 2 || isBerthError(err, 'NOT_FOUND')) {
        if (isBerthError(err, 'NOT_FOUND')) return;
        throw err;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Removes `ref` from the daemon when present (its layers go with it: the next pull is cold). */
async function removeImage(client: ApiClient, ref: string): Promise<void> {
  try {
    await client.imageRemove(ref, { force: true });
  } catch (err) {
    if (!isBerthError(err, 'NOT_FOUND') && !/No such image|404/i.test((err as Error).message)) throw err;
  }
}

/** The parts a cold start is split into, in order; the pull's three when they can be told apart, else `pull`. */
export const COLD_PARTS = ['fetch', 'apply', 'register', 'pull', 'create', 'start', 'first-output'] as const;
export type ColdPart = (typeof COLD_PARTS)[number];
export type ColdSplit = Partial<Record<ColdPart, number>>;

type Interval = readonly [number, number];

/** Length of the part of [a, b] where `inside(t)` holds, over the elementary segments of `cuts`. */
function measure(a: number, b: number, cuts: readonly number[], inside: (t: number) => boolean): number {
  const points = [...new Set([a, b, ...cuts.filter((c) => c > a && c < b)])].sort((x, y) => x - y);
  let sum = 0;
  for (let i = 0; i + 1 < points.length; i++) {
    const mid = (points[i]! + points[i + 1]!) / 2;
    if (inside(mid)) sum += points[i + 1]! - points[i]!;
  }
  return sum;
}

/**
 * Splits a pull's wall time [start, end] (any one clock, ns) into ms of
 * - apply: some layer was being applied (layer tars stream into the driver as they
 *   arrive, so download time hidden behind an apply counts as apply),
 * - register: no apply, but the graph recording layers or the image (`register`
 *   intervals), or any time after the last apply ended,
 * - fetch: the rest (manifest and config, downloads not overlapped by an apply, waits).
 * The three add up to the pull. Without any apply interval the parts cannot be told
 * apart: undefined.
 */
export function splitPull(
  start: number,
  end: number,
  apply: readonly Interval[],
  register: readonly Interval[],
): { fetch: number; apply: number; register: number } | undefined {
  if (apply.length === 0 || end <= start) return undefined;
  const lastApply = Math.max(...apply.map((i) => i[1]));
  const cuts = [...apply, ...register].flat().concat(lastApply);
  const inAny = (xs: readonly Interval[], t: number) => xs.some(([a, b]) => t >= a && t < b);
  const applied = measure(start, end, cuts, (t) => inAny(apply, t));
  const registered = measure(start, end, cuts, (t) => !inAny(apply, t) && (t >= lastApply || inAny(register, t)));
  const total = end - start;
  return { fetch: (total - applied - registered) / 1e6, apply: applied / 1e6, register: registered / 1e6 };
}

/**
 * berthd's apply (graphdriver applyDiff) and register (the graph's layer, image and
 * reference stores; the content store's blob writes are part of the fetch) intervals.
 */
export function berthPullIntervals(spans: readonly SpanRecord[]): { apply: Interval[]; register: Interval[] } {
  const apply: Interval[] = [];
  const register: Interval[] = [];
  for (const s of spans) {
    if (/^graphdriver\..*\.applyDiff$/.test(s.name)) apply.push([s.startNs, s.endNs]);
    else if (/^graph\.(layers|images|references)\./.test(s.name)) register.push([s.startNs, s.endNs]);
  }
  return { apply, register };
}

/**
 * Per-layer apply intervals from a Docker-style pull progress stream (`Extracting` of a
 * layer to its `Pull complete`), timed as the messages arrived; the graph's
 * registration is not reported there, so `register` stays empty.
 */
export class ProgressIntervals {
  private readonly extracting = new Map<string, number>();
  readonly apply: Interval[] = [];

  onMessage(m: { id?: string; status?: string }, at: number): void {
    if (m.id === undefined || m.status === undefined) return;
    if (m.status === 'Extracting' && !this.extracting.has(m.id)) this.extracting.set(m.id, at);
    if (m.status === 'Pull complete') {
      const from = this.extracting.get(m.id);
      if (from !== undefined) this.apply.push([from, at]);
    }
  }
}

/**
 * One cold start over the API: pull `ref`, create with the image's command, attach
 * (stream), start, until the first output. Each step is a step of the traced client
 * (a `client` span, sent as traceparent to berthd). Returns the pull's window and
 * progress-derived apply intervals, the ms of create (with attach), start and first
 * output, and the container, left for the caller to remove.
 */
async function coldStartOnce(
  { client, step }: TracedClient,
  ref: string,
  cmd: string[],
): Promise<{ pullNs: Interval; progress: ProgressIntervals; run: ColdSplit; id: string }> {
  const progress = new ProgressIntervals();
  const t0 = nowNs();
  await step('pull', () => client.pull(ref, (m) => progress.onMessage(m, nowNs())));
  const t1 = nowNs();
  const { Id: id } = await step('create', () =>
    client.containerCreate({ Image: ref, Cmd: cmd, HostConfig: { NetworkMode: 'none' } } as Parameters<
      ApiClient['containerCreate']
    >[0]),
  );
  let stream: Duplex | undefined;
  let t2: number;
  let t3: number;
  try {
    stream = await step('attach', () => client.containerAttach(id, { stdout: true, stderr: true, stream: true }));
    const output = firstOutput(stream, READY_WORD, 120_000);
    output.catch(() => undefined);
    t2 = nowNs();
    await step('start', () => client.containerStart(id));
    t3 = nowNs();
    await step('first-output', () => output);
  } catch (err) {
    stream?.destroy();
    throw Object.assign(err as Error, { containerId: id });
  }
  stream.destroy();
  const t4 = nowNs();
  return {
    pullNs: [t0, t1],
    progress,
    run: { create: (t2 - t1) / 1e6, start: (t3 - t2) / 1e6, 'first-output': (t4 - t3) / 1e6 },
    id,
  };
}

export function coldStartCase(
  world: WorkloadWorld,
  target: WorkloadTarget,
  image: string,
  names: readonly string[],
): MacroCase {
  let daemon: DaemonHandle | undefined;
  let cold: ColdImage | undefined;
  let id: string | undefined;
  const key = coldKey(target, image);
  const ref = () => `${world.registryHost}/${cold!.repository}:${cold!.tag}`;
  return {
    kind: 'macro',
    suite: SUITE,
    case: 'cold-start',
    target,
    parameters: { level: 'api', image, network: 'none' },
    unit: 'ms',
    direction: 'lower-is-better',
    group: `cold-start-${image}`,
    phases: true,
    method:
      `Wall time in ms of a cold start of the corpus image ${image} over the API: pull from a berth-registry process on 127.0.0.1 (gzip layers; the image and its layers removed from the daemon before each sample, untimed), ` +
      `create, attach (stdout/stderr stream), start, until the container's first output line arrives on the attach stream (${image === 'debian' ? "`/bin/sh -c 'echo ready'` of the image" : 'a static echo in a one-file entry layer on top of the image'}). ` +
      `Against ${{ berth: 'a private berthd (overlay2 on tmpfs)', docker: 'a private dockerd (overlay2 on tmpfs)', podman: 'a private podman service (overlay on tmpfs, runc)' }[target]}; network none. Each sample's pull and run parts are kept for the derived split cases.`,
    notes: [
      "Phases: the client's steps (client.pull, client.create, client.attach, client.start, client.first-output)" +
        (target === 'berth' ? " with berthd's request, job, registry, graph and driver spans joined beneath." : '.'),
    ],
    setup: async (ctx) => {
      coldSplits.set(key, []);
      await world.acquire(ctx);
      daemon = await world.daemon(ctx, target);
      cold = (await world.coldImages(names)).find((c) => c.name === image);
      if (cold === undefined) throw unavailable(`cold-start image ${image}: not pushed`);
    },
    beforeSample: async () => {
      await removeImage(new ApiClient(daemon!.host), ref());
    },
    sample: async (ctx, index) => {
      const traced = tracedClient(ctx, daemon!.host, target === 'berth');
      let r: Awaited<ReturnType<typeof coldStartOnce>>;
      try {
        r = await coldStartOnce(traced, ref(), cold!.cmd);
        id = r.id;
      } catch (err) {
        id = (err as { containerId?: string }).containerId;
        throw err;
      }
      const spans = await traced.join();
      const [p0, p1] = r.pullNs;
      const { apply, register } =
        target === 'berth' ? berthPullIntervals(spans) : { apply: r.progress.apply, register: [] };
      const pull = splitPull(p0, p1, apply, register) ?? { pull: (p1 - p0) / 1e6 };
      if (index >= 0) coldSplits.get(key)!.push({ ...pull, ...r.run });
    },
    afterSample: async () => {
      const client = new ApiClient(daemon!.host);
      if (id !== undefined) await removeContainer(client, id);
      id = undefined;
      const left = await daemon!.containers();
      if (left.length > 0) throw unavailable(`${target}: cold start left container(s) ${left.join(', ')}`);
    },
    teardown: async (ctx) => {
      try {
        if (daemon !== undefined && cold !== undefined) {
          const client = new ApiClient(daemon.host);
          for (const c of await daemon.containers()) await removeContainer(client, c);
          await removeImage(client, ref());
        }
      } finally {
        await world.release(ctx);
      }
    },
  };
}
