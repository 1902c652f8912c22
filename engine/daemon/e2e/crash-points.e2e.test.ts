// berthd killed (SIGKILL) at named points of a pull, a start and a remove, then
// restarted on the same root: the daemon comes up, what it lists is complete and
// removable, the interrupted operation can be done again, and once everything is
// removed nothing is left on the host (mounts, veths, cgroups, port rules,
// processes, graph layers). The points are deterministic: the daemon is started
// with BERTH_TEST_PAUSE_AT and announces on stderr when it stops there
// (engine/trace/pause-point.ts); no sleep decides when to kill.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiClient } from '../../client/api-client.js';
import type { RegistryServer } from '../../registry/server/index.js';
import { needs } from '../../../testkit/needs.js';
import {
  driverLayers,
  e2eSkipReason,
  hostLeftovers,
  killDaemon,
  makeWorld,
  pausedAt,
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

let world: DaemonWorld;
let registry: RegistryServer;
let daemon: DaemonProcess | undefined;
let image: string;
let client: ApiClient;

/** Kills the current daemon and starts a plain one (no pause point) on the same root. */
async function restart(): Promise<void> {
  if (daemon !== undefined) await killDaemon(daemon);
  daemon = await spawnDaemon(world);
  client = new ApiClient(daemon.host);
  expect((await client.ping()).apiVersion).toBe('1.41');
}

/** Starts a daemon that stops at `point`. */
async function armedDaemon(point: string): Promise<void> {
  if (daemon !== undefined) await stopDaemon(daemon);
  daemon = await spawnDaemon(world, [], { BERTH_TEST_PAUSE_AT: point });
  client = new ApiClient(daemon.host);
}

/** Runs `cmd` in a fresh container to its end; returns the exit code. Removes the container. */
async function runOnce(cmd: string[], name?: string): Promise<number> {
  const { Id } = await client.containerCreate({ Image: image, Cmd: cmd }, name);
  const { result } = await client.containerWait(Id, 'next-exit');
  await client.containerStart(Id);
  const { StatusCode } = await result;
  await client.containerRemove(Id);
  return StatusCode;
}

/** Every container listed inspects whole and removes; every image listed inspects; then both lists are emptied. */
async function removeEverything(): Promise<void> {
  for (const c of await client.containerList({ all: true })) {
    const info = await client.containerInspect(c.Id);
    expect(info.Id).toBe(c.Id);
    expect(info.Config.Image).toBeTruthy();
    await client.containerRemove(c.Id, { force: true });
  }
  expect(await client.containerList({ all: true })).toEqual([]);
  for (const i of await client.images()) {
    expect((await client.imageInspect(i.Id)).Id).toBe(i.Id);
    await client.imageRemove(i.Id, { force: true });
  }
  expect(await client.images()).toEqual([]);
}

/**
 * Nothing left on the host (and, with `graph`, in the graph); polls, since veths die with their namespace
 * asynchronously.
 */
async function expectClean(graph = true): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const left = [...hostLeftovers(world), ...(graph ? driverLayers(world).map((l) => `layer ${l}`) : [])];
    if (left.length === 0) return;
    if (Date.now() > deadline) expect(left).toEqual([]);
    await new Promise((r) => setTimeout(r, 200));
  }
}

needs(skip).describe('berthd killed at a pause point', () => {
  beforeAll(async () => {
    world = makeWorld();
    registry = await startRegistry(world.dir);
    image = await pushTestImage(registry, 'crash/tools', 'v1', { config: { Cmd: ['true'] } });
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

  it('during the layer apply of a pull: the image is absent or whole, the pull can be redone', async () => {
    await armedDaemon('layer-apply');
    const pull = client.pull(image).catch((err: unknown) => err);
    await pausedAt(daemon!, 'layer-apply');
    await restart();
    expect(await pull).toBeInstanceOf(Error);
    // No half image: either not listed at all or listed and usable.
    const listed = await client.images();
    for (const i of listed) expect((await client.imageInspect(i.Id)).RootFS?.Layers?.length).toBeGreaterThan(0);
    await client.pull(image);
    expect(driverLayers(world).length).toBeGreaterThan(0);
    expect(await runOnce(['true'])).toBe(0);
    await removeEverything();
    await expectClean();
  }, 180_000);

  it('during a start, between the cgroup and network set-up and the exec: the container is listed exited and removable', async () => {
    await armedDaemon('container-start');
    await client.pull(image);
    const { Id } = await client.containerCreate({ Image: image, Cmd: ['sleep', '1000'] }, 'half-started');
    const start = client.containerStart(Id).catch((err: unknown) => err);
    await pausedAt(daemon!, 'container-start');
    await restart();
    expect(await start).toBeInstanceOf(Error);
    // The restarted daemon cleaned what the half start made before anything else ran.
    await expectClean(false);
    const info = await client.containerInspect('half-started');
    expect(info.State.Running).toBe(false);
    expect(['created', 'exited']).toContain(info.State.Status);
    // The start can be done again, and the container stopped and removed.
    expect(await client.containerStart(Id)).toBe(true);
    expect((await client.containerInspect(Id)).State.Running).toBe(true);
    // The leftover check sees a running container's veth, cgroup and process (its overlay2 rootfs is mounted only in
    // its own mount namespace where the kernel allows: the host's table need not show it).
    const running = hostLeftovers(world).map((l) => l.split(' ')[0]);
    for (const kind of ['veth', 'cgroup', 'process']) expect(running).toContain(kind);
    await client.containerRemove(Id, { force: true });
    expect(await runOnce(['true'], 'half-started')).toBe(0);
    await removeEverything();
    await expectClean();
  }, 180_000);

  it('during a remove, after its record went and before its layer did: the container is gone, its layer removed at start', async () => {
    await armedDaemon('container-remove');
    await client.pull(image);
    const { Id } = await client.containerCreate({ Image: image, Cmd: ['true'] }, 'half-removed');
    const { result } = await client.containerWait(Id, 'next-exit');
    await client.containerStart(Id);
    expect((await result).StatusCode).toBe(0);
    const remove = client.containerRemove(Id).catch((err: unknown) => err);
    await pausedAt(daemon!, 'container-remove');
    await restart();
    expect(await remove).toBeInstanceOf(Error);
    expect((await client.containerList({ all: true })).filter((c) => c.Id === Id)).toEqual([]);
    await expect(client.containerInspect(Id)).rejects.toMatchObject({ details: { httpStatus: 404 } });
    for (const driver of ['overlay2', 'vfs'])
      expect(existsSync(join(world.root, 'image', driver, 'layerdb', 'mounts', Id))).toBe(false);
    // The name is free again.
    expect(await runOnce(['true'], 'half-removed')).toBe(0);
    await removeEverything();
    await expectClean();
  }, 180_000);
});
