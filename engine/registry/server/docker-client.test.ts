// A second real client: Debian's dockerd (package docker.io) pulls an image from the
// registry server and pushes one back. dockerd runs with its own data root, exec root,
// pid file, unix socket and trust key (testkit/dockerd.ts), the vfs driver (no mounts)
// and no bridge or iptables changes, and is stopped by its pid afterwards.
import { execa, type ResultPromise } from 'execa';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, parseLogLevel } from '../../trace/logger.js';
import { createRegistryServer, type RegistryServer } from './registry-server.js';
import { buildImage, buildIndex, type TestImage } from './test-image.js';
import { needs, root, tool } from '../../../testkit/needs.js';
import { folderState, privateDockerd } from '../../../testkit/dockerd.js';

const dockerCli = 'docker';

needs(root(), tool('dockerd', 'docker.io'), tool('docker', 'docker.io')).describe(
  'dockerd against the registry server',
  () => {
    let dir: string;
    let server: RegistryServer;
    let image: TestImage;
    let daemon: ResultPromise | undefined;
    // the host's /etc/docker, where dockerd would write its trust key by default
    const etcDocker = folderState();

    const docker = (...args: string[]) =>
      execa(dockerCli, ['-H', `unix://${join(dir, 'docker.sock')}`, ...args], {
        env: { DOCKER_CONFIG: join(dir, 'cli') },
        timeout: 120_000,
      });

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), `bd-${process.pid}-`));
      await mkdir(join(dir, 'cli'));
      await writeFile(join(dir, 'cli', 'config.json'), '{}');
      server = await createRegistryServer({
        root: join(dir, 'registry'),
        addr: '127.0.0.1:0',
        logger: createLogger(parseLogLevel(process.env.BERTH_LOG, 'silent')),
      });
      image = await buildImage({ 'hello.txt': 'hello from berth via docker\n' }, 'docker');
      for (const b of [image.config, ...image.layers]) {
        const res = await fetch(`${server.url}/v2/berth/hello/blobs/uploads/?digest=${b.digest}`, {
          method: 'POST',
          body: new Uint8Array(b.bytes),
        });
        expect(res.status).toBe(201);
      }
      const put = await fetch(`${server.url}/v2/berth/hello/manifests/v1`, {
        method: 'PUT',
        body: new Uint8Array(image.manifest.bytes),
        headers: { 'Content-Type': image.manifest.mediaType },
      });
      expect(put.status).toBe(201);

      const [cmd, ...args] = privateDockerd(dir, {
        flags: ['--bridge=none', '--iptables=false', '--ip-masq=false', '--storage-driver=vfs', '--log-level=error'],
      }).argv;
      daemon = execa(cmd!, args, {
        reject: false,
        stdout: { file: join(dir, 'dockerd.log') },
        stderr: { file: join(dir, 'dockerd.err') },
      });
      const deadline = Date.now() + 60_000;
      for (;;) {
        const ping = await docker('version', '--format', '{{.Server.Version}}').catch(() => undefined);
        if (ping?.exitCode === 0) break;
        if (Date.now() > deadline || (daemon.exitCode !== undefined && daemon.exitCode !== null))
          throw new Error(`dockerd did not start (see ${dir}/dockerd.err)`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }, 90_000);

    afterAll(async () => {
      if (daemon?.pid !== undefined) {
        process.kill(daemon.pid, 'SIGTERM');
        const timer = setTimeout(() => daemon?.pid !== undefined && process.kill(daemon.pid, 'SIGKILL'), 30_000);
        await daemon;
        clearTimeout(timer);
      }
      await server?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    }, 60_000);

    it('docker pull fetches the image by tag and records its digest', async () => {
      await docker('pull', `${server.host}/berth/hello:v1`);
      const inspect = JSON.parse((await docker('image', 'inspect', `${server.host}/berth/hello:v1`)).stdout) as {
        Id: string;
        RepoDigests: string[];
      }[];
      expect(inspect[0]!.Id).toBe(image.config.digest);
      expect(inspect[0]!.RepoDigests).toContain(`${server.host}/berth/hello@${image.manifest.digest}`);
    });

    it('docker pull resolves a multi-platform index to the host platform', async () => {
      const arm = await buildImage({ 'hello.txt': 'hello from arm64\n' }, 'arm64');
      for (const b of [arm.config, ...arm.layers]) {
        expect(
          (
            await fetch(`${server.url}/v2/berth/hello/blobs/uploads/?digest=${b.digest}`, {
              method: 'POST',
              body: new Uint8Array(b.bytes),
            })
          ).status,
        ).toBe(201);
      }
      expect(
        (
          await fetch(`${server.url}/v2/berth/hello/manifests/${arm.manifest.digest}`, {
            method: 'PUT',
            body: new Uint8Array(arm.manifest.bytes),
            headers: { 'Content-Type': arm.manifest.mediaType },
          })
        ).status,
      ).toBe(201);
      const index = buildIndex([
        { image: arm, architecture: 'arm64' },
        { image, architecture: 'amd64' },
      ]);
      expect(
        (
          await fetch(`${server.url}/v2/berth/hello/manifests/multi`, {
            method: 'PUT',
            body: new Uint8Array(index.bytes),
            headers: { 'Content-Type': index.mediaType },
          })
        ).status,
      ).toBe(201);
      await docker('pull', '--platform', 'linux/amd64', `${server.host}/berth/hello:multi`);
      const inspect = JSON.parse((await docker('image', 'inspect', `${server.host}/berth/hello:multi`)).stdout) as {
        Id: string;
        RepoDigests: string[];
      }[];
      expect(inspect[0]!.Id).toBe(image.config.digest);
      expect(inspect[0]!.RepoDigests).toContain(`${server.host}/berth/hello@${index.digest}`);
    });

    it('docker push uploads the image to another repository (mounting the shared layer)', async () => {
      await docker('tag', `${server.host}/berth/hello:v1`, `${server.host}/berth/pushed:v2`);
      await docker('push', `${server.host}/berth/pushed:v2`);
      const res = await fetch(`${server.url}/v2/berth/pushed/manifests/v2`);
      expect(res.status).toBe(200);
      const manifest = (await res.json()) as { config: { digest: string }; layers: { digest: string }[] };
      expect(manifest.config.digest).toBe(image.config.digest);
      expect(manifest.layers).toHaveLength(1);
      const layer = await fetch(`${server.url}/v2/berth/pushed/blobs/${manifest.layers[0]!.digest}`, {
        method: 'HEAD',
      });
      expect(layer.status).toBe(200);
    });

    it("keeps its trust key in its own folder: the host's /etc/docker is as it was", () => {
      expect(folderState()).toEqual(etcDocker);
    });
  },
);
