// The `berth-registry` command (engine/registry/registry-cli.ts) as a process: it
// serves on the address given, stops cleanly on SIGTERM (or when its stdin closes,
// with --exit-with-stdin), and refuses bad usage.
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../registry-cli.ts', import.meta.url));
const run = (args: string[]) => execa(process.execPath, ['--import', 'tsx', cli, ...args], { reject: false, timeout: 30_000 });

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

  it('with --exit-with-stdin stops when its stdin closes (its supervisor went away)', async () => {
    const child = execa(process.execPath, ['--import', 'tsx', cli, '--root', join(dir, 'root2'), '--addr', '127.0.0.1:0', '--log-level', 'silent', '--exit-with-stdin'], {
      reject: false,
      timeout: 30_000,
      stdin: 'pipe',
    });
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

  it.each([
    [['--addr', '127.0.0.1:0'], 2, /--root is required/],
    [['--root', '/nonexistent-berth', '--bogus'], 2, /Unknown option/],
    [['--root', '/nonexistent-berth', '--addr', '192.0.2.1:5000'], 1, /not a loopback address/],
  ])('%j exits %i', async (args, code, message) => {
    const result = await run(args);
    expect(result.exitCode).toBe(code);
    expect(result.stderr).toMatch(message);
  });
});
