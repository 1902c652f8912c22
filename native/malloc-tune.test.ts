// malloc-tune.cc: malloc_trim and V8's memory reduction through the addon. The allocator's and the heap's state are
// the process's, so the cases that measure them run in a node child of their own.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { addonPath, native } from './index.js';

const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;

/** Runs `body` (CommonJS, `n` is the addon) in `node --expose-gc`; its stdout parsed as JSON. */
function inChild(body: string): unknown {
  const script = `const n = require(${JSON.stringify(addonPath)});\n${body}`;
  return JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' }));
}

describe('mallocTrim', () => {
  it.skipIf(glibc === undefined)(
    'gives back the free pages in the middle of the heap, which free() alone keeps resident (glibc)',
    () => {
      // 64 MiB in 4000-byte blocks (each an ArrayBuffer malloc'd by node), one block kept above them so that the top
      // of the heap stays in use; the rest freed by two full GCs (the second waits for the first's frees)
      const r = inChild(`
        const rss = () => process.memoryUsage.rss() / 1048576;
        let blocks = [];
        for (let i = 0; i < 16384; i++) blocks.push(Buffer.alloc(4000, 1));
        const pin = Buffer.alloc(4000, 1);
        blocks = undefined;
        gc(); gc();
        const before = rss();
        const released = n.mallocTrim();
        console.log(JSON.stringify({ before, after: rss(), released, pin: pin.length }));
      `) as { before: number; after: number; released: boolean };
      expect(r.released).toBe(true);
      expect(r.before - r.after).toBeGreaterThan(32);
    },
  );

  it('returns a boolean in this process too', () => {
    expect(typeof native().mallocTrim()).toBe('boolean');
  });
});

describe('v8LowMemory', () => {
  it('collects the garbage a quiet heap keeps', () => {
    // 40 MB of garbage objects that V8's heap holds after they were dropped (no collection runs by itself in a process
    // that stops allocating); without --expose-gc, as berthd runs
    const r = inChild(`
      const used = () => process.memoryUsage().heapUsed / 1048576;
      let objs = [];
      for (let i = 0; i < 400000; i++) objs.push({ i, s: 'x' + i, a: [i, i + 1, i + 2] });
      objs = undefined;
      const before = used();
      n.v8LowMemory();
      console.log(JSON.stringify({ before, after: used() }));
    `) as { before: number; after: number };
    expect(r.before).toBeGreaterThan(30);
    expect(r.before - r.after).toBeGreaterThan(25);
  });
});
