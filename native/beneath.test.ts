// openBeneath: opens below a directory fd never through a symlink and never out of it.
import { closeSync, constants, fstatSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { native } from './index.js';

describe('openBeneath', () => {
  let dir: string;
  let rootFd: number;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-beneath-'));
    mkdirSync(join(dir, 'root/d'), { recursive: true });
    writeFileSync(join(dir, 'root/d/f'), 'f');
    writeFileSync(join(dir, 'outside'), 'outside');
    symlinkSync('d', join(dir, 'root/in'));
    symlinkSync('../outside', join(dir, 'root/out'));
    rootFd = openSync(join(dir, 'root'), constants.O_RDONLY | constants.O_DIRECTORY);
  });
  afterEach(() => {
    closeSync(rootFd);
    rmSync(dir, { recursive: true, force: true });
  });

  const code = (fn: () => unknown): string | undefined => {
    try {
      closeSync(fn() as number);
      return undefined;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code;
    }
  };

  it('opens plain paths below the directory, and the directory itself for ""', () => {
    const fd = native().openBeneath(rootFd, 'd/f', constants.O_RDONLY);
    try {
      expect(fstatSync(fd).isFile()).toBe(true);
    } finally {
      closeSync(fd);
    }
    const self = native().openBeneath(rootFd, '', native().O_PATH);
    try {
      expect(fstatSync(self).ino).toBe(fstatSync(rootFd).ino);
    } finally {
      closeSync(self);
    }
  });

  it('refuses a symlink anywhere (ELOOP), even one that stays inside', () => {
    expect(code(() => native().openBeneath(rootFd, 'in/f', constants.O_RDONLY))).toBe('ELOOP');
    expect(code(() => native().openBeneath(rootFd, 'out', constants.O_RDONLY))).toBe('ELOOP');
  });

  it('refuses a way out (EXDEV): .. above the directory, an absolute path', () => {
    expect(code(() => native().openBeneath(rootFd, '../outside', constants.O_RDONLY))).toBe('EXDEV');
    expect(code(() => native().openBeneath(rootFd, join(dir, 'outside'), constants.O_RDONLY))).toBe('EXDEV');
  });

  it('gives a handle on a last-component symlink itself with O_PATH|O_NOFOLLOW', () => {
    const fd = native().openBeneath(rootFd, 'out', native().O_PATH | constants.O_NOFOLLOW);
    try {
      expect(fstatSync(fd).isSymbolicLink()).toBe(true);
    } finally {
      closeSync(fd);
    }
  });
});
