// Backing stores of every kind are really made (right filesystem, writable) and disposed
// of with no mount, loop device or file left, also after a setup step failed.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, execaSync } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../engine/errdefs/errors.js';
import { mountsUnder } from '../engine/graphdriver/mountinfo.js';
import { createBackingStore, type BackingKind } from './backing-store.js';
import { needs } from '../testkit/needs.js';

const isRoot = process.getuid?.() === 0;

function hasTool(cmd: string): boolean {
  try {
    execaSync('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

/** Why a kind cannot be made here, or undefined. */
function missing(kind: BackingKind): string | undefined {
  if (kind === 'host') return undefined;
  if (!isRoot) return 'needs root (mounts, loop devices)';
  const tool = { tmpfs: undefined, ext4: 'mkfs.ext4', xfs: 'mkfs.xfs', btrfs: 'mkfs.btrfs' }[kind];
  if (tool !== undefined && !hasTool(tool)) return `${tool} not installed`;
  return undefined;
}

/** Loop devices whose backing file lies under dir. */
async function loopsUnder(dir: string): Promise<string[]> {
  const { stdout } = await execa('losetup', ['-a', '-n', '-O', 'NAME,BACK-FILE', '--raw'], { reject: false });
  return String(stdout ?? '')
    .split('\n')
    .filter((l) => l.includes(dir));
}

const expectedFs: Record<BackingKind, string | undefined> = {
  host: undefined,
  tmpfs: 'tmpfs',
  ext4: 'ext4',
  xfs: 'xfs',
  btrfs: 'btrfs',
};

describe('createBackingStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), `berth-store-test-${process.pid}-`));
  });
  afterEach(async () => {
    const leftMounts = await mountsUnder(dir);
    const leftLoops = isRoot ? await loopsUnder(dir) : [];
    for (const m of leftMounts) await execa('umount', ['-l', m], { reject: false });
    for (const l of leftLoops) await execa('losetup', ['-d', l.split(' ')[0]], { reject: false });
    await rm(dir, { recursive: true, force: true });
    expect(leftMounts).toEqual([]);
    expect(leftLoops).toEqual([]);
  });

  for (const kind of ['host', 'tmpfs', 'ext4', 'xfs', 'btrfs'] as const) {
    const reason = missing(kind);
    needs(reason).it(`${kind}: made on the right filesystem, writable, disposed with nothing left`, async () => {
      const store = await createBackingStore(kind, { dir, sizeMiB: kind === 'xfs' ? 320 : 160 });
      let disposed = false;
      try {
        expect(store.kind).toBe(kind);
        expect(store.path.startsWith(dir)).toBe(true);
        expect(await readdir(store.path)).toEqual([]);
        if (expectedFs[kind] !== undefined) expect(store.filesystem).toBe(expectedFs[kind]);
        else expect(store.filesystem).not.toBe('');
        if (kind === 'host' || kind === 'tmpfs') expect(store.device).toBeUndefined();
        else {
          expect(store.device).toMatch(/^\/dev\/loop\d+$/);
          expect(await loopsUnder(dir)).toHaveLength(1);
        }
        expect(store.description).not.toBe('');
        await writeFile(join(store.path, 'x'), 'x');
        await store.dispose();
        disposed = true;
        expect(await mountsUnder(dir)).toEqual([]);
        expect(await readdir(dir)).toEqual([]);
        expect(existsSync(store.path)).toBe(false);
        await store.dispose(); // idempotent
      } finally {
        if (!disposed) await store.dispose();
      }
    });
  }

  needs(missing('btrfs')).it('undoes every step when mkfs fails (a file too small for btrfs)', async () => {
    const err = await createBackingStore('btrfs', { dir, sizeMiB: 1 }).catch((e: unknown) => e);
    expect(isBerthError(err)).toBe(true);
    expect((err as Error).message).toMatch(/^backing store btrfs .*: mkfs\.btrfs/);
    expect(await readdir(dir)).toEqual([]);
  });

  needs(missing('ext4')).it(
    'detaches the loop device and deletes the file when the mount fails after losetup',
    async () => {
      const err = await createBackingStore('ext4', { dir, sizeMiB: 32, mountOptions: 'no_such_option_berth' }).catch(
        (e: unknown) => e,
      );
      expect(isBerthError(err)).toBe(true);
      expect((err as Error).message).toMatch(
        /^backing store ext4 .*: mount \/dev\/loop\d+ \(ext4, no_such_option_berth\)/,
      );
      expect(await loopsUnder(dir)).toEqual([]);
      expect(await readdir(dir)).toEqual([]);
    },
  );

  needs(missing('tmpfs')).it('unmounts the tmpfs when a step after the mount fails', async () => {
    const err = await createBackingStore('tmpfs', { dir, mountOptions: 'nr_inodes=1' }).catch((e: unknown) => e);
    // nr_inodes=1: the root takes the only inode, so creating the data folder fails
    expect(isBerthError(err)).toBe(true);
    expect((err as Error).message).toMatch(/^backing store tmpfs /);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses an unknown kind and a bad size, naming them, and leaves nothing', async () => {
    await expect(createBackingStore('zfs' as BackingKind, { dir })).rejects.toThrow(
      'backing store "zfs": unknown kind (known: host, tmpfs, ext4, xfs, btrfs)',
    );
    await expect(createBackingStore('tmpfs', { dir, sizeMiB: 0 })).rejects.toThrow(
      'backing store tmpfs: size 0 MiB is not a positive integer',
    );
    expect(await readdir(dir)).toEqual([]);
  });
});
