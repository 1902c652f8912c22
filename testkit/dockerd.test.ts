// The private dockerd's command line: all its files in its own folder, and two such daemons at once neither meet
// nor touch the host's /etc/docker (where dockerd 20.10 writes its trust key by default).
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { needs, root, tool } from './needs.js';
import { folderState, privateDockerd } from './dockerd.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), `bdk-${process.pid}-`));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('privateDockerd', () => {
  it('names only files in its folder and moves the trust key there through the config file', () => {
    const dir = tempDir();
    const d = privateDockerd(dir, { flags: ['--bridge=none'] });
    expect(d.argv).toEqual([
      'dockerd',
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      join(dir, 'dockerd.pid'),
      '-H',
      `unix://${join(dir, 'docker.sock')}`,
      '--config-file',
      join(dir, 'daemon.json'),
      '--bridge=none',
    ]);
    expect(JSON.parse(readFileSync(d.config, 'utf8'))).toEqual({ 'deprecated-key-path': join(dir, 'key.json') });
    expect(privateDockerd(dir, { dataRoot: '/elsewhere' }).argv.slice(1, 3)).toEqual(['--data-root', '/elsewhere']);
  });

  it('folderState tells a made, rewritten or removed entry from none', () => {
    const dir = tempDir();
    const empty = folderState(dir);
    expect(folderState(dir)).toEqual(empty);
    privateDockerd(dir);
    const one = folderState(dir);
    expect(one).not.toEqual(empty);
    expect(one.some((l) => l.startsWith('daemon.json: file '))).toBe(true);
    expect(folderState(join(dir, 'none'))).toEqual([`${join(dir, 'none')}: absent`]);
  });
});

needs(root(), tool('dockerd', 'docker.io'), tool('docker', 'docker.io')).describe(
  'two private dockerds at once',
  () => {
    const daemons: ResultPromise[] = [];
    afterEach(async () => {
      for (const d of daemons.splice(0)) {
        if (d.pid !== undefined && d.exitCode === null && d.signalCode === null) {
          d.kill('SIGTERM');
          const timer = setTimeout(() => d.kill('SIGKILL'), 30_000);
          await d;
          clearTimeout(timer);
        }
      }
    });

    it(
      "each has its own trust key (its ID is that key's) and the host's /etc/docker is untouched",
      { timeout: 180_000 },
      async () => {
        const etcDocker = folderState();
        const started = [tempDir(), tempDir()].map((dir) => {
          const files = privateDockerd(dir, {
            flags: [
              '--bridge=none',
              '--iptables=false',
              '--ip-masq=false',
              '--storage-driver=vfs',
              '--log-level=error',
            ],
          });
          const [cmd, ...args] = files.argv;
          const daemon = execa(cmd!, args, { reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
          daemons.push(daemon);
          return { dir, files, daemon };
        });
        const docker = (host: string, ...args: string[]) =>
          execa('docker', ['-H', host, ...args], { reject: false, timeout: 20_000, stdin: 'ignore' });
        const ids = await Promise.all(
          started.map(async ({ files, daemon }) => {
            const deadline = Date.now() + 90_000;
            for (;;) {
              const r = await docker(files.host, 'info', '--format', '{{.ID}}');
              if (r.exitCode === 0 && r.stdout.trim() !== '') return r.stdout.trim();
              if (daemon.exitCode !== null || Date.now() > deadline)
                throw new Error(`dockerd did not answer on ${files.socket}: ${String((await daemon).stderr).trim()}`);
              await new Promise((res) => setTimeout(res, 200));
            }
          }),
        );
        // the daemon's ID is the key ID of the trust key it loaded: each its own, made in its own folder
        const kids = started.map(
          ({ files }) => (JSON.parse(readFileSync(files.trustKey, 'utf8')) as { kid: string }).kid,
        );
        expect(ids).toEqual(kids);
        expect(ids[0]).not.toBe(ids[1]);
        expect(folderState()).toEqual(etcDocker);
        for (const { daemon } of started) {
          daemon.kill('SIGTERM');
          await daemon;
        }
        expect(folderState()).toEqual(etcDocker);
        const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
        for (const { dir } of started) expect(mounts.includes(dir)).toBe(false);
      },
    );
  },
);
