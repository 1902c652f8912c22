// One berthd under concurrent load: 8 pulls at once (the same image four times,
// three others that share its layer: the layer is applied once), 50 concurrent
// create+start+wait+remove runs, 50 containers started at once (50 distinct
// addresses, MACs and names) and creates racing for one name (one wins). Every
// operation succeeds or fails with a clear client error (never a 5xx from a race),
// and afterwards nothing is left: no container, mount, veth, cgroup, port rule or
// process.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiClient } from '../../client/api-client.js';
import type { RegistryServer } from '../../registry/server/index.js';
import { needs } from '../../../testkit/needs.js';
import {
  driverLayers,
  e2eSkipReason,
  hostLeftovers,
  makeWorld,
  pushTestImage,
  removeWorld,
  resetNetwork,
  spawnDaemon,
  startRegistry,
  stopDaemon,
  type DaemonProcess,
  type DaemonWorld,
} from './e2e-kit.js';

const skip = e2eSkipReason();
const RUNS = 50;

let world: DaemonWorld;
let registry: RegistryServer;
let daemon: DaemonProcess | undefined;
let client: ApiClient;
const images: string[] = [];

/** A server-side failure (5xx or a dropped connection) is a defect; a 4xx with a message is a clear refusal. */
function serverFault(err: unknown): string | undefined {
  const status = (err as { details?: { httpStatus?: number } }).details?.httpStatus;
  if (typeof status === 'number' && status < 500) return undefined;
  return err instanceof Error ? err.message : String(err);
}

needs(skip).describe('berthd under concurrent load', () => {
  beforeAll(async () => {
    world = makeWorld();
    registry = await startRegistry(world.dir);
    for (let i = 0; i < 4; i++)
      images.push(
        await pushTestImage(registry, `load/img${i}`, 'v1', { config: { Cmd: ['true'], Labels: { n: String(i) } } }),
      );
    daemon = await spawnDaemon(world);
    client = new ApiClient(daemon.host);
  }, 120_000);

  afterAll(async () => {
    try {
      if (daemon !== undefined) await stopDaemon(daemon);
      await registry?.close(100);
      if (world !== undefined) await resetNetwork(world);
    } finally {
      if (world !== undefined) removeWorld(world.dir);
    }
  }, 120_000);

  it('8 concurrent pulls of the same and of different images all succeed', async () => {
    const refs = [images[0]!, images[0]!, images[0]!, images[0]!, images[1]!, images[2]!, images[3]!, images[1]!];
    const results = await Promise.allSettled(refs.map((ref) => client.pull(ref)));
    const faults = results.flatMap((r, i) =>
      r.status === 'rejected' ? [`${refs[i]}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`] : [],
    );
    expect(faults).toEqual([]);
    const tags = (await client.images()).flatMap((i) => i.RepoTags ?? []);
    for (const ref of images) expect(tags).toContain(ref);
    // The four images share their one layer: one layer on disk, whichever pull applied it.
    const layers = new Set(
      (await Promise.all(images.map((r) => client.imageInspect(r)))).flatMap((i) => i.RootFS.Layers),
    );
    expect(layers.size).toBe(1);
    expect(driverLayers(world)).toHaveLength(1);
  }, 300_000);

  it(`${RUNS} concurrent create+start+wait+remove runs succeed and leave nothing behind`, async () => {
    const run = async (i: number): Promise<number> => {
      const { Id } = await client.containerCreate(
        { Image: images[i % images.length]!, Cmd: ['sh', '-c', `exit ${i % 3}`] },
        `load-${process.pid}-${i}`,
      );
      const { result } = await client.containerWait(Id, 'next-exit');
      await client.containerStart(Id);
      const { StatusCode } = await result;
      await client.containerRemove(Id);
      return StatusCode;
    };
    const results = await Promise.allSettled(Array.from({ length: RUNS }, (_, i) => run(i)));
    const faults = results.flatMap((r, i) =>
      r.status === 'rejected'
        ? [`run ${i}: ${serverFault(r.reason) ?? `refused: ${(r.reason as Error).message}`}`]
        : [],
    );
    expect(faults).toEqual([]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : -1))).toEqual(
      Array.from({ length: RUNS }, (_, i) => i % 3),
    );
    expect(await client.containerList({ all: true })).toEqual([]);
    const deadline = Date.now() + 30_000;
    let left = hostLeftovers(world);
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      left = hostLeftovers(world);
    }
    expect(left).toEqual([]);
    expect(daemon!.stderr()).not.toContain('request failed');
  }, 600_000);

  it(`${RUNS} containers started at once get distinct addresses, MACs and names; of 8 creates of one name one wins`, async () => {
    const started = await Promise.allSettled(
      Array.from({ length: RUNS }, async (_, i) => {
        const { Id } = await client.containerCreate(
          { Image: images[i % images.length]!, Cmd: ['sleep', '600'] },
          `addr-${process.pid}-${i}`,
        );
        await client.containerStart(Id);
        return Id;
      }),
    );
    try {
      const faults = started.flatMap((r, i) =>
        r.status === 'rejected' ? [`container ${i}: ${String(r.reason)}`] : [],
      );
      expect(faults).toEqual([]);
      const infos = await Promise.all(
        started.map((r) => client.containerInspect((r as PromiseFulfilledResult<string>).value)),
      );
      const ips = infos.map((i) => i.NetworkSettings.IPAddress);
      for (const ip of ips) expect(ip.startsWith(world.network.subnetPrefix), ip).toBe(true);
      expect(new Set(ips).size).toBe(RUNS);
      expect(new Set(infos.map((i) => i.NetworkSettings.MacAddress)).size).toBe(RUNS);
      expect(new Set(infos.map((i) => i.Name)).size).toBe(RUNS);
    } finally {
      for (const c of await client.containerList({ all: true })) await client.containerRemove(c.Id, { force: true });
    }
    const name = `race-${process.pid}`;
    const racing = await Promise.allSettled(
      Array.from({ length: 8 }, () => client.containerCreate({ Image: images[0]!, Cmd: ['true'] }, name)),
    );
    const won = racing.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of racing)
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ details: { httpStatus: 409 } });
    await client.containerRemove((won[0] as PromiseFulfilledResult<{ Id: string }>).value.Id);
    expect(await client.containerList({ all: true })).toEqual([]);
    const deadline = Date.now() + 30_000;
    let left = hostLeftovers(world);
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      left = hostLeftovers(world);
    }
    expect(left).toEqual([]);
  }, 600_000);
});
