import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
// @ts-expect-error a plain ES module without type declarations
import { buildBundle, bundleIsFresh, loadCli, saveCodeCache } from './cli-bundle.mjs';

describe('command bundles', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-bundle-'));
    await writeFile(path.join(dir, 'value.ts'), 'export const value: number = 1;\n');
    await writeFile(
      path.join(dir, 'entry.ts'),
      "import { value } from './value.js';\nexport const main = (): number => value;\n",
    );
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is fresh after a build and stale once a source it was built from changes', async () => {
    const entry = path.join(dir, 'entry.ts');
    expect(bundleIsFresh(entry)).toBe(false);
    await buildBundle(entry);
    expect(bundleIsFresh(entry)).toBe(true);
    await writeFile(path.join(dir, 'value.ts'), 'export const value: number = 2;\n');
    const later = new Date(Date.now() + 5000);
    await utimes(path.join(dir, 'value.ts'), later, later);
    expect(bundleIsFresh(entry)).toBe(false);
  });

  it('is stale in a copy of the tree: a bundle built for another checkout never runs its code here', async () => {
    const entry = path.join(dir, 'entry.ts');
    await buildBundle(entry);
    const copy = await mkdtemp(path.join(os.tmpdir(), 'berth-bundle-copy-'));
    try {
      await cp(dir, copy, { recursive: true, preserveTimestamps: true });
      expect(bundleIsFresh(path.join(copy, 'entry.ts'))).toBe(false);
      expect(bundleIsFresh(entry)).toBe(true);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('loads the current code: a changed source is rebuilt before it runs', async () => {
    const entry = path.join(dir, 'entry.ts');
    expect((await loadCli(entry)).main()).toBe(1);
    expect(bundleIsFresh(entry)).toBe(true);
    await writeFile(path.join(dir, 'value.ts'), 'export const value: number = 3;\n');
    const later = new Date(Date.now() + 5000);
    await utimes(path.join(dir, 'value.ts'), later, later);
    // the bundle is evaluated again at each load (a vm.Script, not a cached module)
    expect((await loadCli(entry)).main()).toBe(3);
    expect(bundleIsFresh(entry)).toBe(true);
  });

  const caches = (): string[] => readdirSync(path.join(dir, '.bundle')).filter((f) => f.endsWith('.cache'));

  it('saves a code cache per command after the first run, reuses it, and drops it with a rebuilt bundle', async () => {
    const entry = path.join(dir, 'entry.ts');
    expect((await loadCli(entry, 'run')).main()).toBe(1);
    expect(caches()).toEqual([]);
    saveCodeCache();
    const [first] = caches();
    expect(first).toMatch(/^entry\.[0-9a-f]{16}\.run\.cache$/);
    const written = statSync(path.join(dir, '.bundle', first!)).mtimeMs;
    // accepted by V8 on the next load: nothing to save again, the file stays as it was
    expect((await loadCli(entry, 'run')).main()).toBe(1);
    saveCodeCache();
    expect(statSync(path.join(dir, '.bundle', first!)).mtimeMs).toBe(written);
    // another command (or none) has its own cache; a name that is not one falls back to `default`
    await loadCli(entry, '../x');
    saveCodeCache();
    expect(caches().sort()).toEqual([first, first!.replace('.run.', '.default.')].sort());
    // a rebuilt bundle has another id: the old caches go and the new one starts empty
    await writeFile(path.join(dir, 'value.ts'), 'export const value: number = 4;\n');
    const later = new Date(Date.now() + 5000);
    await utimes(path.join(dir, 'value.ts'), later, later);
    expect((await loadCli(entry, 'run')).main()).toBe(4);
    expect(caches()).toEqual([]);
    saveCodeCache();
    expect(caches()).toHaveLength(1);
    expect(caches()[0]).not.toBe(first);
  });

  it('BERTH_NO_CODE_CACHE=1 neither reads nor writes a cache', async () => {
    const entry = path.join(dir, 'entry.ts');
    process.env.BERTH_NO_CODE_CACHE = '1';
    try {
      expect((await loadCli(entry, 'run')).main()).toBe(1);
      saveCodeCache();
      expect(caches()).toEqual([]);
    } finally {
      delete process.env.BERTH_NO_CODE_CACHE;
    }
  });

  it('sets V8 flags only once the built-ins the bundle imports are loaded, and records them at build', async () => {
    const entry = path.join(dir, 'entry.ts');
    await writeFile(
      entry,
      [
        "import { gzipSync } from 'node:zlib';",
        'export const main = async (): Promise<number> => {',
        "  await import('node:dgram');",
        '  return gzipSync(Buffer.from([1])).length;',
        '};',
      ].join('\n'),
    );
    await buildBundle(entry);
    const record = JSON.parse(readFileSync(path.join(dir, '.bundle', 'entry.inputs.json'), 'utf8')) as {
      builtins: string[];
    };
    // a dynamic import is not loaded at start
    expect(record.builtins).toEqual(['node:zlib']);
    // a fresh process: which built-ins were loaded when each flag was set (Node's own code cache needs them first)
    const script = [
      "const v8 = require('node:v8');",
      'const set = v8.setFlagsFromString;',
      'const seen = [];',
      'v8.setFlagsFromString = (f) => {',
      "  const has = (m) => process.moduleLoadList.includes('NativeModule ' + m);",
      "  seen.push([f, has('zlib'), has('perf_hooks'), has('dgram')]);",
      '  set(f);',
      '};',
      `const { startFresh } = require(${JSON.stringify(path.resolve('scripts/cli-start.cjs'))});`,
      `const m = startFresh(${JSON.stringify(entry)}, undefined, { v8Flags: ['--stack-size=900'], preload: ['node:perf_hooks'] });`,
      'process.stdout.write(JSON.stringify(seen));',
    ].join('\n');
    const seen = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as unknown[];
    expect(seen).toEqual([['--stack-size=900', true, true, false]]);
  });
});
