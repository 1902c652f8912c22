// Test fixture for graph.test.ts: a process that puts an image and stops dead
// between a layer's apply and its record write, so the test can SIGKILL it there.
// Usage: node --import tsx crash-child.ts <root> <driver: vfs|overlay2> <config.json> <layer.tar>
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { overlay2Plugin } from '../graphdriver/overlay2.js';
import { vfsPlugin } from '../graphdriver/vfs.js';
import { background } from '../trace/context.js';
import { Graph } from './graph.js';

const [root, driverName, configPath, tarPath] = process.argv.slice(2) as [string, string, string, string];
const ctx = background();
const plugin = { vfs: vfsPlugin, overlay2: overlay2Plugin }[driverName];
if (plugin === undefined) throw new Error(`crash-child: unknown driver ${driverName} (vfs or overlay2)`);
const driver = await plugin.init(ctx, { root });
const graph = await Graph.open(ctx, {
  root,
  driver,
  hooks: {
    beforeRecord: () => {
      process.stdout.write('applied\n');
      return new Promise<void>(() => {}); // wait here until killed
    },
  },
});
await graph.putImage(ctx, await readFile(configPath), [Readable.from([await readFile(tarPath)])]);
process.stdout.write('finished\n');
