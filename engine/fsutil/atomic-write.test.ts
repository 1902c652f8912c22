import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFileAtomicSync, writeFilesAtomic } from './atomic-write.js';

describe('atomic writes', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-atomic-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates missing directories only when asked', async () => {
    const path = join(dir, 'a', 'b', 'f');
    await expect(writeFileAtomic(path, 'x')).rejects.toMatchObject({ code: 'ENOENT' });
    await writeFileAtomic(path, 'x', { makeDirs: true, mode: 0o640 });
    expect(readFileSync(path, 'utf8')).toBe('x');
    expect(statSync(path).mode & 0o777).toBe(0o640);
  });

  it('takes any Uint8Array view, not only Buffers', async () => {
    const backing = new Uint8Array([9, 1, 2, 3, 9]);
    await writeFilesAtomic([{ path: join(dir, 'v'), data: backing.subarray(1, 4), sync: true }]);
    expect([...readFileSync(join(dir, 'v'))]).toEqual([1, 2, 3]);
  });

  it('names the subject in a BerthError when given one, keeping the errno', async () => {
    const path = join(dir, 'missing', 'f');
    await expect(writeFileAtomic(path, 'x', { subject: `result file ${path}` })).rejects.toMatchObject({
      name: 'BerthError',
      code: 'NOT_FOUND',
      message: expect.stringMatching(new RegExp(`^result file ${path}: ENOENT`)),
      details: expect.objectContaining({ errno: 'ENOENT' }),
    });
  });

  it('passes syncDir through and still writes the file', async () => {
    await writeFileAtomic(join(dir, 'd'), 'durable', { sync: true, syncDir: true, mode: 0o644 });
    expect(readFileSync(join(dir, 'd'), 'utf8')).toBe('durable');
    expect(statSync(join(dir, 'd')).mode & 0o777).toBe(0o644);
  });

  it('writes synchronously too: replaces the file with the exact mode (no umask), leaves no temp file', () => {
    const path = join(dir, 'state.json');
    writeFileAtomicSync(path, 'old');
    const old = process.umask(0o077);
    try {
      writeFileAtomicSync(path, new Uint8Array([110, 101, 119]), { mode: 0o644 });
    } finally {
      process.umask(old);
    }
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('fails synchronously naming the subject, keeping the errno, and removes its temp file', () => {
    const missing = join(dir, 'missing', 'f');
    expect(() => writeFileAtomicSync(missing, 'x', { subject: `state ${missing}` })).toThrow(
      expect.objectContaining({ code: 'NOT_FOUND', message: expect.stringContaining(`state ${missing}`) }),
    );
    // a rename onto a directory fails after the temp file was written: the temp goes
    const target = join(dir, 'adir');
    mkdirSync(join(target, 'inside'), { recursive: true });
    expect(() => writeFileAtomicSync(target, 'x')).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    expect(readdirSync(dir)).toEqual(['adir']);
  });
});
