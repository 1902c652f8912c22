// applyEntries: files and symlinks made in order relative to a directory handle, one name each, on the threadpool.
import {
  closeSync,
  constants,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { native, type ApplyEntryOp } from './index.js';

describe('applyEntries', () => {
  let dir: string;
  let dirFd: number;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-apply-batch-'));
    mkdirSync(join(dir, 'root/sub'), { recursive: true });
    dirFd = openSync(join(dir, 'root'), native().O_PATH | constants.O_DIRECTORY);
  });
  afterEach(() => {
    closeSync(dirFd);
    rmSync(dir, { recursive: true, force: true });
  });

  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const file = (name: string, ...data: string[]): ApplyEntryOp => ({
    kind: 'file',
    dirFd,
    name,
    uid,
    gid,
    mode: 0o640,
    mtimeMs: 1_500_000_000_123,
    data: data.map((d) => Buffer.from(d)),
  });

  it('writes files from their chunks and symlinks, in order, with modes and times', async () => {
    writeFileSync(join(dir, 'root/old'), 'old');
    const r = await native().applyEntries([
      file('a', 'he', '', 'llo'),
      { kind: 'symlink', dirFd, name: 'l', uid, gid, mode: 0, mtimeMs: 1_000, target: '../../outside' },
      file('old', 'new'),
      file('l', 'a file now'),
    ]);
    expect(r).toEqual({ done: 4, blocked: false, warnings: [] });
    expect(readFileSync(join(dir, 'root/a'), 'utf8')).toBe('hello');
    const st = lstatSync(join(dir, 'root/a'));
    expect([st.mode & 0o7777, st.mtimeMs]).toEqual([0o640, 1_500_000_000_123]);
    expect(readFileSync(join(dir, 'root/old'), 'utf8')).toBe('new');
    expect(readFileSync(join(dir, 'root/l'), 'utf8')).toBe('a file now');
  });

  it('keeps a symlink its own times and never writes through it', async () => {
    const r = await native().applyEntries([
      { kind: 'symlink', dirFd, name: 'l', uid, gid, mode: 0, mtimeMs: 2_000, target: 'sub' },
    ]);
    expect(r.done).toBe(1);
    expect(readlinkSync(join(dir, 'root/l'))).toBe('sub');
    expect(lstatSync(join(dir, 'root/l')).mtimeMs).toBe(2_000);
    expect(lstatSync(join(dir, 'root/sub')).mtimeMs).not.toBe(2_000);
  });

  it('stops before an op whose name is a directory, leaving it untouched', async () => {
    const r = await native().applyEntries([file('x', 'x'), file('sub', 'no'), file('y', 'y')]);
    expect(r).toEqual({ done: 1, blocked: true, warnings: [] });
    expect(lstatSync(join(dir, 'root/sub')).isDirectory()).toBe(true);
    expect(() => lstatSync(join(dir, 'root/y'))).toThrow();
  });

  it('reports the first failure with the op index, and stops there', async () => {
    const bad = { ...file('z', 'z'), dirFd: 1_000_000 };
    const r = await native().applyEntries([file('x', 'x'), bad, file('y', 'y')]);
    expect(r.done).toBe(1);
    expect(r.error).toMatchObject({ index: 1, code: 'EBADF', syscall: 'openat', path: 'z' });
    expect(() => lstatSync(join(dir, 'root/y'))).toThrow();
  });

  it('refuses a name that is not one path component, naming the op', () => {
    for (const name of ['', '.', '..', 'sub/x', '../x'])
      expect(() => native().applyEntries([file('ok'), file(name)])).toThrow(
        /^applyEntries: ops\[1\]: name must be one path component$/,
      );
    expect(() => native().applyEntries([{ ...file('m'), mode: 0o10000 }])).toThrow(/ops\[0\]: mode must be/);
  });
});
