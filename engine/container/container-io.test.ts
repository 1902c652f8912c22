// ContainerIO with ordinary child processes standing in for a container's process:
// every line reaches the json-file log (100 MB included, with a client attached
// that never reads), rotation keeps the newest files, attach filters streams and
// feeds stdin, and the frame codec round-trips.
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ContainerProcess } from '../execdriver/execdriver.js';
import { background } from '../trace/context.js';
import { ContainerIO, type OutputChunk } from './container-io.js';
import { decodeLogLine, formatTimeNs, parseTimeNs } from './json-log.js';
import { encodeFrame, frameDecoder, frameEncoder, type DecodedFrame } from './stream-frames.js';

const ctx = background();
let dir: string;
const children: ChildProcess[] = [];
const ios: ContainerIO[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-io-'));
});

afterEach(async () => {
  for (const io of ios.splice(0)) await io.close();
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function run(script: string, stdin = false): { proc: ContainerProcess; exited: Promise<number> } {
  const child = spawn('sh', ['-c', script], { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  children.push(child);
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  return {
    proc: { id: 'c1', pid: child.pid!, stdin: child.stdin ?? undefined, stdout: child.stdout!, stderr: child.stderr! },
    exited,
  };
}

async function openIO(opts: Partial<Parameters<typeof ContainerIO.open>[1]> = {}): Promise<ContainerIO> {
  const io = await ContainerIO.open(ctx, {
    logPath: join(dir, 'c1', 'c1-json.log'),
    tty: false,
    openStdin: false,
    ...opts,
  });
  ios.push(io);
  return io;
}

async function collect(output: Readable): Promise<OutputChunk[]> {
  const chunks: OutputChunk[] = [];
  for await (const c of output) chunks.push(c as OutputChunk);
  return chunks;
}

function text(chunks: OutputChunk[], stream?: string): string {
  return Buffer.concat(chunks.filter((c) => stream === undefined || c.stream === stream).map((c) => c.data)).toString();
}

function logEntries(path: string) {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => decodeLogLine(l)!);
}

describe('json-file log lines', () => {
  it('formats and parses times with nine fraction digits', () => {
    const ns = 1_796_000_000_123_456_789n;
    const s = formatTimeNs(ns);
    expect(s).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.123456789Z$/);
    expect(parseTimeNs(s)).toBe(ns);
    expect(parseTimeNs('2026-12-06T18:00:00Z')).toBe(BigInt(Date.parse('2026-12-06T18:00:00Z')) * 1_000_000n);
    expect(parseTimeNs('2026-12-06T18:00:00.5+01:00')).toBe(
      BigInt(Date.parse('2026-12-06T17:00:00Z')) * 1_000_000n + 500_000_000n,
    );
    expect(parseTimeNs('yesterday')).toBeUndefined();
  });
});

describe('ContainerIO', () => {
  it('writes stdout and stderr lines to the log in Docker json-file format, a partial last line too', async () => {
    const io = await openIO();
    const { proc, exited } = run('echo out1; echo err1 >&2; printf "a \\"quoted\\" line\\n"; printf tail');
    io.connect(proc);
    expect(await exited).toBe(0);
    await io.drained();
    const path = join(dir, 'c1', 'c1-json.log');
    const raw = readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    for (const line of raw)
      expect(line).toMatch(
        /^\{"log":".*","stream":"(stdout|stderr)","time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"\}$/,
      );
    const entries = logEntries(path);
    const out = entries.filter((e) => e.stream === 'stdout').map((e) => e.data.toString());
    expect(out).toEqual(['out1\n', 'a "quoted" line\n', 'tail']);
    expect(entries.filter((e) => e.stream === 'stderr').map((e) => e.data.toString())).toEqual(['err1\n']);
  });

  it('loses no line of 100 MB written fast to stdout, while an attached client that never reads stays bounded', async () => {
    const io = await openIO({ attachBacklog: 256 * 1024 });
    const lines = 1_500_000;
    const pad = 'x'.repeat(60);
    const { proc, exited } = run(`awk 'BEGIN { for (i = 0; i < ${lines}; i++) printf "%08d ${pad}\\n", i }'`);
    io.connect(proc);
    const stuck = io.attach({ stdout: true }); // never read
    const reading = io.attach({ stdout: true });
    const received = (async () => {
      let bytes = 0;
      for await (const c of reading.output) bytes += (c as OutputChunk).data.length;
      return bytes;
    })();
    expect(await exited).toBe(0);
    await io.drained();
    const total = lines * 70;
    expect(await received).toBe(total);
    expect(stuck.dropped).toBeGreaterThan(total - 2 * 256 * 1024 - 70_000);
    expect((stuck.output as unknown as { backlog: number }).backlog).toBeLessThanOrEqual(256 * 1024 + 65_536);
    const rl = createInterface({ input: createReadStream(join(dir, 'c1', 'c1-json.log')) });
    let expected = 0;
    for await (const line of rl) {
      const entry = decodeLogLine(line);
      const seq = entry === undefined ? -1 : Number(entry.data.subarray(0, 8).toString());
      if (entry?.stream !== 'stdout' || seq !== expected || entry.data.length !== 70) {
        throw new Error(`log line ${expected}: missing, out of order or damaged: ${line}`);
      }
      expected++;
    }
    expect(expected).toBe(lines);
  }, 180_000);

  it('rotates at max-size keeping max-file files, newest content intact', async () => {
    const io = await openIO({ maxSize: 16 * 1024, maxFile: 3 });
    const { proc, exited } = run(`i=0; while [ $i -lt 2000 ]; do printf "%05d\\n" $i; i=$((i+1)); done`);
    io.connect(proc);
    await exited;
    await io.drained();
    const base = join(dir, 'c1', 'c1-json.log');
    expect(existsSync(`${base}.1`)).toBe(true);
    expect(existsSync(`${base}.2`)).toBe(true);
    expect(existsSync(`${base}.3`)).toBe(false);
    const line = 200; // an upper bound of one entry's size here
    for (const p of [base, `${base}.1`, `${base}.2`]) expect(statSync(p).size).toBeLessThan(16 * 1024 + line);
    const seqs = [`${base}.2`, `${base}.1`, base].flatMap((p) => logEntries(p)).map((e) => Number(e.data.toString()));
    // Contiguous up to the last line: the oldest lines went with the dropped files.
    expect(seqs.at(-1)).toBe(1999);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => 2000 - seqs.length + i));
    expect(seqs.length).toBeGreaterThan(400); // two full files at least
  });

  it('attaches with a stream filter and feeds stdin; StdinOnce closes the container stdin when the client input ends', async () => {
    const io = await openIO({ openStdin: true, stdinOnce: true });
    expect(io.stdio()).toEqual(['pipe', 'pipe', 'pipe']);
    const { proc, exited } = run('while read -r l; do echo "out:$l"; echo "err:$l" >&2; done; echo bye', true);
    io.connect(proc);
    const both = io.attach({ stdin: true });
    const errOnly = io.attach({ stdout: false, stderr: true });
    const bothChunks = collect(both.output);
    const errChunks = collect(errOnly.output);
    both.stdin!.write('one\n');
    both.stdin!.end('two\n');
    expect(await exited).toBe(0);
    await io.drained();
    expect(text(await bothChunks, 'stdout')).toBe('out:one\nout:two\nbye\n');
    expect(text(await bothChunks, 'stderr')).toBe('err:one\nerr:two\n');
    const errs = await errChunks;
    expect(errs.every((c) => c.stream === 'stderr')).toBe(true);
    expect(text(errs)).toBe('err:one\nerr:two\n');
  });

  it('an attachment made before the process starts gets its output from the first byte; detach ends one client only; after close attach ends at once', async () => {
    const io = await openIO({ openStdin: true });
    const early = io.attach({ stdin: true });
    const gone = io.attach();
    gone.detach();
    early.stdin!.end('typed before start\n');
    const { proc, exited } = run('read -r x; echo "first $x"; echo second', true);
    io.connect(proc);
    const [ce, cg] = await Promise.all([collect(early.output), collect(gone.output)]);
    await exited;
    expect(cg).toEqual([]);
    expect(text(ce)).toBe('first typed before start\nsecond\n');
    expect(() => io.resize(10, 10)).toThrow(/no TTY/);
    await io.close();
    expect(await collect(io.attach().output)).toEqual([]);
  });
});

