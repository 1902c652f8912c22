// The loop-mounted btrfs helper: it really mounts btrfs, and its disposer (also
// after a failed setup) leaves no mount, loop device or file behind.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, execaSync } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLoopBtrfs } from './loop-btrfs.js';
import { backingMount, isMountPoint, mountsUnder } from './mountinfo.js';
import { needs } from '../../testkit/needs.js';

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (loop devices, mounts)';
  try {
    execaSync('mkfs.btrfs', ['--version']);
  } catch {
    return 'btrfs-progs not installed (apt-get install btrfs-progs)';
  }
  return undefined;
}
const reason = missing();

/** Loop devices whose backing file lies under dir. */
async function loopsUnder(dir: string): Promise<string[]> {
  const { stdout } = await execa('losetup', ['-a', '-n', '-O', 'NAME,BACK-FILE', '--raw']);
  return stdout.split('\n').filter((l) => l.includes(dir));
}

needs(reason).describe('createLoopBtrfs', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), `berth-loop-${process.pid}-`));
  });
  afterEach(async () => {
    const leftMounts = await mountsUnder(dir);
    const leftLoops = await loopsUnder(dir);
    await rm(dir, { recursive: true, force: true });
    expect(leftMounts).toEqual([]);
    expect(leftLoops).toEqual([]);
  });

  it('mounts a btrfs on a loop device and disposes of everything', async () => {
    const fs = await createLoopBtrfs({ dir });
    let disposed = false;
    try {
      expect(fs.device).toMatch(/^\/dev\/loop\d+$/);
      expect(await isMountPoint(fs.mountPoint)).toBe(true);
      expect((await backingMount(fs.mountPoint)).fsType).toBe('btrfs');
      expect(await loopsUnder(dir)).toHaveLength(1);
      await writeFile(join(fs.mountPoint, 'x'), 'x');
      await fs.dispose();
      disposed = true;
      expect(await mountsUnder(dir)).toEqual([]);
      expect(await loopsUnder(dir)).toEqual([]);
      expect(existsSync(fs.file)).toBe(false);
      expect(await readdir(dir)).toEqual([]);
      await fs.dispose(); // idempotent
    } finally {
      if (!disposed) await fs.dispose();
    }
  });

  it('undoes every step when setup fails (a file too small for btrfs)', async () => {
    await expect(createLoopBtrfs({ dir, sizeMiB: 1 })).rejects.toThrow(/mkfs\.btrfs/);
    expect(await readdir(dir)).toEqual([]);
  });
});
