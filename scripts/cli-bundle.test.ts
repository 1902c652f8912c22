import { cp, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
// @ts-expect-error a plain ES module without type declarations
import { buildBundle, bundleIsFresh, loadCli } from './cli-bundle.mjs';

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
    // a module URL is cached per process: check what the rebuilt bundle file holds
    await loadCli(entry);
    expect(bundleIsFresh(entry)).toBe(true);
    const rebuilt = await import(`${path.join(dir, '.bundle', 'entry.mjs')}?v=2`);
    expect(rebuilt.main()).toBe(3);
  });
});
