// Registry credentials end to end: berth (and each real docker CLI found) through a
// berthd to an embedded registry on 127.0.0.1 that wants HTTP Basic. Before login a
// push and a pull of its repositories fail with an authentication error; a refused
// login exits 1 naming the registry and writes nothing; an accepted one writes
// config.json 0600; then push, pull and run's implicit pull go through, a push by
// digest, and a multi-platform image pushed as its index and pulled back by the
// index's digest. Logout removes the entry. The password never shows in berthd's log,
// the events or a trace.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { needs } from '../../../testkit/needs.js';
import type { ApiClient } from '../../client/api-client.js';
import { buildImage, buildIndex, push as pushBlobs, pushImage } from '../../registry/client/test-registry.js';
import type { RegistryServer } from '../../registry/server/index.js';
import {
  berthCli,
  dockerClis,
  e2eSkipReason,
  startDaemonWorld,
  stopDaemonWorld,
  type DaemonSetup,
  type Run,
} from './e2e-kit.js';

const skip = e2eSkipReason();
const USER = 'berth-user';
const PASSWORD = `pw-${randomBytes(9).toString('hex')}`;
const hostArch = process.arch === 'x64' ? 'amd64' : process.arch;
const otherArch = hostArch === 'amd64' ? 'arm64' : 'amd64';
const binaries = dockerClis();

