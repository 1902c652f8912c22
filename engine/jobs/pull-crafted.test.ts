// Crafted layers through pull() from the embedded registry, onto each graphdriver
// that can run here: nothing outside the store changes, whatever the layer tries.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { swappedParent } from '../archive/hostile-layers.js';
import { setXattr } from '../archive/tar-fs.js';
import { fullListing } from '../archive/tar-fixtures.js';
import { Graph } from '../graph/graph.js';
import type { Driver, DriverPlugin } from '../graphdriver/driver.js';
import { overlay2Plugin } from '../graphdriver/overlay2.js';
import { vfsPlugin } from '../graphdriver/vfs.js';
import { background } from '../trace/context.js';
import { buildImage, pushImage } from '../registry/client/test-registry.js';
import { pull } from './pull.js';
import { caught } from './pull-test-kit.js';
import { createRegistryServer, type RegistryServer } from '../registry/server/index.js';
import { needs, root as asRoot } from '../../testkit/needs.js';

const ctx = background();
const fast = { attempts: 2, baseMs: 5, maxMs: 20 };

let root: string;
let host: string;
let registry: RegistryServer;
let driver: Driver | undefined;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), `berth-pull-crafted-${process.pid}-`));
  host = join(root, 'host');
  await mkdir(join(host, 'target'), { recursive: true });
  await writeFile(join(host, 'secret'), 'secret');
  registry = await createRegistryServer({ root: join(root, 'registry') });
});

afterEach(async () => {
  try {
    await registry.close(100).catch(() => {});
    await driver?.cleanup(ctx);
  } finally {
    driver = undefined;
    await rm(root, { recursive: true, force: true });
  }
});

async function graphOn(plugin: DriverPlugin): Promise<Graph> {
  const store = join(root, 'store');
  driver = await plugin.init(ctx, { root: store });
  return Graph.open(ctx, { root: store, driver });
}

needs(asRoot()).describe('pull of crafted layers (ownership, trusted xattrs)', () => {
  for (const plugin of [vfsPlugin, overlay2Plugin]) {
    it(`${plugin.id}: a layer replacing a parent by a symlink out sets no directory time, mode, owner or xattr outside the store`, async () => {
      setXattr(join(host, 'target'), 'user.host', Buffer.from('kept'));
      const before = await fullListing(host);
      const graph = await graphOn(plugin);
      const image = await buildImage([
        {
          entries: [
            { name: 'a/', type: 'directory' },
            { name: 'a/target/', type: 'directory' },
          ],
        },
        { entries: swappedParent(host) },
        { kind: 'none', entries: swappedParent(host) },
      ]);
      await pushImage(registry.url, 'crafted/times', image, 'v1');
      const res = await pull(ctx, graph, `${registry.host}/crafted/times:v1`, { retry: fast });
      expect(res.imageId).toBe(image.config.digest);
      expect(await fullListing(host)).toEqual(before);
    });

    it(`${plugin.id}: a layer writing through a symlink a lower layer planted is refused, naming the entry`, async () => {
      const before = await fullListing(host);
      const graph = await graphOn(plugin);
      const image = await buildImage([
        { entries: [{ name: 'evil', type: 'symlink', linkname: host }] },
        {
          entries: [
            { name: 'evil/target/', type: 'directory', mode: 0o777 },
            { name: 'evil/secret', content: 'pwned' },
          ],
        },
      ]);
      await pushImage(registry.url, 'crafted/lower', image, 'v1');
      const err = await caught(pull(ctx, graph, `${registry.host}/crafted/lower:v1`, { retry: fast }));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toContain('layer entry "evil/target/"');
      expect(await fullListing(host)).toEqual(before);
      expect(await graph.listImages(ctx)).toEqual([]);
    });
  }
});
