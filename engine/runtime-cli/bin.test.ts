// berth-runtime as a user runs it: its bin file, which runs the command's bundle (the
// runtime-spec validator compiled into it at build time, the code cache of the verb).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultSpec } from '../execdriver/spec/defaults.js';
import { makeWorkloadRootfs } from '../execdriver/workload-rootfs.js';
import { needs, root as asRoot } from '../../testkit/needs.js';
import { commands } from './commands/index.js';
import { lightCommands } from './main-light.js';
import { SECCOMP_CACHE_DIR } from './seccomp-cache.js';
import { main } from './main.js';

const BIN = fileURLToPath(new URL('./bin.cjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'berth-runtime-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rt = (...args: string[]) =>
  execa(BIN, ['--root', join(dir, 'state'), ...args], { cwd: dir, reject: false, timeout: 60_000 });
const binList = (name: string) =>
  new RegExp(`const ${name} = '([^']*)'`).exec(readFileSync(BIN, 'utf8'))?.[1]?.split(' ');

async function inProcess(...argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const sink = new Writable({ write: (c, _e, cb) => ((stderr += String(c)), cb()) });
  const code = await main(['--root', join(dir, 'state'), ...argv], { stdout: sink, stderr: sink });
  return { code, stderr };
}

describe('berth-runtime bin', () => {
  it('names every verb, so each has its own code cache', () => {
    expect(binList('VERBS')?.sort()).toEqual(commands.map((c) => c.name).sort());
  });

  it('routes to the light bundle exactly the verbs it holds', () => {
    expect(binList('LIGHT')?.sort()).toEqual(lightCommands.map((c) => c.name).sort());
  });

  it('answers a light verb as the full command does, and hands it the usage', async () => {
    const viaBin = await rt('state', 'bin-none');
    const direct = await inProcess('state', 'bin-none');
    expect({ code: viaBin.exitCode, stderr: `${viaBin.stderr}\n` }).toEqual(direct);
    // the light bundle knows 4 verbs: the usage comes from the full command
    const help = await rt('--help', 'state');
    expect(help.exitCode).toBe(0);
    for (const c of commands) expect(help.stdout).toContain(`  ${c.usage}`);
  });

  it('runs Node without NODE_EXTRA_CA_CERTS (no CA file parsed at start)', async () => {
    // Node warns at start when the file cannot be loaded: it would, if the bin passed the variable on
    const r = await execa(BIN, ['--version'], {
      env: { NODE_EXTRA_CA_CERTS: join(dir, 'no-such-ca.pem') },
      reject: false,
    });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    const plain = await execa(process.execPath, ['-e', '0'], {
      env: { NODE_EXTRA_CA_CERTS: join(dir, 'no-such-ca.pem') },
      reject: false,
    });
    expect(plain.stderr).toContain('no-such-ca.pem');
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

  needs(asRoot()).it(
    'runs a container without loading node:net, streams, node:fs/promises, node:module or ajv (start-up cost, piped stdio)',
    async () => {
      const base = join(dir, 'modules');
      const bundle = join(base, 'bundle');
      mkdirSync(bundle, { recursive: true });
      // the runtime suite's shape: runc's spec with Docker's seccomp profile, no network namespace
      const spec = defaultSpec({
        args: ['/bin/true'],
        rootfs: makeWorkloadRootfs(join(base, 'rootfs')),
        seccomp: true,
      });
      spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== 'network');
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
      // a preload that records, at exit, which of Node's own modules the command loaded
      const dump = join(base, 'dump.cjs');
      const list = join(base, 'modules.txt');
      writeFileSync(
        dump,
        `const exit = process.exit; process.exit = (c) => { require('node:fs').writeFileSync(${JSON.stringify(list)}, [...process.moduleLoadList, ...Object.keys(require.cache)].join('\\n')); exit(c); };`,
      );
      const r = await execa(BIN, ['--root', join(base, 'state'), 'run', '--bundle', bundle, 'bin-modules'], {
        env: { NODE_OPTIONS: `--require ${dump}` },
        reject: false,
        timeout: 60_000,
      });
      expect({ code: r.exitCode, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      const loaded = readFileSync(list, 'utf8').split('\n');
      expect(loaded).toContain('NativeModule vm'); // the list is real: the bin runs its bundle in a vm.Script
      for (const m of [
        'NativeModule net',
        'NativeModule stream',
        'NativeModule fs/promises',
        'NativeModule internal/fs/rimraf',
        // the bundle's own require() serves its modules' createRequire (cli-bundle.mjs): no ES module loader
        'NativeModule module',
      ])
        expect(loaded).not.toContain(m);
      // a valid config is accepted by the generated check alone: ajv's validator (its own file) is not loaded
      expect(loaded.filter((f) => f.includes('.validator.'))).toEqual([]);
      // the first run kept Docker's profile, checked and compiled, in the state root's cache for this build
      const cache = join(base, 'state', SECCOMP_CACHE_DIR);
      const { id } = JSON.parse(readFileSync(new URL('./.bundle/main.inputs.json', import.meta.url), 'utf8')) as {
        id: string;
      };
      const [file, ...more] = readdirSync(cache);
      expect({ file: file?.startsWith(`${id}-`), more }).toEqual({ file: true, more: [] });
      const before = statSync(join(cache, file!));
      const again = await execa(BIN, ['--root', join(base, 'state'), 'run', '--bundle', bundle, 'bin-modules-2'], {
        reject: false,
        timeout: 60_000,
      });
      expect({ code: again.exitCode, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
      // the second run read it (a miss would have written the file again: another inode)
      expect(statSync(join(cache, file!)).ino).toBe(before.ino);
      expect(readdirSync(cache)).toEqual([file]);
    },
  );
});