needs(skip).describe('registry login through berthd', () => {
  let s: DaemonSetup | undefined;
  let source: RegistryServer;
  let locked: RegistryServer;
  let client: ApiClient;
  let image: string;
  let configDir: string;
  let berth: (args: string[], input?: string) => Promise<Run>;
  const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

  const configFile = () => join(configDir, 'config.json');
  const registryGet = (path: string, accept?: string) =>
    fetch(`${locked.url}${path}`, { headers: { Authorization: basic, ...(accept ? { Accept: accept } : {}) } });

  beforeAll(async () => {
    s = await startDaemonWorld(
      'login/tools',
      'v1',
      { config: { Cmd: ['cat', '/srv/data.txt'] } },
      { registries: { locked: { credentials: { username: USER, password: PASSWORD } } }, pull: true },
    );
    ({ client, image, registry: source } = s);
    locked = s.registries.locked!;
    // inside the world's folder (removed with it); made by the first login
    configDir = join(s.world.dir, 'berth-config');
    berth = berthCli(s.daemon.host, { env: { BERTH_CONFIG: configDir } });
  }, 180_000);

  afterAll(() => stopDaemonWorld(s), 120_000);

  it('before login: push and pull fail with an authentication error; a refused login exits 1 and writes nothing', async () => {
    const ref = `${locked.host}/team/tools:v1`;
    expect((await berth(['tag', image, ref])).exitCode).toBe(0);
    const pushed = await berth(['push', ref]);
    expect(pushed.exitCode).toBe(1);
    expect(pushed.stderr).toMatch(/authentication required/);
    expect(pushed.stderr).toContain(locked.host);
    const pulled = await berth(['pull', `${locked.host}/team/tools:v1`]);
    expect(pulled.exitCode).toBe(1);
    expect(pulled.stderr).toMatch(/authentication required/);

    const refused = await berth(['login', locked.host, '-u', USER, '--password-stdin'], 'wrong-password\n');
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(`login attempt to registry ${locked.host}`);
    expect(refused.stderr).toContain('401 Unauthorized');
    expect(refused.stderr).not.toContain('wrong-password');
    expect(existsSync(configDir)).toBe(false);
    // the API answers 401 with the message
    const err = await client.auth({ username: USER, password: 'nope', serveraddress: locked.host }).then(
      () => undefined,
      (e: unknown) => e as Error & { details?: { httpStatus?: number } },
    );
    expect(err?.details?.httpStatus).toBe(401);
    expect(err?.message).toContain(locked.host);
  });

  it('login stores the credentials 0600; push, pull and run go through; push by digest', async () => {
    const ok = await berth(['login', locked.host, '-u', USER, '--password-stdin'], `${PASSWORD}\n`);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('Login Succeeded');
    expect(statSync(configFile()).mode & 0o777).toBe(0o600);
    expect(statSync(configDir).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(configFile(), 'utf8'))).toEqual({
      auths: { [locked.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } },
    });

    const ref = `${locked.host}/team/tools:v1`;
    const pushed = await berth(['push', ref]);
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    const digest = /^v1: digest: (sha256:[0-9a-f]{64}) size: \d+$/m.exec(pushed.stdout)?.[1];
    expect(digest, pushed.stdout).toBeDefined();
    expect((await registryGet('/v2/team/tools/manifests/v1')).headers.get('docker-content-digest')).toBe(digest);

    // gone locally: pulled back, and run pulls it itself
    expect((await berth(['rmi', ref])).exitCode).toBe(0);
    const pulled = await berth(['pull', ref]);
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect((await berth(['rmi', ref])).exitCode).toBe(0);
    expect(await berth(['run', '--rm', '--network', 'none', ref])).toMatchObject({
      stdout: 'from the image\n',
      exitCode: 0,
    });

    // by digest into another repository: that manifest, no tag
    const byDigest = await berth(['push', `${locked.host}/pinned/tools@${digest}`]);
    expect(byDigest.exitCode, byDigest.stderr).toBe(0);
    expect(byDigest.stdout).toContain(`digest: ${digest}`);
    expect((await registryGet(`/v2/pinned/tools/manifests/${digest}`)).status).toBe(200);
    expect((await registryGet('/v2/pinned/tools/manifests/latest')).status).toBe(404);
  });

  it('a multi-platform image is pushed as its index once both platforms are pulled, and pulls back by its digest', async () => {
    const images = await Promise.all(
      [hostArch, otherArch].map((architecture) =>
        buildImage([{ files: { 'arch.txt': `${architecture}\n` } }], { seed: `login-${architecture}`, architecture }),
      ),
    );
    const index = buildIndex(
      images.map((i, k) => ({ image: i, platform: { os: 'linux', architecture: [hostArch, otherArch][k]! } })),
    );
    for (const i of images) await pushImage(source.url, 'multi/app', i);
    await pushBlobs(source.url, 'multi/app', [], index, 'v1');
    const src = `${source.host}/multi/app:v1`;
    const ref = `${locked.host}/multi/app:v1`;
    expect((await berth(['pull', '--platform', `linux/${hostArch}`, src])).exitCode).toBe(0);
    expect((await berth(['tag', src, ref])).exitCode).toBe(0);
    // one platform stored: pushed by tag as that platform's manifest, with a note
    const single = await berth(['push', ref]);
    expect(single.exitCode, single.stderr).toBe(0);
    expect(`${single.stdout}${single.stderr}`).toContain(`the manifests of linux/${otherArch} are not stored locally`);
    expect(single.stdout).toContain(`v1: digest: ${images[0]!.manifest.digest}`);
    // the index by its digest is refused, naming the missing child
    const refused = await berth(['push', `${locked.host}/multi/other@${index.digest}`]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(`linux/${otherArch}`);
    expect(refused.stderr).toContain(images[1]!.manifest.digest);

    expect((await berth(['pull', '--platform', `linux/${otherArch}`, src])).exitCode).toBe(0);
    expect((await berth(['pull', '--platform', `linux/${hostArch}`, src])).exitCode).toBe(0);
    expect((await berth(['tag', src, ref])).exitCode).toBe(0);
    const pushed = await berth(['push', ref]);
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    expect(pushed.stdout).toContain(`v1: digest: ${index.digest} size: ${index.size}`);
    const top = await registryGet('/v2/multi/app/manifests/v1', index.mediaType);
    expect(top.headers.get('docker-content-digest')).toBe(index.digest);
    for (const i of images)
      expect((await registryGet(`/v2/multi/app/manifests/${i.manifest.digest}`)).status).toBe(200);

    // round trip: every local name of it removed, pulled back by the index's digest
    for (const name of [ref, src, `${locked.host}/multi/app@${index.digest}`]) await berth(['rmi', '-f', name]);
    const back = await berth(['pull', `${locked.host}/multi/app@${index.digest}`]);
    expect(back.exitCode, back.stderr).toBe(0);
    const inspect = await client.imageInspect(`${locked.host}/multi/app@${index.digest}`);
    expect(inspect.Id).toBe(images[0]!.config.digest);
    expect(inspect.Architecture).toBe(hostArch);
  });

  it('the password shows in no log line, event or trace', async () => {
    const traceFile = join(configDir, '..', 'push-trace.json');
    const traced = await berth(['trace', '-o', traceFile, 'push', `${locked.host}/team/tools:v1`]);
    expect(traced.exitCode, traced.stderr).toBe(0);
    const trace = readFileSync(traceFile, 'utf8');
    expect(trace).toContain('push');
    expect(trace).not.toContain(PASSWORD);
    expect(s!.daemon.stderr()).toContain('+job auth(serveraddress=');
    expect(s!.daemon.stderr()).not.toContain(PASSWORD);
    const events: string[] = [];
    await client.events({ since: 0, until: Math.ceil(Date.now() / 1000) }, (e) => events.push(JSON.stringify(e)));
    expect(events.length).toBeGreaterThan(0);
    expect(events.join('\n')).not.toContain(PASSWORD);
  });

  for (const { bin, version } of binaries) {
    needs(version === undefined ? `${bin} not installed` : undefined).it(
      `docker login, pull and logout with ${bin}${version ? ` (${version})` : ''}`,
      async () => {
        const dockerConfig = mkdtempSync(join(tmpdir(), `berth-login-docker-${process.pid}-`));
        try {
          const docker = async (args: string[], input?: string): Promise<Run> => {
            const r = await execa(bin, args, {
              reject: false,
              timeout: 120_000,
              env: { DOCKER_HOST: s!.daemon.host, DOCKER_CONFIG: dockerConfig, PATH: process.env.PATH },
              extendEnv: false,
              stripFinalNewline: false,
              ...(input === undefined ? {} : { input }),
            });
            return { stdout: r.stdout as string, stderr: r.stderr as string, exitCode: r.exitCode ?? -1 };
          };
          const refused = await docker(['login', locked.host, '-u', USER, '--password-stdin'], 'wrong\n');
          expect(refused.exitCode).not.toBe(0);
          expect(refused.stderr).toContain(`login attempt to registry ${locked.host}`);
          const ok = await docker(['login', locked.host, '-u', USER, '--password-stdin'], `${PASSWORD}\n`);
          expect(ok.exitCode, ok.stderr).toBe(0);
          expect(ok.stdout).toContain('Login Succeeded');
          const ref = `${locked.host}/team/tools:v1`;
          await berth(['rmi', '-f', ref]);
          const pulled = await docker(['pull', ref]);
          expect(pulled.exitCode, pulled.stderr).toBe(0);
          const dref = `${locked.host}/docker${bin.replace(/\W/g, '')}/tools:v1`;
          expect((await docker(['tag', ref, dref])).exitCode).toBe(0);
          const pushed = await docker(['push', dref]);
          expect(pushed.exitCode, pushed.stderr).toBe(0);
          expect((await docker(['logout', locked.host])).exitCode).toBe(0);
        } finally {
          rmSync(dockerConfig, { recursive: true, force: true });
        }
      },
    );
  }

  it('logout removes the entry; a second logout says it was not logged in; pushes need the login again', async () => {
    const out = await berth(['logout', locked.host]);
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toContain(`Removing login credentials for ${locked.host}`);
    expect(JSON.parse(readFileSync(configFile(), 'utf8'))).toEqual({ auths: {} });
    const again = await berth(['logout', locked.host]);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain(`Not logged in to ${locked.host}`);
    const pushed = await berth(['push', `${locked.host}/team/tools:v1`]);
    expect(pushed.exitCode).toBe(1);
    expect(pushed.stderr).toMatch(/authentication required/);
  });
});
