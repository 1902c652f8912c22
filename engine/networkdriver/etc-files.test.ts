// The container's hosts, hostname and resolv.conf.
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import {
  hostsFile,
  parseExtraHost,
  resolvConf,
  resolvConfFrom,
  validateEtcRequest,
  writeEtcFiles,
} from './etc-files.js';

describe('etc files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-etc-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('maps the hostname to the container address, and writes all three files', async () => {
    await writeEtcFiles(join(dir, 'etc'), { hostname: 'web.example', address: '10.9.0.5', dns: ['10.9.0.1'] });
    expect((await readdir(join(dir, 'etc'))).sort()).toEqual(['hostname', 'hosts', 'resolv.conf']);
    expect(await readFile(join(dir, 'etc', 'hosts'), 'utf8')).toContain('10.9.0.5\tweb.example web\n');
    expect(await readFile(join(dir, 'etc', 'hostname'), 'utf8')).toBe('web.example\n');
    expect(await readFile(join(dir, 'etc', 'resolv.conf'), 'utf8')).toMatch(/^nameserver 10\.9\.0\.1\n/);
  });

  it('rewrites existing files in their own inodes (a bind mount of one sees the new content, its owner stays)', async () => {
    const etc = join(dir, 'etc2');
    await mkdir(etc);
    for (const f of ['hosts', 'hostname', 'resolv.conf']) await writeFile(join(etc, f), 'old content, longer than new');
    const before = await Promise.all(
      ['hosts', 'hostname', 'resolv.conf'].map(async (f) => (await stat(join(etc, f))).ino),
    );
    await writeEtcFiles(etc, { hostname: 'h', address: '10.9.0.6' });
    const after = await Promise.all(
      ['hosts', 'hostname', 'resolv.conf'].map(async (f) => (await stat(join(etc, f))).ino),
    );
    expect(after).toEqual(before);
    expect(await readFile(join(etc, 'hostname'), 'utf8')).toBe('h\n');
    expect((await stat(join(etc, 'hostname'))).mode & 0o7777).toBe(0o644);
    expect((await readdir(etc)).sort()).toEqual(['hostname', 'hosts', 'resolv.conf']);
  });

  it('drops loopback name servers of the host and maps a bare hostname to 127.0.1.1', async () => {
    expect(await resolvConf()).not.toMatch(/nameserver (127\.|::1)/);
    expect(hostsFile('box')).toContain('127.0.1.1\tbox\n');
  });

  it('fails naming the file that cannot be written', async () => {
    await writeFile(join(dir, 'plain'), '');
    const err = await writeEtcFiles(join(dir, 'plain', 'etc'), { hostname: 'h' }).catch((e: unknown) => e);
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toBe(`etc file ${join(dir, 'plain', 'etc', 'hosts')}: open: ENOTDIR`);
  });

  it('rejects an invalid hostname naming it and writes nothing', async () => {
    const err = await writeEtcFiles(join(dir, 'etc'), { hostname: 'bad_name!' }).catch((e: unknown) => e);
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toContain('"bad_name!"');
    expect(await readdir(dir)).toEqual([]);
  });

  const HOST = 'nameserver 127.0.0.53\nnameserver 10.1.1.1\nsearch corp.test\noptions edns0 trust-ad\n';

  it.each([
    [
      "the host's lines without loopback servers",
      {},
      false,
      'nameserver 10.1.1.1\nsearch corp.test\noptions edns0 trust-ad\n',
    ],
    [
      'Dns, DnsSearch and DnsOptions replacing each kind',
      { dns: ['10.9.9.9', '::1'], dnsSearch: ['a.test', 'b.test'], dnsOptions: ['ndots:3'] },
      true,
      'nameserver 10.9.9.9\nnameserver ::1\nsearch a.test b.test\noptions ndots:3\n',
    ],
    ['DnsSearch "." as no search domain', { dnsSearch: ['.'] }, false, 'nameserver 10.1.1.1\noptions edns0 trust-ad\n'],
    [
      "loopback servers kept with the host's network",
      {},
      true,
      'nameserver 127.0.0.53\nnameserver 10.1.1.1\nsearch corp.test\noptions edns0 trust-ad\n',
    ],
  ])('resolv.conf: %s', (_name, req, keepLoopback, want) => {
    expect(resolvConfFrom(HOST, req, keepLoopback)).toBe(want);
  });

  it('falls back to public name servers when the host only has loopback ones, as Docker does', () => {
    expect(resolvConfFrom('nameserver 127.0.0.53\n')).toBe('nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  });

  it("writes extra hosts (host-gateway mapped) before the container's own line with its domain", async () => {
    await writeEtcFiles(dir, {
      hostname: 'web',
      domainname: 'example.test',
      address: '10.9.0.5',
      extraHosts: ['db:10.9.0.7', 'gw:host-gateway', 'v6:fd00::1'],
      hostGateway: '10.9.0.1',
      dns: ['10.9.0.1'],
    });
    const hosts = await readFile(join(dir, 'hosts'), 'utf8');
    expect(hosts.split('\n').slice(6)).toEqual([
      '10.9.0.7\tdb',
      '10.9.0.1\tgw',
      'fd00::1\tv6',
      '10.9.0.5\tweb.example.test web',
      '',
    ]);
    expect(await readFile(join(dir, 'hostname'), 'utf8')).toBe('web\n');
  });

  it("appends extra hosts to the host's own hosts file with the host's network", async () => {
    await writeEtcFiles(dir, { hostname: 'box', hostFiles: true, extraHosts: ['db:10.9.0.7'] });
    const hosts = await readFile(join(dir, 'hosts'), 'utf8');
    expect(hosts.startsWith(await readFile('/etc/hosts', 'utf8').catch(() => ''))).toBe(true);
    expect(hosts.endsWith('10.9.0.7\tdb\n')).toBe(true);
  });

  it.each([
    [{ dns: ['not-an-ip'] }, 'Dns "not-an-ip"'],
    [{ dnsSearch: ['bad domain'] }, 'DnsSearch "bad domain"'],
    [{ dnsOptions: ['a b'] }, 'DnsOptions "a b"'],
    [{ extraHosts: ['db'] }, 'ExtraHosts "db": expected host:ip'],
    [{ extraHosts: ['db:300.1.1.1'] }, 'ExtraHosts "db:300.1.1.1"'],
    [{ extraHosts: ['bad_name:10.0.0.1'] }, 'ExtraHosts "bad_name:10.0.0.1"'],
    [{ domainname: '-x' }, 'Domainname "-x"'],
  ])('refuses %j naming the field', (req, message) => {
    expect(() => validateEtcRequest(req)).toThrow(message);
  });

  it('parses name:ip and name=ip, IPv6 included', () => {
    expect(parseExtraHost('h:fd00::2')).toEqual({ name: 'h', ip: 'fd00::2' });
    expect(parseExtraHost('h=[fd00::2]')).toEqual({ name: 'h', ip: 'fd00::2' });
    expect(parseExtraHost('h:host-gateway')).toEqual({ name: 'h', ip: 'host-gateway' });
  });
});
