// The real docker CLI against berthd (DOCKER_HOST=unix://…): each docker binary
// found (Debian's /usr/bin/docker, /usr/local/bin/docker) runs version, pull,
// images, run --rm, run -d + logs + ps + exec + stop + rm, inspect, network
// create/ls/rm and a published port reached over HTTP on 127.0.0.1.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryServer } from '../../registry/server/index.js';
import {
  dockerClis,
  e2eSkipReason,
  startDaemonWorld,
  stopDaemonWorld,
  type DaemonProcess,
  type DaemonSetup,
  type DaemonWorld,
} from './e2e-kit.js';
import { needs } from '../../../testkit/needs.js';

const base = e2eSkipReason();
const binaries = dockerClis();

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port, path: '/' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    r.on('error', reject);
    r.end();
  });
}

for (const { bin, version } of binaries) {
  const reason = base ?? (version === undefined ? `${bin} not installed` : undefined);
  needs(reason).describe(`docker CLI ${bin}${version ? ` (${version})` : ''} against berthd`, () => {
    let world: DaemonWorld;
    let registry: RegistryServer;
    let daemon: DaemonProcess;
    let image: string;
    let config: string;

    async function docker(args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
      const r = await execa(bin, args, {
        reject: false,
        timeout: 60_000,
        env: { DOCKER_HOST: daemon.host, DOCKER_CONFIG: config, PATH: process.env.PATH },
        extendEnv: false,
        stripFinalNewline: false,
      });
      return { stdout: r.stdout as string, stderr: r.stderr as string, exitCode: r.exitCode ?? -1 };
    }

    let setup: DaemonSetup | undefined;

    beforeAll(async () => {
      config = mkdtempSync(join(tmpdir(), 'docker-config-'));
      setup = await startDaemonWorld('dockercli/tools', 'v1', { config: { Cmd: ['echo', 'default-cmd'] } });
      ({ world, registry, image, daemon } = setup);
    }, 120_000);

    afterAll(async () => {
      try {
        await stopDaemonWorld(setup);
      } finally {
        if (config !== undefined) rmSync(config, { recursive: true, force: true });
      }
    }, 120_000);

    it('version shows the server and its API version', async () => {
      const r = await docker(['version', '--format', '{{.Server.APIVersion}} {{.Server.Os}}']);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('1.41 linux');
    });

    it('info shows the storage driver and root', async () => {
      const r = await docker(['info', '--format', '{{.Driver}}|{{.OSType}}|{{.DockerRootDir}}']);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toMatch(new RegExp(`^(overlay2|vfs)\\|linux\\|${world.root}$`));
    });

    it('pulls and lists the image', async () => {
      const r = await docker(['pull', image]);
      expect(r.exitCode, r.stderr).toBe(0);
      const images = await docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
      expect(images.stdout.split('\n')).toContain(image);
    });

    it('run --rm IMAGE echo hi prints hi and exits 0; a failing command gives its status', async () => {
      expect(await docker(['run', '--rm', image, 'echo', 'hi'])).toMatchObject({ stdout: 'hi\n', exitCode: 0 });
      expect((await docker(['run', '--rm', image, 'sh', '-c', 'exit 7'])).exitCode).toBe(7);
      expect((await docker(['run', '--rm', image, 'no-such-command'])).exitCode).toBe(127);
    });

    it('run -d, logs, ps, exec, stop, rm', async () => {
      const run = await docker(['run', '-d', '--name', 'dk1', image, 'sh', '-c', 'echo started; exec sleep 1000']);
      expect(run.exitCode, run.stderr).toBe(0);
      const id = run.stdout.trim();
      const logs = await docker(['logs', 'dk1']);
      expect(logs.stdout).toBe('started\n');
      const ps = await docker(['ps', '--format', '{{.ID}} {{.Names}} {{.Status}}']);
      expect(ps.stdout).toMatch(new RegExp(`^${id.slice(0, 12)} dk1 Up`, 'm'));
      expect(await docker(['exec', 'dk1', 'echo', 'from-exec'])).toMatchObject({ stdout: 'from-exec\n', exitCode: 0 });
      expect((await docker(['exec', 'dk1', 'sh', '-c', 'exit 5'])).exitCode).toBe(5);
      expect((await docker(['stop', '-t', '1', 'dk1'])).exitCode).toBe(0);
      const inspect = JSON.parse((await docker(['inspect', 'dk1'])).stdout) as {
        Id: string;
        State: { Status: string };
        Config: { Image: string };
      }[];
      expect(inspect[0]).toMatchObject({ Id: id, State: { Status: 'exited' }, Config: { Image: image } });
      expect((await docker(['rm', 'dk1'])).exitCode).toBe(0);
      expect((await docker(['ps', '-aq'])).stdout).toBe('');
    });

    it('network create, ls, rm', async () => {
      const name = `net${process.pid}`;
      const create = await docker([
        'network',
        'create',
        '--subnet',
        `${world.network.subnetPrefix.replace(/\.\d+\.$/, '')}.${(Number(world.network.subnetPrefix.split('.')[2]) + 1) % 250}.0/24`,
        name,
      ]);
      expect(create.exitCode, create.stderr).toBe(0);
      expect((await docker(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n')).toEqual(
        expect.arrayContaining(['bridge', 'host', 'none', name]),
      );
      expect((await docker(['network', 'rm', name])).exitCode).toBe(0);
      expect((await docker(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n')).not.toContain(name);
    });

    it('run -p publishes on 127.0.0.1', async () => {
      const port = await freePort();
      const run = await docker([
        'run',
        '-d',
        '--name',
        'dkweb',
        '-p',
        `127.0.0.1:${port}:8080`,
        image,
        'http-server',
        '8080',
        '3',
      ]);
      expect(run.exitCode, run.stderr).toBe(0);
      const logs = execa(bin, ['logs', '-f', 'dkweb'], {
        env: { DOCKER_HOST: daemon.host, DOCKER_CONFIG: config, PATH: process.env.PATH },
        extendEnv: false,
        reject: false,
      });
      await new Promise<void>((resolve) => {
        logs.stdout?.on('data', (c: Buffer) => {
          if (c.toString().includes('listening')) resolve();
        });
      });
      logs.kill();
      expect(await httpGet(port)).toBe('xx\n');
      expect((await docker(['rm', '-f', 'dkweb'])).exitCode).toBe(0);
    });

    it('tags and removes an image (rmi)', async () => {
      const alias = `${image.replace(/:v1$/, '')}:alias`;
      expect((await docker(['tag', image, alias])).exitCode).toBe(0);
      expect((await docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout.split('\n')).toContain(alias);
      const rmi = await docker(['rmi', alias]);
      expect(rmi.exitCode, rmi.stderr).toBe(0);
      expect(rmi.stdout).toContain(`Untagged: ${alias}`);
      expect((await docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout.split('\n')).not.toContain(
        alias,
      );
    });
  });
}
