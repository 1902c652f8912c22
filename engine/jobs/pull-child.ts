// Test fixture for pull-interrupted.test.ts: a process that pulls an image into a vfs
// graph, so the test can SIGKILL it mid-layer (a pull whose cleanup never runs).
// Usage: node --import tsx pull-child.ts <root> <reference>
import { Graph } from '../graph/graph.js';
import { vfsPlugin } from '../graphdriver/vfs.js';
import { background } from '../trace/context.js';
import { pull } from './pull.js';

const [root, reference] = process.argv.slice(2) as [string, string];
const ctx = background();
const graph = await Graph.open(ctx, { root, driver: await vfsPlugin.init(ctx, { root }) });
process.stdout.write('pulling\n');
await pull(ctx, graph, reference, { concurrency: 1, retry: { attempts: 1 } });
process.stdout.write('finished\n');
