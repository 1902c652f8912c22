// The client's credentials file: where it lives, what a login writes (mode 0600 in a
// 0700 folder, other keys kept, replaced by a rename), what logout removes, the
// X-Registry-Auth header made from it, and a malformed file refused naming it.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  configDir,
  encodeRegistryAuth,
  HUB_SERVER,
  readConfig,
  registryAuthFor,
  registryOfReference,
  removeAuth,
  serverKey,
  storeAuth,
} from './auth-config.js';

const noWarning = (m: string) => expect.fail(`unexpected warning: ${m}`);

describe('X-Registry-Auth encoding', () => {
  it('is URL-safe base64 with its padding, as the docker CLI writes it, and reads back as base64url', () => {
    expect(encodeRegistryAuth('{}')).toBe('e30=');
    const json = JSON.stringify({ username: 'u?>', password: 'p~~~' });
    const v = encodeRegistryAuth(json);
    expect(v).toMatch(/^[A-Za-z0-9_-]+=*$/);
    expect(v.length % 4).toBe(0);
    expect(Buffer.from(v, 'base64url').toString('utf8')).toBe(json);
  });
});

describe('auth-config', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), `berth-auth-config-${process.pid}-`));
    env = { BERTH_CONFIG: join(dir, 'cfg') };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const file = () => join(dir, 'cfg', 'config.json');
  const decode = (header: string) => JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as unknown;

  it('finds the folder through BERTH_CONFIG, then DOCKER_CONFIG, then ~/.berth', () => {
    expect(configDir({ BERTH_CONFIG: '/a', DOCKER_CONFIG: '/b', HOME: '/h' })).toBe('/a');
    expect(configDir({ DOCKER_CONFIG: '/b', HOME: '/h' })).toBe('/b');
    expect(configDir({ HOME: '/h' })).toBe('/h/.berth');
  });

  it.each([
    [undefined, HUB_SERVER],
    ['docker.io', HUB_SERVER],
    ['https://index.docker.io/v1/', HUB_SERVER],
    ['registry-1.docker.io', HUB_SERVER],
    ['127.0.0.1:5000', '127.0.0.1:5000'],
    ['http://Reg.Example:443/v2/', 'reg.example:443'],
  ])('server %s is keyed %s', (server, key) => {
    expect(serverKey(server)).toBe(key);
  });

  it.each([
    ['busybox', HUB_SERVER],
    ['library/busybox:1', HUB_SERVER],
    ['127.0.0.1:5000/app:1', '127.0.0.1:5000'],
    ['localhost/app@sha256:00', 'localhost'],
    ['reg.example/team/app', 'reg.example'],
  ])('reference %s belongs to %s', (ref, key) => {
    expect(registryOfReference(ref)).toBe(key);
  });

  it('a login makes the folder 0700 and the file 0600, in docker format', async () => {
    await storeAuth(env, { username: 'alice', password: 's3:cret', serveraddress: '127.0.0.1:5000' });
    expect(statSync(join(dir, 'cfg')).mode & 0o777).toBe(0o700);
    expect(statSync(file()).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file(), 'utf8'))).toEqual({
      auths: { '127.0.0.1:5000': { auth: Buffer.from('alice:s3:cret').toString('base64') } },
    });
    expect(decode(await registryAuthFor(env, '127.0.0.1:5000/team/app:1', noWarning))).toEqual({
      username: 'alice',
      password: 's3:cret',
      serveraddress: '127.0.0.1:5000',
    });
    // another registry, or Hub: no credentials
    expect(decode(await registryAuthFor(env, '127.0.0.1:5001/app', noWarning))).toEqual({});
    expect(decode(await registryAuthFor(env, 'busybox', noWarning))).toEqual({});
  });

  it('keeps every other key of an existing file, replaces the file by a rename and leaves no temp file', async () => {
    mkdirSync(join(dir, 'cfg'));
    const before = {
      credsStore: 'desktop',
      psFormat: 'table {{.ID}}',
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') },
        'http://127.0.0.1:5000/v2/': { auth: Buffer.from('old:old').toString('base64'), email: 'x@y' },
      },
    };
    writeFileSync(file(), JSON.stringify(before), { mode: 0o644 });
    const inode = statSync(file()).ino;
    await storeAuth(env, { username: 'alice', password: 'pw', serveraddress: '127.0.0.1:5000' });
    const after = JSON.parse(readFileSync(file(), 'utf8')) as typeof before;
    expect(after.credsStore).toBe('desktop');
    expect(after.psFormat).toBe('table {{.ID}}');
    expect(after.auths).toEqual({
      'https://index.docker.io/v1/': before.auths['https://index.docker.io/v1/'],
      '127.0.0.1:5000': { auth: Buffer.from('alice:pw').toString('base64') },
    });
    expect(statSync(file()).ino).not.toBe(inode);
    expect(statSync(file()).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, 'cfg'))).toEqual(['config.json']);
    // the stored Hub entry is found for an unqualified reference
    expect(decode(await registryAuthFor(env, 'busybox', noWarning))).toMatchObject({ username: 'hub', password: 'pw' });
  });

  it('logout removes only that entry; an unknown server is reported and nothing is written', async () => {
    await storeAuth(env, { username: 'a', password: 'pw', serveraddress: '127.0.0.1:5000' });
    await storeAuth(env, { username: 'b', password: 'pw', serveraddress: 'reg.example' });
    expect(await removeAuth(env, '127.0.0.1:5000')).toBe(true);
    expect(Object.keys((await readConfig(file())).auths!)).toEqual(['reg.example']);
    const text = readFileSync(file(), 'utf8');
    const inode = statSync(file()).ino;
    expect(await removeAuth(env, '127.0.0.1:5000')).toBe(false);
    expect(readFileSync(file(), 'utf8')).toBe(text);
    expect(statSync(file()).ino).toBe(inode);
    // no file at all: nothing made
    const empty = { BERTH_CONFIG: join(dir, 'none') };
    expect(await removeAuth(empty, 'reg.example')).toBe(false);
    expect(() => statSync(join(dir, 'none'))).toThrow();
  });

  it.each([
    ['not JSON', '{"auths": {', /not valid JSON/],
    ['an array', '[1]', /expected a JSON object/],
    ['auths not an object', '{"auths": "x"}', /"auths" must be an object/],
  ])(
    'a file that is %s is refused naming it by a login (which leaves it as it was), a warning of a pull',
    async (_what, text, message) => {
      mkdirSync(join(dir, 'cfg'));
      writeFileSync(file(), text);
      await expect(readConfig(file())).rejects.toThrow(message);
      await expect(readConfig(file())).rejects.toThrow(file());
      await expect(storeAuth(env, { username: 'a', password: 'b', serveraddress: 'reg.example' })).rejects.toThrow(
        file(),
      );
      // a pull or push goes on without credentials, with a warning naming the file
      const warnings: string[] = [];
      const header = await registryAuthFor(env, 'reg.example/app', (m) => warnings.push(m));
      expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual({});
      expect(warnings).toEqual([expect.stringContaining(file())]);
      expect(warnings[0]).toMatch(/^WARNING: .*going on without registry credentials$/);
      expect(readFileSync(file(), 'utf8')).toBe(text);
    },
  );

  it('an auth entry that is not base64 of user:password is named (file and entry) in a warning, and no credentials sent', async () => {
    mkdirSync(join(dir, 'cfg'));
    writeFileSync(
      file(),
      JSON.stringify({ auths: { 'reg.example': { auth: Buffer.from('nocolon').toString('base64') } } }),
    );
    const warnings: string[] = [];
    await registryAuthFor(env, 'reg.example/app', (m) => warnings.push(m));
    expect(warnings).toEqual([expect.stringContaining(`${file()}: auths.reg.example.auth`)]);
  });
});
