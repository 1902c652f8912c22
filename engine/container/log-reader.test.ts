// Reading a container's log: after it exited (files only, across rotated files,
// with tail, since/until and stream filters) and while it runs (follow through
// rotations with no line lost or repeated, ending when the output ends).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { background, withSignal } from '../trace/context.js';
import { ContainerIO, type OutputChunk } from './container-io.js';
import type { LogEntry } from './json-log.js';
import { readLogs, secondsToNs } from './log-reader.js';

const ctx = background();
let dir: string;
const children: ChildProcess[] = [];
const ios: ContainerIO[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-logs-'));
});

afterEach(async () => {
  for (const io of ios.splice(0)) await io.close();
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function start(
  script: string,
  opts: { maxSize?: number; maxFile?: number; openStdin?: boolean; log?: string } = {},
) {
  const io = await ContainerIO.open(ctx, {
    logPath: join(dir, opts.log ?? 'c-json.log'),
    tty: false,
    openStdin: opts.openStdin ?? false,
    maxSize: opts.maxSize,
    maxFile: opts.maxFile,
  });
  ios.push(io);
  const child = spawn('sh', ['-c', script], { stdio: [opts.openStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  children.push(child);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  io.connect({
    id: 'c',
    pid: child.pid!,
    stdin: child.stdin ?? undefined,
    stdout: child.stdout!,
    stderr: child.stderr!,
  });
  return { io, exited, child };
}

async function all(gen: AsyncGenerator<LogEntry>): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of gen) out.push(e);
  return out;
}

const texts = (es: LogEntry[]) => es.map((e) => e.data.toString());

describe('readLogs', () => {
  it("reads an exited container's log across rotated files with tail and stream filters", async () => {
    const { io, exited } = await start('i=0; while [ $i -lt 300 ]; do echo "o$i"; echo "e$i" >&2; i=$((i+1)); done', {
      maxSize: 2048,
      maxFile: 100,
    });
    await exited;
    await io.drained();
    await io.close();
    const source = { logPath: join(dir, 'c-json.log') };
    const everything = await all(readLogs(ctx, source));
    expect(everything).toHaveLength(600);
    expect(texts(everything.filter((e) => e.stream === 'stdout'))).toEqual(
      Array.from({ length: 300 }, (_, i) => `o${i}\n`),
    );
    expect(texts(await all(readLogs(ctx, source, { stderr: false })))).toEqual(
      Array.from({ length: 300 }, (_, i) => `o${i}\n`),
    );
    // (stdout and stderr are separate pipes: their relative order is the log's, read back above)
    expect(await all(readLogs(ctx, source, { tail: 4 }))).toEqual(everything.slice(-4));
    // tail counts lines before the stream filter (Docker's behaviour)
    expect(await all(readLogs(ctx, source, { tail: 4, stdout: false }))).toEqual(
      everything.slice(-4).filter((e) => e.stream === 'stderr'),
    );
    expect(await all(readLogs(ctx, source, { tail: 1000 }))).toEqual(everything);
    // Read backwards from the end: tails within the newest file and across rotated ones.
    for (const n of [1, 7, 25, 60, 599, 600])
      expect(await all(readLogs(ctx, source, { tail: n })), `tail ${n}`).toEqual(everything.slice(-n));
    expect(await all(readLogs(ctx, source, { tail: 0 }))).toEqual([]);
    await expect(all(readLogs(ctx, source, { tail: -1 }))).rejects.toThrow(/tail -1/);
  });

  it('counts a partial last line in the tail', async () => {
    const { io, exited } = await start('echo a; echo b; printf c', { log: 'p-json.log' });
    await exited;
    await io.drained();
    const source = { logPath: join(dir, 'p-json.log') };
    expect(texts(await all(readLogs(ctx, source, { tail: 1 })))).toEqual(['c']);
    expect(texts(await all(readLogs(ctx, source, { tail: 2 })))).toEqual(['b\n', 'c']);
    expect(texts(await all(readLogs(ctx, source, { tail: 5 })))).toEqual(['a\n', 'b\n', 'c']);
  });

  it("filters by since and until on the entries' times", async () => {
    const { io, child } = await start('while read -r l; do echo "$l"; done', { openStdin: true });
    const seen = io.attach();
    const lines: string[] = [];
    const waitFor = (want: string) =>
      new Promise<void>((resolve) => {
        const check = (c: OutputChunk) => {
          lines.push(c.data.toString());
          if (lines.join('').includes(want)) {
            seen.output.off('data', check);
            resolve();
          }
        };
        seen.output.on('data', check);
      });
    let w = waitFor('a\n');
    child.stdin!.write('a\n');
    await w;
    await io.log.flushed();
    const mid = BigInt(Date.now() + 1) * 1_000_000n;
    await new Promise((r) => setTimeout(r, 5)); // the clock moves past mid; not a synchronisation
    w = waitFor('b\n');
    child.stdin!.write('b\n');
    await w;
    child.stdin!.end();
    await io.drained();
    const source = { logPath: join(dir, 'c-json.log'), io };
    expect(texts(await all(readLogs(ctx, source, { sinceNs: mid })))).toEqual(['b\n']);
    expect(texts(await all(readLogs(ctx, source, { untilNs: mid })))).toEqual(['a\n']);
    expect(secondsToNs(1.5)).toBe(1_500_000_000n);
  });

  it('follows a running container through rotations without losing or repeating a line, and ends with its output', async () => {
    const { io, child } = await start('while read -r l; do echo "$l"; done', {
      maxSize: 1024,
      maxFile: 1000,
      openStdin: true,
    });
    const watcher = io.attach();
    let seen = '';
    const upTo = (n: number) =>
      new Promise<void>((resolve) => {
        const check = (c: OutputChunk) => {
          seen += c.data.toString();
          if (seen.includes(`L${n}\n`)) {
            watcher.output.off('data', check);
            resolve();
          }
        };
        watcher.output.on('data', check);
      });
    let reached = upTo(499);
    child.stdin!.write(Array.from({ length: 500 }, (_, i) => `L${i}\n`).join(''));
    await reached;
    const following = all(readLogs(ctx, { logPath: join(dir, 'c-json.log'), io }, { follow: true }));
    reached = upTo(999);
    for (let i = 500; i < 1000; i++) child.stdin!.write(`L${i}\n`);
    await reached;
    child.stdin!.end();
    const got = texts(await following);
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => `L${i}\n`));
  });

  it('follow on a stopped container returns what is there; cancelling ctx ends a follow', async () => {
    const { io, exited } = await start('echo done');
    await exited;
    await io.drained();
    expect(texts(await all(readLogs(ctx, { logPath: join(dir, 'c-json.log'), io }, { follow: true })))).toEqual([
      'done\n',
    ]);

    const second = await start('read -r x; echo never', { openStdin: true, log: 'd-json.log' });
    const ac = new AbortController();
    const reading = all(
      readLogs(withSignal(ctx, ac.signal), { logPath: join(dir, 'd-json.log'), io: second.io }, { follow: true }),
    );
    ac.abort();
    expect(await reading).toEqual([]);
  });
});
