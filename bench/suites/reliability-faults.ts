// The fault cases of the `reliability` suite: the private berthd killed (SIGKILL) in the
// middle of a pull (a layer's body half sent), a layer apply, a container start and a
// removal, then started again on the same root. Each sample checks what a user would see
// (the interrupted call failed, every image listed is whole, every container listed is
// stopped, the operation can be done again) and, once everything the sample made is
// removed, what is left on the host and in the graph. The kill points are the daemon's
// named pause points (engine/trace/pause-point.ts) and a proxy that stalls a layer, so no
// timing decides when the kill lands; the crash-points and pull-crash e2e tests check the
// same points in more depth.
import { existsSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { unavailable } from '../../engine/errdefs/errors.js';
import { fetchWhole } from '../../engine/jobs/corrupting-proxy.js';
import {
  buildImage,
  pushImage,
  startProxy,
  type Image,
  type TestProxy,
} from '../../engine/registry/client/test-registry.js';
import { createRegistryServer, type RegistryServer } from '../../engine/registry/server/index.js';
import type { MacroCase } from '../suite.js';
import type { PrivateBerthd } from './private-berthd.js';
import { STATIC_IMAGE } from './runtime-image.js';

/** Where the daemon is killed: mid-download, mid-apply (pause point layer-apply), mid-start, mid-removal. */
export const FAULT_POINTS = ['pull', 'layer-apply', 'container-start', 'container-remove'] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

/** What one fault sample found. */
export interface FaultOutcome {
  /** Checks that failed after the restart (a half image, a container shown running, a redo refused, …). */
  problems: string[];
  /** What stayed on the host or in the graph once the sample's images and containers were removed. */
  leftovers: string[];
}

/** Per fault point, one outcome per sample (warm-ups included, first). */
export type FaultOutcomes = Map<FaultPoint, FaultOutcome[]>;

/** What the fault cases share: the registry and proxy, the image they pull, the graph's layers before. */
interface FaultWorld {
  registry: RegistryServer;
  proxy: TestProxy;
  image: Image;
  ref: string;
  baselineLayers: string[];
}

/** Layer folders of the daemon's overlay2 store (image layers and containers' read-write layers). */
export function driverLayers(root: string): string[] {
  const dir = join(root, 'overlay2');
  if (!existsSync(dir)) return [];
  // .rm-*: a removed layer's tree, deleted after the removal answered
  return readdirSync(dir).filter((n) => /^(\.rm-)?[0-9a-f]{64}/.test(n));
}

/** Polls the daemon's log until it announces that process `pid` stopped at `point`; fails if `op` settles first. */
async function pausedAt(berthd: PrivateBerthd, point: string, op: Promise<unknown>): Promise<void> {
  const line = `berth-test-pause: ${point} pid=${berthd.pid}`;
  let settled = false;
  const done = () => void (settled = true);
  op.then(done, done);
  const deadline = Date.now() + 120_000;
  while (!berthd.log().includes(line)) {
    if (settled) throw unavailable(`reliability fault ${point}: the operation ended before the daemon paused there`);
    if (Date.now() > deadline) throw unavailable(`reliability fault ${point}: no pause within 120 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * One fault of `point` on `berthd`: the operation started and stopped at the point, the daemon killed and started
 * again; returns the time from the kill to the restarted daemon's first answer (ms) and what was checked.
 */
async function crashOnce(
  berthd: PrivateBerthd,
  w: FaultWorld,
  point: FaultPoint,
  index: number,
  leftovers: () => Promise<string[]>,
): Promise<{ ms: number; outcome: FaultOutcome }> {
  const problems: string[] = [];
  if (point !== 'pull') {
    await berthd.stopDaemon();
    await berthd.startDaemon({ BERTH_TEST_PAUSE_AT: point });
  }
  let client = berthd.client();
  const name = `fault-${point}-${index}-${process.pid}`;
  let op: Promise<unknown>;
  let id: string | undefined;
  if (point === 'pull') {
    // the last layer's body stops halfway and stays open
    const last = w.image.layers.at(-1)!;
    let stalled!: () => void;
    const midLayer = new Promise<void>((r) => (stalled = r));
    w.proxy.hooks = {
      before: (req, res) => {
        if (!req.url?.endsWith(last.digest)) return false;
        fetchWhole(w.registry.url, req, res, (ures, body) => {
          res.writeHead(ures.statusCode ?? 502, ures.headers);
          res.write(body.subarray(0, body.length >> 1), () => stalled());
        });
        return true;
      },
    };
    op = client.pull(w.ref);
    const failedFirst = op.then(
      () => Promise.reject(unavailable('reliability fault pull: the pull ended before its last layer stalled')),
      (err: unknown) => Promise.reject(err instanceof Error ? err : new Error(String(err))),
    );
    await Promise.race([midLayer, failedFirst]);
  } else if (point === 'layer-apply') {
    op = client.pull(w.ref);
    await pausedAt(berthd, point, op);
  } else {
    ({ Id: id } = await client.containerCreate(
      { Image: STATIC_IMAGE, Cmd: ['/bin/true'], HostConfig: { NetworkMode: 'bridge' } },
      name,
    ));
    if (point === 'container-remove') {
      const { result } = await client.containerWait(id, 'next-exit');
      await client.containerStart(id);
      const { StatusCode } = await result;
      if (StatusCode !== 0) throw unavailable(`reliability fault ${point}: /bin/true ended with ${StatusCode}`);
      op = client.containerRemove(id);
    } else op = client.containerStart(id);
    await pausedAt(berthd, point, op);
  }
  const outcome = op.then(
    () => 'resolved',
    () => 'rejected',
  );
  const t0 = process.hrtime.bigint();
  await berthd.killDaemon();
  await berthd.startDaemon();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  w.proxy.hooks = {};
  client = berthd.client();
  if ((await outcome) !== 'rejected') problems.push(`${point}: the call succeeded although the daemon was killed`);

  // What the restarted daemon shows: whole images, stopped containers.
  for (const i of await client.images()) {
    const layers = (await client.imageInspect(i.Id)).RootFS?.Layers ?? [];
    if (layers.length === 0) problems.push(`image ${i.Id} listed without layers`);
    if (i.RepoTags?.includes(w.ref) && JSON.stringify(layers) !== JSON.stringify(w.image.diffIDs))
      problems.push(`image ${w.ref} listed with layers ${layers.join(',')}, not the pulled ones`);
  }
  for (const c of await client.containerList({ all: true })) {
    const info = await client.containerInspect(c.Id);
    if (info.State.Running) problems.push(`container ${c.Id} shown running after the restart`);
  }
  // The operation done again, then everything it made removed.
  const redo = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      problems.push(`${what} after the restart: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  if (point === 'pull' || point === 'layer-apply') {
    await redo('the pull', async () => {
      await client.pull(w.ref);
      const layers = (await client.imageInspect(w.ref)).RootFS?.Layers ?? [];
      if (JSON.stringify(layers) !== JSON.stringify(w.image.diffIDs))
        throw new Error(`pulled image has layers ${layers.join(',')}`);
    });
    await redo('removing the image', () => client.imageRemove(w.ref, { force: true }));
  } else if (point === 'container-start') {
    const info = await client.containerInspect(id!);
    if (!['created', 'exited'].includes(info.State.Status))
      problems.push(`half-started container shown ${info.State.Status}`);
    await redo('the start', async () => {
      const { result } = await client.containerWait(id!, 'next-exit');
      await client.containerStart(id!);
      const { StatusCode } = await result;
      if (StatusCode !== 0) throw new Error(`/bin/true ended with ${StatusCode}`);
    });
    await redo('removing the container', () => client.containerRemove(id!, { force: true }));
  } else {
    if ((await client.containerList({ all: true })).some((c) => c.Id === id))
      problems.push(`container ${id} still listed after its removal was interrupted`);
    await redo('a container of the same name', async () => {
      const { Id } = await client.containerCreate({ Image: STATIC_IMAGE, Cmd: ['/bin/true'] }, name);
      await client.containerRemove(Id, { force: true });
    });
  }
  // Veths and a removed layer's tree go asynchronously: poll, bounded.
  let left: string[] = [];
  const deadline = Date.now() + 30_000;
  for (;;) {
    const layers = driverLayers(berthd.rootDir!);
    left = [
      ...(await leftovers()),
      ...(await client.containerList({ all: true })).map((c) => `container ${c.Id}`),
      ...layers.filter((l) => !w.baselineLayers.includes(l)).map((l) => `layer ${l}`),
      ...w.baselineLayers.filter((l) => !layers.includes(l)).map((l) => `layer ${l} of ${STATIC_IMAGE} gone`),
    ];
    if (left.length === 0 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ms, outcome: { problems, leftovers: left } };
}

/**
 * The four fault cases on `berthd` (shared, reference-counted), `samples` kills each; `leftovers` lists what the
 * daemon left on the host. Outcomes go to `outcomes` for derive().
 */
export function faultCases(
  suite: string,
  berthd: PrivateBerthd,
  samples: number,
  outcomes: FaultOutcomes,
  leftovers: () => Promise<string[]>,
): MacroCase[] {
  let world: FaultWorld | undefined;
  let users = 0;
  const setUp = async (): Promise<FaultWorld> => {
    if (world !== undefined) return world;
    const registry = await createRegistryServer({
      root: join(berthd.folder!, `reliability-fault-registry-${process.pid}`),
      addr: '127.0.0.1:0',
    });
    const proxy = await startProxy(registry.url);
    // two layers of incompressible bytes: the apply takes several chunks, the download can stall in the last
    const image = await buildImage(
      [0, 1].map((i) => ({ files: { [`fault${i}.bin`]: randomBytes(1_000_000), [`fault${i}.txt`]: `${i}\n` } })),
      { seed: `reliability-fault-${process.pid}` },
    );
    await pushImage(registry.url, 'reliability/fault', image, 'v1');
    world = {
      registry,
      proxy,
      image,
      ref: `${proxy.host}/reliability/fault:v1`,
      baselineLayers: driverLayers(berthd.rootDir!),
    };
    return world;
  };
  return FAULT_POINTS.map((point): MacroCase => ({
    kind: 'macro',
    suite,
    case: 'fault-recovery',
    target: 'berth',
    parameters: { level: 'api', point, graphdriver: 'overlay2' },
    unit: 'ms',
    direction: 'lower-is-better',
    group: 'reliability-fault',
    sampling: { warmup: 0, minSamples: samples },
    method:
      `The private berthd is killed (SIGKILL) ${faultWhere[point]} and started again on the same root; a sample is the time from the kill ` +
      "to the restarted daemon's first /_ping answer, in ms. Each sample then checks that the interrupted call failed, every image " +
      'listed is whole, no container is shown running, the operation can be done again, and, once its image or container is ' +
      'removed, that nothing is left (the fault-problems and fault-leftovers cases).',
    setup: async (ctx) => {
      await berthd.acquire(ctx);
      users++;
      await setUp();
    },
    sample: async (_ctx, index) => {
      const { ms, outcome } = await crashOnce(berthd, world!, point, index, leftovers);
      outcomes.set(point, [...(outcomes.get(point) ?? []), outcome]);
      return ms;
    },
    teardown: async (ctx) => {
      if (--users <= 0 && world !== undefined) {
        await world.proxy.close().catch(() => undefined);
        await world.registry.close().catch(() => undefined);
        world = undefined;
        users = 0;
      }
      await berthd.release(ctx);
    },
  }));
}

const faultWhere: Record<FaultPoint, string> = {
  pull: 'while a pull of a two-layer image waits for the rest of its last layer (a proxy on 127.0.0.1 sent half of it)',
  'layer-apply': "part-way through a pulled layer's apply (pause point layer-apply)",
  'container-start':
    "in a container's start, its cgroup, network namespace and veth made, its process not yet exec'd (pause point container-start; network bridge)",
  'container-remove': "in a removal, the container's record gone and its layer not (pause point container-remove)",
};
