// berthd's flags, listen addresses, router patterns and query parsing, as tables.
import { describe, expect, it } from 'vitest';
import { parseDaemonFlags } from './daemon-flags.js';
import { parseListenAddress } from './listeners.js';
import { Router } from './router.js';
import { parseFilters } from './routes/query.js';
import { pullReference, registryAuth } from './routes/image-routes.js';

describe('berthd flags', () => {
  it('has Docker-like defaults', () => {
    expect(parseDaemonFlags([])).toEqual({
      hosts: [{ kind: 'unix', path: '/run/berth/berth.sock' }],
      root: '/var/lib/berth',
      execRoot: '/run/berth',
      storageDriver: undefined,
      bridge: 'berth0',
      bip: undefined,
      iptables: true,
      dns: undefined,
      logLevel: 'info',
      pidfile: undefined,
      usernsRemap: undefined,
      subuidFile: '/etc/subuid',
      subgidFile: '/etc/subgid',
    });
  });

  it('takes --userns-remap and the subid files', () => {
    expect(
      parseDaemonFlags(['--userns-remap', 'default', '--subuid-file', '/t/subuid', '--subgid-file', '/t/subgid']),
    ).toMatchObject({ usernsRemap: 'default', subuidFile: '/t/subuid', subgidFile: '/t/subgid' });
    expect(parseDaemonFlags(['--userns-remap=1000:1000'])).toMatchObject({ usernsRemap: '1000:1000' });
  });

  it('takes --iptables as Docker writes it, and --dns', () => {
    expect(parseDaemonFlags(['--iptables=false'])).toMatchObject({ iptables: false });
    expect(parseDaemonFlags(['--iptables'])).toMatchObject({ iptables: true });
    expect(parseDaemonFlags(['--dns', '10.0.0.2', '--dns', 'fd00::53'])).toMatchObject({
      dns: ['10.0.0.2', 'fd00::53'],
    });
  });

  it('takes repeated -H and every option', () => {
    const f = parseDaemonFlags([
      '-H',
      'unix:///tmp/a.sock',
      '--host',
      'tcp://127.0.0.1:2375',
      '--root',
      '/r',
      '--exec-root',
      '/e',
      '--storage-driver',
      'vfs',
      '--bridge',
      'br-x',
      '--bip',
      '10.9.0.1/24',
      '--log-level',
      'debug',
      '--pidfile',
      '/e/p',
    ]);
    expect(f).toMatchObject({
      hosts: [
        { kind: 'unix', path: '/tmp/a.sock' },
        { kind: 'tcp', host: '127.0.0.1', port: 2375 },
      ],
      root: '/r',
      execRoot: '/e',
      storageDriver: 'vfs',
      bridge: 'br-x',
      bip: '10.9.0.1/24',
      logLevel: 'debug',
      pidfile: '/e/p',
    });
  });

  it.each([
    [['-H', 'tcp://0.0.0.0:2375'], 'berthd listens on TCP only on loopback'],
    [['-H', 'tcp://10.1.2.3:2375'], 'only on loopback'],
    [['-H', 'fd://'], 'expected unix:///path/to.sock or tcp://127.0.0.1:PORT'],
    [['-H', 'tcp://localhost:2375'], 'host must be an IP address'],
    [['--bridge', 'a-name-far-too-long-for-linux'], '--bridge'],
    [['--bip', '10.0.0.0'], '--bip "10.0.0.0": expected an IPv4 address with prefix length'],
    [['--log-level', 'loud'], '--log-level'],
    [['--storage-driver', 'aufs'], '--storage-driver "aufs"'],
    [['--frobnicate'], "Unknown option '--frobnicate'"],
    [['--iptables=maybe'], '--iptables "maybe": expected true or false'],
    [['--dns', 'resolver'], '--dns "resolver": not an IP address'],
    [['--userns-remap', 'a:b:c'], '--userns-remap "a:b:c": expected default, or a user name or uid'],
    [['--userns-remap', '../x'], '--userns-remap "../x"'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseDaemonFlags(argv)).toThrow(message);
  });

  it('parses unix addresses with and without slashes, and IPv6 loopback', () => {
    expect(parseListenAddress('unix:/x.sock')).toEqual({ kind: 'unix', path: '/x.sock' });
    expect(parseListenAddress('tcp://[::1]:0')).toEqual({ kind: 'tcp', host: '::1', port: 0 });
  });
});

describe('router', () => {
  const h = (name: string) => async () => void name;
  const router = new Router([
    { method: 'GET', pattern: '/images/{name*}/json', handler: h('inspect') },
    { method: 'DELETE', pattern: '/images/{name*}', handler: h('delete') },
    { method: 'GET', pattern: '/containers/{id}/json', handler: h('c') },
  ]);

  it.each([
    ['GET', '/images/127.0.0.1:5000/team/app:1/json', { name: '127.0.0.1:5000/team/app:1' }],
    ['DELETE', '/images/busybox:latest', { name: 'busybox:latest' }],
    ['GET', '/containers/abc/json', { id: 'abc' }],
    ['HEAD', '/containers/abc/json', { id: 'abc' }],
    ['GET', '/images/a%2Fb/json', { name: 'a/b' }],
  ])('%s %s', (method, path, params) => {
    expect(router.match(method, path).params).toEqual(params);
  });

  it('answers NOT_FOUND for unknown paths and methods', () => {
    expect(() => router.match('POST', '/containers/abc/json')).toThrow('page not found: POST /containers/abc/json');
    expect(() => router.match('GET', '/containers/a/b/json')).toThrow('page not found');
  });
});

describe('query helpers', () => {
  it('reads both filter forms and refuses others', () => {
    expect(parseFilters('{"status":["running"]}')).toEqual({ status: ['running'] });
    expect(parseFilters('{"dangling":{"true":true}}')).toEqual({ dangling: ['true'] });
    expect(() => parseFilters('{"status":"running"}')).toThrow('status must be a list of strings');
    expect(() => parseFilters('{')).toThrow('malformed JSON');
  });

  it('joins fromImage and tag into one reference', () => {
    expect(pullReference('busybox', 'latest')).toBe('busybox:latest');
    expect(pullReference('busybox', 'sha256:abc')).toBe('busybox@sha256:abc');
    expect(pullReference('127.0.0.1:5000/x', null)).toBe('127.0.0.1:5000/x');
  });

  it('decodes X-Registry-Auth, empty means none', () => {
    expect(registryAuth(Buffer.from('{}').toString('base64url'))).toBeUndefined();
    expect(registryAuth(Buffer.from('{"username":"u","password":"p"}').toString('base64url'))).toEqual({
      username: 'u',
      password: 'p',
    });
    expect(() => registryAuth('%%%')).toThrow('X-Registry-Auth');
  });
});
