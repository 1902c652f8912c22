// Test fixture for overlay2.test.ts: a process that fills a layer with many files, removes it with
// deferDelete and says so while the background delete of its tree runs, so the test can SIGKILL it there.
// Usage: node --import tsx remove-crash-child.ts <root> <files>
import { mkdirSync, writeFileSync } from 'node:fs';
import { background } from '../trace/context.js';
import { Overlay2Driver } from './overlay2.js';

const [root, files] = process.argv.slice(2) as [string, string];
const ctx = background();
const d = await Overlay2Driver.init(ctx, { root });
await d.create(ctx, 'base', undefined);
await d.createReadWrite(ctx, 'ctr', 'base');
for (let i = 0; i < Number(files); i++) {
  if (i % 100 === 0) mkdirSync(`${d.home}/ctr/diff/d${i / 100}`);
  writeFileSync(`${d.home}/ctr/diff/d${Math.floor(i / 100)}/f${i}`, 'x');
}
await d.remove(ctx, 'ctr', { deferDelete: true });
process.stdout.write('removed\n');
setInterval(() => undefined, 60_000); // alive until killed, the delete running meanwhile
