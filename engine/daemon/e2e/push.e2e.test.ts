// Push end to end: `berth push` and the real docker CLIs (each one found) through a
// berthd to an embedded registry on 127.0.0.1 — the progress lines docker prints,
// the digest line, "Layer already exists" on a second push, the image pulled back
// by its digest and run; an unknown image (404 naming it); and a client hanging up
// mid-upload, which cancels the push and leaves no manifest.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ApiClient } from '../../client/api-client.js';
import { startProxy, type TestProxy } from '../../registry/client/test-registry.js';
import type { RegistryServer } from '../../registry/server/index.js';
import {
  berthCli,
  dockerClis,
  e2eSkipReason,
  startDaemonWorld,
  stopDaemonWorld,
  until,
  type DaemonSetup,
  type Run,
} from './e2e-kit.js';
import { needs } from '../../../testkit/needs.js';

const skip = e2eSkipReason();
const binaries = dockerClis();

needs(skip).describe('push through berthd', () => {
  let s: DaemonSetup | undefined;
  let target: RegistryServer;
  let client: ApiClient;
  let image: string;
  let dockerConfig: string;
  let berth: (args: string[]) => Promise<Run>;

  beforeAll(async () => {
    s = await startDaemonWorld(
      'push/tools',
      'v1',
      { config: { Cmd: ['echo', 'default-cmd'] } },
      { registries: { target: {} }, pull: true },
    );
    ({ client, image } = s);
    target = s.registries.target!;
    berth = berthCli(s.daemon.host);
    dockerConfig = join(s.world.dir, 'docker-config');
    mkdirSync(dockerConfig);
  }, 180_000);

  afterAll(() => stopDaemonWorld(s), 120_000);

  it('berth push prints the repository, the layers and the digest; a second push finds the layer; the image pulls back by digest and runs', async () => {
    const ref = `${target.host}/pushed/tools:v1`;
    expect((await berth(['tag', image, ref])).exitCode).toBe(0);
    const first = await berth(['push', ref]);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toContain(`The push refers to repository [${target.host}/pushed/tools]`);
    expect(first.stdout).toMatch(/^[0-9a-f]{12}: Preparing$/m);
    expect(first.stdout).toMatch(/^[0-9a-f]{12}: Pushed$/m);
    const digest = /^v1: digest: (sha256:[0-9a-f]{64}) size: (\d+)$/m.exec(first.stdout);
    expect(digest, first.stdout).not.toBeNull();
    const again = await berth(['push', ref]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^[0-9a-f]{12}: Layer already exists$/m);
    expect(again.stdout).toContain(`v1: digest: ${digest![1]} size: ${digest![2]}`);
    // the registry serves what the digest line says
    const manifest = await fetch(`${target.url}/v2/pushed/tools/manifests/v1`, {
      headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    expect(manifest.headers.get('docker-content-digest')).toBe(digest![1]);
    expect(Number(manifest.headers.get('content-length'))).toBe(Number(digest![2]));
    // gone locally, pulled back by digest, run
    for (const r of [ref, image, `${target.host}/pushed/tools@${digest![1]}`]) await berth(['rmi', r]);
    expect((await client.images()).filter((i) => i.RepoTags.includes(ref) || i.RepoTags.includes(image))).toEqual([]);
    const byDigest = `${target.host}/pushed/tools@${digest![1]}`;
    const back = await berth(['pull', byDigest]);
    expect(back.exitCode, back.stderr).toBe(0);
    expect(await berth(['run', '--rm', byDigest, 'cat', '/srv/data.txt'])).toMatchObject({
      stdout: 'from the image\n',
      exitCode: 0,
    });
    // the source tag again, for the other cases
    expect((await berth(['pull', image])).exitCode).toBe(0);
  }, 300_000);

  it('an unknown image: 404 naming it, berth push fails with the message', async () => {
    const name = `${target.host}/no/such`;
    const err = await client.push(`${name}:v1`).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string; details?: { httpStatus?: number } },
    );
    expect(err?.message).toContain(name);
    expect(err?.details?.httpStatus).toBe(404);
    const cli = await berth(['push', `${name}:v1`]);
    expect(cli.exitCode).not.toBe(0);
    expect(cli.stderr).toContain(name);
  });

  it('a client hanging up mid-upload cancels the push: berthd cancels the stalled upload session, puts no manifest and keeps serving', async () => {
    let proxy: TestProxy | undefined;
    try {
      // the registry sees the upload's PUT and never answers it; the session it names, and the one berthd deletes
      let stalled: string | undefined;
      let deleted: string | undefined;
      proxy = await startProxy(target.url, {
        before: (req) => {
          const session = /^\/v2\/cancel\/tools\/blobs\/uploads\/([^/?]+)/.exec(req.url ?? '')?.[1];
          if (session === undefined) return false;
          if (req.method === 'PUT' || req.method === 'PATCH') {
            req.resume(); // swallowed, never answered: the upload hangs
            stalled ??= session;
            return true;
          }
          if (req.method === 'DELETE') deleted ??= session;
          return false;
        },
      });
      const ref = `${proxy.host}/cancel/tools:v1`;
      expect((await berth(['tag', image, ref])).exitCode).toBe(0);
      const controller = new AbortController();
      const pushing = client
        .push(ref, () => undefined, { signal: controller.signal })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      await until('the upload reaches the registry', async () => stalled !== undefined, 60_000);
      controller.abort();
      expect(await pushing).toBeInstanceOf(Error);
      // berthd's push job ends by cancelling that very session (DELETE)
      await until('berthd cancels the stalled upload session', async () => deleted !== undefined, 60_000);
      expect(deleted).toBe(stalled);
      expect((await fetch(`${target.url}/v2/cancel/tools/manifests/v1`)).status).toBe(404);
      expect((await client.ping()).osType).toBe('linux');
      // and the same push goes through once the registry answers
      proxy.hooks = {};
      const res = await berth(['push', ref]);
      expect(res.exitCode, res.stderr).toBe(0);
      expect((await fetch(`${target.url}/v2/cancel/tools/manifests/v1`)).status).toBe(200);
    } finally {
      await proxy?.close();
    }
  }, 300_000);

  for (const { bin, version } of binaries) {
    needs(version === undefined ? `${bin} not installed` : undefined).it(
      `docker push with ${bin}${version ? ` (${version})` : ''}`,
      async () => {
        const env = { DOCKER_HOST: s!.daemon.host, DOCKER_CONFIG: dockerConfig, PATH: process.env.PATH };
        const docker = async (args: string[]) => {
          const r = await execa(bin, args, {
            reject: false,
            timeout: 120_000,
            env,
            extendEnv: false,
            stripFinalNewline: false,
          });
          return { stdout: r.stdout as string, stderr: r.stderr as string, exitCode: r.exitCode ?? -1 };
        };
        const repo = `${target.host}/docker${bin.replace(/\W/g, '')}/tools`;
        expect((await docker(['tag', image, `${repo}:v2`])).exitCode).toBe(0);
        const first = await docker(['push', `${repo}:v2`]);
        expect(first.exitCode, first.stderr).toBe(0);
        expect(first.stdout).toContain(`The push refers to repository [${repo}]`);
        // the layer is in the target registry already (the berth push above) under another repository: mounted or found
        expect(first.stdout).toMatch(/^[0-9a-f]{12}: (Pushed|Layer already exists|Mounted from [\w/]+)$/m);
        const digest = /^v2: digest: (sha256:[0-9a-f]{64}) size: \d+$/m.exec(first.stdout);
        expect(digest, first.stdout).not.toBeNull();
        const again = await docker(['push', `${repo}:v2`]);
        expect(again.exitCode, again.stderr).toBe(0);
        expect(again.stdout).toMatch(/^[0-9a-f]{12}: Layer already exists$/m);
        const pulled = await docker(['pull', `${repo}@${digest![1]}`]);
        expect(pulled.exitCode, pulled.stderr).toBe(0);
        expect(await docker(['run', '--rm', `${repo}@${digest![1]}`, 'cat', '/srv/data.txt'])).toMatchObject({
          stdout: 'from the image\n',
          exitCode: 0,
        });
        const unknown = await docker(['push', `${target.host}/not/here:v1`]);
        expect(unknown.exitCode).not.toBe(0);
        expect(unknown.stderr).toContain(`${target.host}/not/here`);
      },
    );
  }
});
