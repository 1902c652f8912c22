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
import { READY_WORD, type ColdImage } from './workload-images.js';
import { SUITE } from './workload-services.js';
import type { DaemonHandle, WorkloadTarget, WorkloadWorld } from './workload-world.js';

/** Per measured sample: ms of the pull and of the rest (create, attach, start, first output), by case key. */
export const coldSplits = new Map<string, { pull: number; run: number }[]>();

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

/**
 * One cold start over the API: pull `ref`, create with the image's command, attach
 * (stream), start, until the first output. Each step is a `client` span (its id sent
 * as traceparent to berthd). Returns the ms of the pull and of the rest; the
 * container is left for the caller to remove.
 */
async function coldStartOnce(
  { client, step }: TracedClient,
  ref: string,
  cmd: string[],
): Promise<{ pull: number; run: number; id: string }> {
  const t0 = process.hrtime.bigint();
  await step('pull', () => client.pull(ref));
  const t1 = process.hrtime.bigint();
  const { Id: id } = await step('create', () =>
    client.containerCreate({ Image: ref, Cmd: cmd, HostConfig: { NetworkMode: 'none' } } as Parameters<
      ApiClient['containerCreate']
    >[0]),
  );
  let stream: Duplex | undefined;
  try {
    stream = await step('attach', () => client.containerAttach(id, { stdout: true, stderr: true, stream: true }));
    const output = firstOutput(stream, READY_WORD, 120_000);
    output.catch(() => undefined);
    await step('start', () => client.containerStart(id));
    await step('first-output', () => output);
  } catch (err) {
    stream?.destroy();
    throw Object.assign(err as Error, { containerId: id });
  }
  stream.destroy();
  const t2 = process.hrtime.bigint();
  return { pull: Number(t1 - t0) / 1e6, run: Number(t2 - t1) / 1e6, id };
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
      try {
        const r = await coldStartOnce(traced, ref(), cold!.cmd);
        id = r.id;
        if (index >= 0) coldSplits.get(key)!.push({ pull: r.pull, run: r.run });
      } catch (err) {
        id = (err as { containerId?: string }).containerId;
        throw err;
      }
      await traced.join();
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
