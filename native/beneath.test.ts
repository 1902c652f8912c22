// openBeneath: opens below a directory fd never through a symlink and never out of it.
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { native } from './index.js';

describe.each(['openBeneath', 'openBeneathWalk'] as const)('%s', (fn) => {
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

  const open = (dirFd: number, rel: string, flags: number) => native()[fn](dirFd, rel, flags);
  const code = (call: () => unknown): string | undefined => {
    try {
      closeSync(call() as number);
      return undefined;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code;
    }
  };

  it('opens plain paths below the directory, and the directory itself for ""', () => {
    const fd = open(rootFd, 'd/f', constants.O_RDONLY);
    try {
      expect(fstatSync(fd).isFile()).toBe(true);
    } finally {
      closeSync(fd);
    }
    const self = open(rootFd, '', native().O_PATH);
    try {
      expect(fstatSync(self).ino).toBe(fstatSync(rootFd).ino);
    } finally {
      closeSync(self);
    }
  });

  it('refuses a symlink anywhere (ELOOP), even one that stays inside', () => {
    expect(code(() => open(rootFd, 'in/f', constants.O_RDONLY))).toBe('ELOOP');
    expect(code(() => open(rootFd, 'out', constants.O_RDONLY))).toBe('ELOOP');
  });

  it('refuses a way out (EXDEV): .. above the directory, an absolute path', () => {
    expect(code(() => open(rootFd, '../outside', constants.O_RDONLY))).toBe('EXDEV');
    expect(code(() => open(rootFd, join(dir, 'outside'), constants.O_RDONLY))).toBe('EXDEV');
  });

  it('gives a handle on a last-component symlink itself with O_PATH|O_NOFOLLOW', () => {
    const fd = open(rootFd, 'out', native().O_PATH | constants.O_NOFOLLOW);
    try {
      expect(fstatSync(fd).isSymbolicLink()).toBe(true);
    } finally {
      closeSync(fd);
    }
  });
});
