import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addonPath, native } from './index.js';

const strace = (() => {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('writeFilesAtomic', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-files-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a batch in one call, replacing old content, with the exact mode', async () => {
    writeFileSync(join(dir, 'a'), 'old content that is longer');
    const old = process.umask(0o077);
    try {
      await native().writeFilesAtomic([
        { path: join(dir, 'a'), data: 'new', mode: 0o644, sync: true },
        { path: join(dir, 'b'), data: Buffer.from([0, 1, 2, 255]) },
      ]);
    } finally {
      process.umask(old);
    }
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('new');
    expect(statSync(join(dir, 'a')).mode & 0o7777).toBe(0o644);
    expect([...readFileSync(join(dir, 'b'))]).toEqual([0, 1, 2, 255]);
    expect(statSync(join(dir, 'b')).mode & 0o7777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(['a', 'b']);
  });

  it('rejects with a system error naming the path, keeps earlier files, leaves no temp file', async () => {
    mkdirSync(join(dir, 'taken'));
    writeFileSync(join(dir, 'taken', 'x'), 'keeps the directory non-empty');
    const err = await native()
      .writeFilesAtomic([
        { path: join(dir, 'first'), data: '1' },
        { path: join(dir, 'taken'), data: '2' },
        { path: join(dir, 'third'), data: '3' },
      ])
      .then(
        () => undefined,
        (e: NodeJS.ErrnoException) => e,
      );
    expect(err?.code).toBe('EISDIR');
    expect(err?.syscall).toBe('rename');
    expect(err?.path).toBe(join(dir, 'taken'));
    expect(err?.message).toContain(join(dir, 'taken'));
    expect(readdirSync(dir).sort()).toEqual(['first', 'taken']);
  });

  it('reports a missing directory as ENOENT on the temp file', async () => {
    const err = await native()
      .writeFilesAtomic([{ path: join(dir, 'no', 'such', 'f'), data: 'x' }])
      .catch((e: NodeJS.ErrnoException) => e);
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'open' });
    expect((err as NodeJS.ErrnoException).path).toContain(join(dir, 'no', 'such', '.f.'));
  });

  it('refuses bad input with a TypeError naming the entry', () => {
    const w = native().writeFilesAtomic as (files: unknown) => Promise<void>;
    expect(() => w('x')).toThrow(/files must be an array/);
    expect(() =>
      w([
        { path: join(dir, 'a'), data: 'x' },
        { path: '', data: 'x' },
      ]),
    ).toThrow(/files\[1\]\.path/);
    expect(() => w([{ path: join(dir, 'a'), data: 3 }])).toThrow(/files\[0\]\.data/);
    expect(() => w([{ path: join(dir, 'a'), data: 'x', mode: 0o10000 }])).toThrow(/files\[0\]\.mode/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it.skipIf(!strace)(
    `fsyncs the file, then the directory after the rename, when asked${strace ? '' : ' (skipped: strace not installed)'}`,
    () => {
      const out = join(dir, 'out');
      mkdirSync(out);
      const traceFile = join(dir, 'trace');
      const script = `require(${JSON.stringify(addonPath)}).writeFilesAtomic([
      { path: ${JSON.stringify(join(out, 'plain'))}, data: 'p' },
      { path: ${JSON.stringify(join(out, 'durable'))}, data: 'd', sync: true, syncDir: true },
    ]).then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });`;
      execFileSync('strace', [
        '-f',
        '-qq',
        '-e',
        'trace=openat,fsync,rename',
        '-o',
        traceFile,
        process.execPath,
        '-e',
        script,
      ]);
      // Keep the calls of the writer's thread from its first temp file on: node's own start-up opens many files.
      const lines = readFileSync(traceFile, 'utf8').split('\n');
      const first = lines.findIndex((l) => l.includes(join(out, '.plain.')));
      expect(first).toBeGreaterThanOrEqual(0);
      // strace pads the thread id: "1859  openat(…" and "21472 openat(…"
      const tid = lines[first]!.split(/\s+/)[0];
      const mine = lines
        .slice(first)
        .filter((l) => l.split(/\s+/)[0] === tid)
        .map((l) => l.replace(/^\d+\s+/, ''));
      const calls = mine
        .map((l) => /^(\w+)\(/.exec(l)?.[1] ?? '')
        .filter((c) => ['openat', 'fsync', 'rename'].includes(c));
      // plain: open, rename (no fsync); durable: open, fsync, rename, open dir, fsync dir.
      expect(calls.slice(0, 7)).toEqual(['openat', 'rename', 'openat', 'fsync', 'rename', 'openat', 'fsync']);
      expect(mine.filter((l) => l.startsWith('openat('))[2]).toContain(`"${out}", O_RDONLY|O_CLOEXEC|O_DIRECTORY`);
      expect(readFileSync(join(out, 'durable'), 'utf8')).toBe('d');
    },
  );
});
