// The image, network and system jobs on a real Engine: pull from berth's embedded
// registry on 127.0.0.1 with Docker's progress messages, push back to it,
// list/inspect/tag/delete, user networks with a container on them, events, info
// and version.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventMessage, JSONMessage } from '../api/types.js';
import { isBerthError } from '../errdefs/errors.js';
import { buildImage, pushImage } from '../registry/client/test-registry.js';
import { createRegistryServer, type RegistryServer } from '../registry/server/index.js';
import { withSignal } from '../trace/context.js';
import type { BerthEngine } from './builtins.js';
import {
  ctx,
  freeSubnet,
  kernelSkipReason,
  putTestImage,
  TEST_IMAGE,
  testWorld,
  type TestWorld,
} from './test-engine.js';
import { needs } from '../../testkit/needs.js';

const skip = kernelSkipReason();

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isBerthError(err) ? `${err.code}: ${err.message}` : `OTHER: ${String(err)}`;
  }
  return undefined;
}

needs(skip).describe('image, network and system jobs (kernel)', () => {
  let world: TestWorld;
  let b: BerthEngine;
  let registry: RegistryServer | undefined;

  beforeEach(async () => {
    world = await testWorld('vfs');
    b = await world.open();
  });

  afterEach(async () => {
    await registry?.close(100);
    registry = undefined;
    await world.cleanup();
  });

  it('pushes with Docker push messages: the repository first, per layer, the digest line and its aux; an unknown image emits nothing and is NOT_FOUND', async () => {
    registry = await createRegistryServer({ root: `${world.root}/registry` });
    const image = await buildImage([{ files: { 'a.txt': 'a\n' } }, { files: { 'b.txt': 'b\n' } }], {
      format: 'docker',
    });
    await pushImage(registry.url, 'team/src', image, 'v1');
    await b.engine.job(ctx, 'pull', { reference: `${registry.host}/team/src:v1` });
    const target = `${registry.host}/team/copy`;
    await b.engine.job(ctx, 'tag', { source: `${registry.host}/team/src:v1`, repo: target, tag: 'v3' });
    const seen: JSONMessage[] = [];
    const r = await b.engine.job(ctx, 'push', { reference: `${target}:v3` }, { onEvent: (m) => seen.push(m) });
    expect(r).toEqual({
      digest: image.manifest.digest,
      size: image.manifest.bytes.length,
      tag: 'v3',
      reference: `${target}:v3`,
    });
    expect(seen[0]).toEqual({ status: `The push refers to repository [${target}]` });
    const ids = image.diffIDs.map((d) => d.slice(7, 19));
    expect(seen.filter((m) => m.status === 'Preparing').map((m) => m.id)).toEqual([...ids].reverse());
    // same registry: mounted from the repository the image was pulled from
    expect(
      seen
        .filter((m) => m.status === 'Mounted from team/src')
        .map((m) => m.id)
        .sort(),
    ).toEqual([...ids].sort());
    expect(seen.at(-2)).toEqual({
      status: `v3: digest: ${image.manifest.digest} size: ${image.manifest.bytes.length}`,
    });
    expect(seen.at(-1)).toEqual({
      progressDetail: {},
      aux: { Tag: 'v3', Digest: image.manifest.digest, Size: image.manifest.bytes.length },
    });
    const none: JSONMessage[] = [];
    expect(
      await codeOf(
        b.engine.job(ctx, 'push', { reference: `${registry.host}/team/none:v1` }, { onEvent: (m) => none.push(m) }),
      ),
    ).toBe(`NOT_FOUND: An image does not exist locally with the tag: ${registry.host}/team/none`);
    expect(none).toEqual([]);
  });

  it('pulls with Docker progress, lists, inspects, tags and deletes images, and publishes image events', async () => {
    registry = await createRegistryServer({ root: `${world.root}/registry` });
    const image = await buildImage([
      { files: { 'a.txt': 'a\n' }, kind: 'gzip' },
      { files: { 'b.txt': 'b\n' }, kind: 'gzip' },
    ]);
    await pushImage(registry.url, 'team/app', image, 'v1');
    const ref = `${registry.host}/team/app:v1`;

    const seen: EventMessage[] = [];
    const ac = new AbortController();
    const events = b.engine.job(
      withSignal(ctx, ac.signal),
      'events',
      { filters: { type: ['image'] } },
      { onEvent: (e) => seen.push(e) },
    );

    const progress: JSONMessage[] = [];
    const pulled = await b.engine.job(ctx, 'pull', { reference: ref }, { onEvent: (m) => progress.push(m) });
    expect(pulled.imageId).toBe(image.config.digest);
    expect(progress[0]!.status).toBe(`Pulling from ${ref}`);
    expect(
      progress
        .filter((m) => m.status === 'Pull complete')
        .map((m) => m.id)
        .sort(),
    ).toEqual(image.layers.map((l) => l.digest.slice(7, 19)).sort());
    expect(progress.at(-1)!.status).toBe(`Status: Downloaded newer image for ${ref}`);
    const again: JSONMessage[] = [];
    await b.engine.job(ctx, 'pull', { reference: ref }, { onEvent: (m) => again.push(m) });
    expect(again.at(-1)!.status).toBe(`Status: Image is up to date for ${ref}`);

    await b.engine.job(ctx, 'tag', { source: ref, repo: 'local/app', tag: 'v2' });
    const list = await b.engine.job(ctx, 'image_list', {});
    expect(list).toHaveLength(1);
    expect(list[0]!.RepoTags.sort()).toEqual([ref, 'local/app:v2'].sort());
    expect(list[0]!.Size).toBe(4);
    expect(await b.engine.job(ctx, 'image_list', { filters: { reference: ['local/*'] } })).toHaveLength(1);
    expect(await b.engine.job(ctx, 'image_list', { filters: { reference: ['other/*'] } })).toHaveLength(0);
    const inspect = await b.engine.job(ctx, 'image_inspect', { name: 'local/app:v2' });
    expect(inspect.Id).toBe(image.config.digest);
    expect(inspect.RootFS.Layers).toEqual(image.diffIDs);
    expect(await codeOf(b.engine.job(ctx, 'image_inspect', { name: 'missing:1' }))).toBe(
      'NOT_FOUND: No such image: missing:1',
    );

    // one of two tags: only untagged
    expect(await b.engine.job(ctx, 'image_delete', { name: 'local/app:v2' })).toEqual([{ Untagged: 'local/app:v2' }]);
    // last tag: image and layers go
    const deleted = await b.engine.job(ctx, 'image_delete', { name: ref });
    expect(deleted).toEqual(expect.arrayContaining([{ Untagged: ref }, { Deleted: image.config.digest }]));
    expect(await b.engine.job(ctx, 'image_list', {})).toEqual([]);

    ac.abort();
    await events;
    expect(seen.map((e) => e.Action)).toEqual(['pull', 'pull', 'tag', 'untag', 'untag', 'delete']);
    expect(seen.every((e) => e.Type === 'image')).toBe(true);
  });

  it('refuses to delete an image a container uses unless forced', async () => {
    await putTestImage(ctx, b.parts.graph);
    await b.engine.job(ctx, 'create', { name: 'user', config: { Image: TEST_IMAGE } });
    expect(await codeOf(b.engine.job(ctx, 'image_delete', { name: TEST_IMAGE }))).toMatch(
      /^CONFLICT: image .*used by container/,
    );
    expect(await b.engine.job(ctx, 'image_list', {})).toHaveLength(1);
  });

  it('creates a user network, runs a container on it, refuses to remove it while used, and removes it after', async () => {
    await putTestImage(ctx, b.parts.graph);
    const subnet = freeSubnet(77).replace(/\.1\/24$/, '.0/24');
    const created = await b.engine.job(ctx, 'network_create', {
      Name: 'appnet',
      IPAM: { Config: [{ Subnet: subnet }] },
    });
    expect(
      await codeOf(b.engine.job(ctx, 'network_create', { Name: 'appnet', IPAM: { Config: [{ Subnet: subnet }] } })),
    ).toMatch(/appnet/);
    expect(await codeOf(b.engine.job(ctx, 'network_create', { Name: 'nosubnet' }))).toMatch(
      /^INVALID_ARGUMENT: network nosubnet: exactly one IPAM config/,
    );
    expect(
      await codeOf(
        b.engine.job(ctx, 'network_create', { Name: 'closed', Internal: true, IPAM: { Config: [{ Subnet: subnet }] } }),
      ),
    ).toMatch(/^INVALID_ARGUMENT: network closed: Internal networks/);
    expect(
      await codeOf(
        b.engine.job(ctx, 'network_create', {
          Name: 'opts',
          Options: { 'com.docker.network.bridge.name': 'x' },
          IPAM: { Config: [{ Subnet: subnet }] },
        }),
      ),
    ).toMatch(/^INVALID_ARGUMENT: network opts: Options com\.docker\.network\.bridge\.name/);
    const names = (await b.engine.job(ctx, 'network_list', {})).map((n) => n.Name).sort();
    expect(names).toEqual(['appnet', 'bridge', 'host', 'none']);
    const { Id: id } = await b.engine.job(ctx, 'create', {
      name: 'onnet',
      config: { Image: TEST_IMAGE, Cmd: ['/bin/sleep'], HostConfig: { NetworkMode: 'appnet' } },
    });
    await b.engine.job(ctx, 'start', { id });
    const net = await b.engine.job(ctx, 'network_inspect', { id: 'appnet' });
    expect(net.Id).toBe(created.Id);
    expect(net.IPAM.Config[0]!.Subnet).toBe(subnet);
    expect(Object.keys(net.Containers)).toEqual([id]);
    expect(net.Containers[id]!.Name).toBe('onnet');
    expect(net.Containers[id]!.IPv4Address.startsWith(subnet.replace(/0\/24$/, ''))).toBe(true);
    const c = await b.engine.job(ctx, 'inspect', { id });
    expect(c.NetworkSettings.Networks.appnet?.IPAddress).toBe(net.Containers[id]!.IPv4Address.split('/')[0]);
    expect(await codeOf(b.engine.job(ctx, 'network_delete', { id: 'appnet' }))).toMatch(/^CONFLICT/);
    expect(await codeOf(b.engine.job(ctx, 'network_delete', { id: 'host' }))).toMatch(
      /^CONFLICT: network host: a pre-defined network/,
    );
    await b.engine.job(ctx, 'delete', { id, force: true });
    await b.engine.job(ctx, 'network_delete', { id: 'appnet' });
    expect((await b.engine.job(ctx, 'network_list', {})).map((n) => n.Name).sort()).toEqual(['bridge', 'host', 'none']);
  });

  it('answers info and version', async () => {
    await putTestImage(ctx, b.parts.graph);
    await b.engine.job(ctx, 'create', { config: { Image: TEST_IMAGE } });
    const info = await b.engine.job(ctx, 'info', {});
    expect(info).toMatchObject({
      Containers: 1,
      ContainersRunning: 0,
      ContainersStopped: 1,
      Images: 1,
      Driver: 'vfs',
      DockerRootDir: world.root,
      OSType: 'linux',
      LoggingDriver: 'json-file',
    });
    const version = await b.engine.job(ctx, 'version', {});
    expect(version.ApiVersion).toBe('1.41');
    expect(version.Components[0]).toMatchObject({
      Name: 'Engine',
      Details: { ApiVersion: '1.41', MinAPIVersion: '1.24', Os: 'linux' },
    });
  });
});
