// The conformance suite against btrfs, each case on its own loop-mounted btrfs
// file; plus the init refusal off btrfs.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execaSync } from 'execa';
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { background } from '../trace/context.js';
import { BtrfsDriver } from './btrfs.js';
import { graphdriverSuite } from './driver-suite.js';
import { createLoopBtrfs } from './loop-btrfs.js';
import { needs } from '../../testkit/needs.js';

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (loop devices, mounts)';
  try {
    execaSync('mkfs.btrfs', ['--version']);
    execaSync('btrfs', ['--version']);
  } catch {
    return 'btrfs-progs not installed (apt-get install btrfs-progs)';
  }
  return undefined;
}
const reason = missing();

graphdriverSuite(
  'btrfs',
  async (ctx, base) => {
    const loop = await createLoopBtrfs({ dir: base });
    try {
      const root = join(loop.mountPoint, 'data');
      return { driver: await BtrfsDriver.init(ctx, { root }), root, dispose: () => loop.dispose() };
    } catch (err) {
      await loop.dispose();
      throw err;
    }
  },
  reason === undefined ? {} : { skip: reason },
);

needs(reason).describe('btrfs specifics', () => {
  it('fails init with UNAVAILABLE naming the filesystem when the home is not on btrfs', async () => {
    const base = await mkdtemp(join(tmpdir(), `berth-notbtrfs-${process.pid}-`));
    try {
      const err = await BtrfsDriver.init(background(), { root: base }).catch((e: unknown) => e);
      expect(isBerthError(err, 'UNAVAILABLE')).toBe(true);
      expect((err as Error).message).toMatch(/not btrfs/);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
