// The documented way to run berth and berthd from a checkout: their bin files,
// executed directly from any working directory, and the exit codes of a missing
// daemon, an unknown command and a bad flag.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { packagePath } from '../../native/package-root.js';
import { commands } from './cli.js';

const cwd = mkdtempSync(join(tmpdir(), 'berth-bin-'));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

const run = (bin: string, args: string[], env: Record<string, string> = {}) =>
  execa(packagePath(...bin.split('/')), args, {
    cwd,
    reject: false,
    env: { ...env, PATH: process.env.PATH },
    extendEnv: false,
    timeout: 60_000,
  });

describe('bin files from a checkout', () => {
  it('berth --help prints the usage from another directory', async () => {
    const r = await run('engine/client/bin.cjs', ['--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('usage: berth [-H HOST] COMMAND');
  });

  it('berthd --help prints its flags; a bad flag exits 2', async () => {
    const r = await run('engine/daemon/bin.mjs', ['--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('--storage-driver NAME');
    const bad = await run('engine/daemon/bin.mjs', ['-H', 'tcp://0.0.0.0:2375']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('only on loopback');
  });

  it('berth exits 125 for an unknown command and a bad flag, 1 when no daemon answers ps, 125 for run', async () => {
    expect((await run('engine/client/bin.cjs', ['frobnicate'])).exitCode).toBe(125);
    expect((await run('engine/client/bin.cjs', ['ps', '--bogus'])).exitCode).toBe(125);
    const host = `unix://${join(cwd, 'none.sock')}`;
    const ps = await run('engine/client/bin.cjs', ['ps'], { BERTH_HOST: host });
    expect(ps.exitCode).toBe(1);
    expect(ps.stderr).toContain(`cannot connect to the berth daemon at ${host}`);
    expect((await run('engine/client/bin.cjs', ['-H', host, 'run', 'img'])).exitCode).toBe(125);
  });

  it('the bin names every command, so each has its own code cache', () => {
    const text = readFileSync(packagePath('engine', 'client', 'bin.cjs'), 'utf8');
    const listed = /const COMMANDS = \(([^)]*)\)/
      .exec(text)?.[1]
      ?.match(/'[^']*'/g)
      ?.join('')
      .replace(/'/g, '');
    expect(listed?.split(' ').sort()).toEqual(Object.keys(commands).sort());
  });

  it('runs Node without NODE_EXTRA_CA_CERTS (no CA file parsed at start; berth makes no TLS connection)', async () => {
    // Node warns at start when the file cannot be loaded: it would, if the bin passed the variable on
    const ca = { NODE_EXTRA_CA_CERTS: join(cwd, 'no-such-ca.pem') };
    const r = await run('engine/client/bin.cjs', ['--help'], ca);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    const plain = await execa(process.execPath, ['-e', '0'], { env: ca, reject: false });
    expect(plain.stderr).toContain('no-such-ca.pem');
  });

  it('a command run once through the bin runs again from its code cache with the same outcome', async () => {
    const host = `unix://${join(cwd, 'none.sock')}`;
    const bundleDir = packagePath('engine', 'client', '.bundle');
    for (const f of readdirSync(bundleDir)) if (f.endsWith('.version.cache')) rmSync(join(bundleDir, f));
    const first = await run('engine/client/bin.cjs', ['-H', host, 'version']);
    const again = await run('engine/client/bin.cjs', ['-H', host, 'version']);
    expect(first.exitCode).toBe(1);
    expect([again.exitCode, again.stderr]).toEqual([first.exitCode, first.stderr]);
    expect(readdirSync(bundleDir).some((f) => /^cli\.[0-9a-f]{16}\.version\.cache$/.test(f))).toBe(true);
  });
});