describe('ContainerIO when the disk fails', () => {
  it('keeps the container running and attached clients served when log writes fail (ENOSPC), and says so', async () => {
    const warnings: string[] = [];
    const logger = {
      level: 'warn',
      debug() {},
      info() {},
      error() {},
      warn(m: string, f?: Record<string, unknown>) {
        warnings.push(`${m} ${String(f?.error)}`);
      },
      with() {
        return logger;
      },
    };
    const logPath = join(dir, 'full-json.log');
    symlinkSync('/dev/full', logPath);
    const io = await ContainerIO.open(
      { ...ctx, logger: logger as unknown as typeof ctx.logger },
      { logPath, tty: false, openStdin: false },
    );
    ios.push(io);
    const { proc, exited } = run('i=0; while [ $i -lt 200 ]; do echo "line $i"; i=$((i+1)); done');
    io.connect(proc);
    const seen = collect(io.attach().output);
    expect(await exited).toBe(0);
    await io.drained();
    expect(text(await seen).split('\n')).toHaveLength(201);
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings[0]).toMatch(/container log write failed .*ENOSPC/);
  });
});

describe('stream frames', () => {
  it('encodes Docker 8-byte headers and decodes them back across chunk boundaries', async () => {
    const f = encodeFrame('stderr', Buffer.from('hello'));
    expect([...f.subarray(0, 8)]).toEqual([2, 0, 0, 0, 0, 0, 0, 5]);
    const enc = frameEncoder(false);
    const dec = frameDecoder();
    enc.pipe(dec);
    const out: DecodedFrame[] = [];
    dec.on('data', (d: DecodedFrame) => out.push(d));
    const done = new Promise((r) => dec.on('end', r));
    enc.write({ stream: 'stdout', data: Buffer.from('a'.repeat(70_000)) });
    enc.write({ stream: 'stderr', data: Buffer.from('e') });
    enc.write({ stream: 'stdout', data: Buffer.alloc(0) });
    enc.end();
    await done;
    expect(out.map((o) => [o.stream, o.data.length])).toEqual([
      ['stdout', 70_000],
      ['stderr', 1],
    ]);
    const raw = frameEncoder(true);
    const bytes: Buffer[] = [];
    raw.on('data', (b: Buffer) => bytes.push(b));
    raw.end({ stream: 'stdout', data: Buffer.from('raw') });
    await new Promise((r) => raw.on('end', r));
    expect(Buffer.concat(bytes).toString()).toBe('raw');
  });

  it('rejects a bad header and a stream cut inside a frame', async () => {
    const bad = frameDecoder();
    const err = new Promise<Error>((r) => bad.on('error', r));
    bad.write(Buffer.from([7, 0, 0, 0, 0, 0, 0, 1, 0x41]));
    expect((await err).message).toMatch(/bad header/);
    const cut = frameDecoder();
    cut.resume();
    const err2 = new Promise<Error>((r) => cut.on('error', r));
    cut.end(Buffer.from([1, 0, 0, 0, 0, 0, 0, 9, 0x41]));
    expect((await err2).message).toMatch(/ended inside a frame/);
  });
});
