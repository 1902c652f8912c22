// The builtins list and the driver interface as the engine uses it (through instrument()).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { background } from '../trace/context.js';
import { instrument } from '../trace/instrument.js';
import { graphdriverPlugin, graphdriverPlugins } from './builtins.js';
import { isDiffDriver } from './driver.js';
import { withDiff } from './naive-diff.js';
import { needs, root } from '../../testkit/needs.js';

describe('graphdriver builtins', () => {
  it('lists overlay2, btrfs and vfs as graphdriver plugins', () => {
    expect(graphdriverPlugins.map((p) => [p.type, p.id])).toEqual([
      ['graphdriver', 'overlay2'],
      ['graphdriver', 'btrfs'],
      ['graphdriver', 'vfs'],
    ]);
  });

  it('fails an unknown driver with NOT_FOUND naming it', () => {
    let err: unknown;
    try {
      graphdriverPlugin('aufs');
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'NOT_FOUND')).toBe(true);
    expect((err as Error).message).toContain('"aufs"');
  });

  needs(root()).it('inits vfs from the list; the instrumented driver keeps its interface', async () => {
    const root = await mkdtemp(join(tmpdir(), `berth-bi-${process.pid}-`));
    try {
      const ctx = background();
      const raw = await graphdriverPlugin('vfs').init(ctx, { root });
      expect(isDiffDriver(raw)).toBe(false);
      const d = instrument('graphdriver', withDiff(raw));
      expect(isDiffDriver(d)).toBe(true);
      expect(d.home).toBe(`${root}/vfs`);
      await d.create(ctx, 'x', undefined);
      expect(await d.exists(ctx, 'x')).toBe(true);
      expect(await d.changes(ctx, 'x', undefined)).toEqual([]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('refuses unknown driver options with INVALID_ARGUMENT', async () => {
    const err = await graphdriverPlugin('overlay2')
      .init(background(), { root: '/nonexistent', options: { 'overlay2.bogus': '1' } })
      .catch((e: unknown) => e);
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
  });
});
