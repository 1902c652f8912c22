// berth-runtime as a user runs it: its bin file, which runs the command's bundle (the
// runtime-spec validator compiled into it at build time, the code cache of the verb).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { commands } from './commands/index.js';
import { main } from './main.js';

const BIN = fileURLToPath(new URL('./bin.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'berth-runtime-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rt = (...args: string[]) =>
  execa(BIN, ['--root', join(dir, 'state'), ...args], { cwd: dir, reject: false, timeout: 60_000 });

async function inProcess(...argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const sink = new Writable({ write: (c, _e, cb) => ((stderr += String(c)), cb()) });
  const code = await main(['--root', join(dir, 'state'), ...argv], { stdout: sink, stderr: sink });
  return { code, stderr };
}

describe('berth-runtime bin', () => {
  it('names every verb, so each has its own code cache', () => {
    const listed = /const VERBS = '([^']*)'/.exec(readFileSync(BIN, 'utf8'))?.[1]?.split(' ');
    expect(listed?.sort()).toEqual(commands.map((c) => c.name).sort());
  });

  it('refuses a config the schema refuses as the TypeScript does, and caches the verb it ran', async () => {
    const bundle = join(dir, 'bundle');
    mkdirSync(bundle);
    const bundleDir = join(fileURLToPath(new URL('.', import.meta.url)), '.bundle');
    for (const f of readdirSync(bundleDir)) if (f.endsWith('.spec.cache')) rmSync(join(bundleDir, f));
    expect((await rt('spec', '--bundle', bundle)).exitCode).toBe(0);
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ...spec, hostname: 7 }));
    const viaBin = await rt('create', '--bundle', bundle, 'bin-bad');
    const direct = await inProcess('create', '--bundle', bundle, 'bin-bad');
    expect(direct.code).toBe(1);
    expect(direct.stderr).toMatch(/hostname/);
    expect({ code: viaBin.exitCode, stderr: `${viaBin.stderr}\n` }).toEqual(direct);
    const caches = readdirSync(bundleDir);
    expect(caches.some((f) => /^main\.[0-9a-f]{16}\.spec\.cache$/.test(f))).toBe(true);
  });
});
