// The `berth-registry` command (engine/registry/registry-cli.ts) as a process: it
// serves on the address given, expires idle upload sessions as its flags say, stops
// cleanly on SIGTERM (or when its stdin closes, with --exit-with-stdin), and
// refuses bad usage.
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDuration } from '../registry-cli.js';

const cli = fileURLToPath(new URL('../registry-cli.ts', import.meta.url));
const run = (args: string[]) =>
  execa(process.execPath, ['--import', 'tsx', cli, ...args], { reject: false, timeout: 30_000 });

describe('berth-registry command', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `berth-registry-cli-${process.pid}-`));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves the API on the given address and exits 0 on SIGTERM', async () => {
    const child = run(['--root', join(dir, 'root'), '--addr', '127.0.0.1:0', '--log-level', 'silent']);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1] as string);
        });
        child.once('exit', () => reject(new Error(`berth-registry exited early: ${out}`)));
      });
      const res = await fetch(`${url}/v2/`);
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    } finally {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    }
    const result = await child;
    expect(result.exitCode).toBe(0);
  });

  it('--upload-ttl and --upload-purge-interval expire an idle upload session while it runs', async () => {
    const child = run([
      '--root',
      join(dir, 'root-ttl'),
      '--addr',
      '127.0.0.1:0',
      '--log-level',
      'silent',
      '--upload-ttl',
      '200ms',
      '--upload-purge-interval',
      '20ms',
    ]);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1] as string);
        });
        child.once('exit', () => reject(new Error(`berth-registry exited early: ${out}`)));
      });
      const started = await fetch(`${url}/v2/ttl/repo/blobs/uploads/`, { method: 'POST' });
      expect(started.status).toBe(202);
      const location = started.headers.get('location') as string;
      const deadline = Date.now() + 20_000;
      let status = 0;
      while ((status = (await fetch(`${url}${location}`)).status) === 204 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(status).toBe(404);
    } finally {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    }
    expect((await child).exitCode).toBe(0);
  });

  it('with --exit-with-stdin stops when its stdin closes (its supervisor went away)', async () => {
    const child = execa(
      process.execPath,
      [
        '--import',
        'tsx',
        cli,
        '--root',
        join(dir, 'root2'),
        '--addr',
        '127.0.0.1:0',
        '--log-level',
        'silent',
        '--exit-with-stdin',
      ],
      {
        reject: false,
        timeout: 30_000,
        stdin: 'pipe',
      },
    );
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('listening on')) resolve();
      });
      child.once('exit', () => reject(new Error(`berth-registry exited early: ${out}`)));
    });
    expect(child.exitCode).toBeNull();
    child.stdin?.end();
    const result = await child;
    expect(result.exitCode).toBe(0);
    expect(result.timedOut).toBe(false);
  });

  it('--auth-user and --auth-password-file: every request wants those Basic credentials', async () => {
    const secret = join(dir, 'password');
    await writeFile(secret, 'pa55\n');
    const child = run([
      '--root',
      join(dir, 'root-auth'),
      '--addr',
      '127.0.0.1:0',
      '--log-level',
      'silent',
      '--auth-user',
      'alice',
      '--auth-password-file',
      secret,
    ]);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1] as string);
        });
        child.once('exit', () => reject(new Error(`berth-registry exited early: ${out}`)));
      });
      const anonymous = await fetch(`${url}/v2/`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic /);
      const basic = (pw: string) => ({ Authorization: `Basic ${Buffer.from(`alice:${pw}`).toString('base64')}` });
      expect((await fetch(`${url}/v2/`, { headers: basic('wrong') })).status).toBe(401);
      expect((await fetch(`${url}/v2/`, { headers: basic('pa55') })).status).toBe(200);
    } finally {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    }
    expect((await child).exitCode).toBe(0);
  });

  it.each([
    [['--addr', '127.0.0.1:0'], 2, /--root is required/],
    [['--root', '/nonexistent-berth', '--bogus'], 2, /Unknown option/],
    [['--root', '/nonexistent-berth', '--addr', '192.0.2.1:5000'], 1, /not a loopback address/],
    [['--root', '/nonexistent-berth', '--upload-ttl', '7 days'], 2, /--upload-ttl: "7 days" is not a duration/],
    [['--root', '/nonexistent-berth', '--upload-purge-interval', '0s'], 2, /--upload-purge-interval: must be above 0/],
    [['--root', '/nonexistent-berth', '--auth-user', 'alice'], 2, /--auth-user and --auth-password-file go together/],
    [
      ['--root', '/nonexistent-berth', '--auth-user', 'a', '--auth-password-file', '/nonexistent-berth/pw'],
      2,
      /--auth-password-file \/nonexistent-berth\/pw: ENOENT/,
    ],
  ])('%j exits %i', async (args, code, message) => {
    const result = await run(args);
    expect(result.exitCode).toBe(code);
    expect(result.stderr).toMatch(message);
  });
});

describe('durations of the command line', () => {
  it.each([
    ['500ms', 500],
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['168h', 604_800_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['0s', 0],
  ])('%s is %i ms', (text, ms) => {
    expect(parseDuration(text, '--upload-ttl')).toBe(ms);
  });

  it.each([[''], ['10'], ['5d'], ['-1h'], ['1h 30m'], ['h']])('%j is refused naming the option', (text) => {
    expect(() => parseDuration(text, '--upload-ttl')).toThrow(/^--upload-ttl: .* is not a duration/);
  });
});
