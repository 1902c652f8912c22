// The `berth` argument grammar and the run/create flags' translation into the
// create request, as tables.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommandArgs } from './cli-args.js';
import { splitGlobal } from './cli.js';
import { startFailureStatus } from './commands/run-commands.js';
import { buildCreateRequest, parseBytes, parsePublish, parseRestart, runOptionSpecs } from './run-options.js';
import { humanDuration, humanSize, table } from './cli-output.js';
import { parseHost } from './api-client.js';

const parseRun = (argv: string[]) => parseCommandArgs(argv, runOptionSpecs, true);

describe('health check flags', () => {
  it.each([
    [{}, undefined],
    [{ 'no-healthcheck': true }, { Test: ['NONE'] }],
    [
      {
        'health-cmd': 'wget -q -O- localhost || exit 1',
        'health-interval': '1m30s',
        'health-timeout': '500ms',
        'health-retries': '4',
        'health-start-period': '1.5s',
        'health-start-interval': '0',
      },
      {
        Test: ['CMD-SHELL', 'wget -q -O- localhost || exit 1'],
        Interval: 90e9,
        Timeout: 500e6,
        Retries: 4,
        StartPeriod: 1.5e9,
        StartInterval: 0,
      },
    ],
    // timings alone keep the image's test
    [{ 'health-interval': '2s' }, { Interval: 2e9 }],
  ])('%j', (options, healthcheck) => {
    expect(buildCreateRequest(options, 'img', []).Healthcheck).toEqual(healthcheck);
  });
});

describe('berth argument grammar', () => {
  it.each([
    [['-it', 'img', 'sh'], { interactive: true, tty: true }, ['img', 'sh']],
    [['-dit', '--rm', 'img'], { detach: true, interactive: true, tty: true, rm: true }, ['img']],
    [['-e', 'A=1', '--env=B=2', '-eC=3', 'img'], { env: ['A=1', 'B=2', 'C=3'] }, ['img']],
    [['-p8080:80', '-p', '127.0.0.1:9090:90/udp', 'img'], { publish: ['8080:80', '127.0.0.1:9090:90/udp'] }, ['img']],
    [['--name', 'web', '--net', 'host', 'img'], { name: 'web', network: 'host' }, ['img']],
    [['img', 'ls', '-la', '--color'], {}, ['img', 'ls', '-la', '--color']],
    [['--', 'img', '-x'], {}, ['img', '-x']],
    [['--read-only=true', '--privileged=false', 'img'], { 'read-only': true, privileged: false }, ['img']],
  ])('%j', (argv, options, positionals) => {
    const parsed = parseRun(argv);
    expect(parsed.options).toEqual(options);
    expect(parsed.positionals).toEqual(positionals);
  });

  it.each([
    [['--bogus', 'img'], 'unknown flag: --bogus'],
    [['-Z', 'img'], "unknown shorthand flag: 'Z' in -Z"],
    [['--name'], 'flag needs an argument: --name'],
    [['-e'], 'flag needs an argument: -e'],
    [['--rm=maybe', 'img'], 'invalid argument "maybe" for "--rm" flag'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseRun(argv)).toThrow(message);
  });

  it('splits the global host option from the command', () => {
    expect(splitGlobal(['-H', 'unix:///x.sock', 'ps', '-a'])).toEqual({
      host: 'unix:///x.sock',
      help: false,
      rest: ['ps', '-a'],
    });
    expect(splitGlobal(['--host=tcp://127.0.0.1:1', 'info'])).toEqual({
      host: 'tcp://127.0.0.1:1',
      help: false,
      rest: ['info'],
    });
    expect(splitGlobal(['run', '-H', 'x'])).toEqual({ host: undefined, help: false, rest: ['run', '-H', 'x'] });
  });

  it.each([
    ['unix:///run/berth/berth.sock', { socketPath: '/run/berth/berth.sock' }],
    ['tcp://127.0.0.1:2375', { host: '127.0.0.1', port: 2375 }],
    ['tcp://[::1]:2375', { host: '::1', port: 2375 }],
  ])('host %s', (host, target) => {
    expect(parseHost(host)).toEqual(target);
  });
  it('refuses a host without scheme', () => {
    expect(() => parseHost('/run/x.sock')).toThrow('expected unix:///path/to.sock or tcp://HOST:PORT');
  });
});

describe('run flags into the create request', () => {
  it('builds the request Docker would send', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-envfile-'));
    try {
      const envFile = join(dir, 'env');
      writeFileSync(envFile, '# comment\n\nFROM_FILE=1\nHOME_SET\nUNSET_ONE\n');
      const { options, positionals } = parseRun([
        '--rm',
        '-i',
        '-t',
        '-e',
        'A=1',
        '-e',
        'HOME_SET',
        '-e',
        'NOT_THERE',
        '--env-file',
        envFile,
        '-w',
        '/work',
        '-u',
        '1000:1000',
        '--name',
        'n',
        '--hostname',
        'h',
        '--network',
        'none',
        '-p',
        '127.0.0.1:8080:80',
        '-v',
        '/srv:/data:ro',
        '--tmpfs',
        '/run:size=64m',
        '--memory',
        '64m',
        '--cpus',
        '1.5',
        '--pids-limit',
        '100',
        '--cap-add',
        'NET_ADMIN',
        '--cap-drop',
        'ALL',
        '--privileged',
        '--read-only',
        '--entrypoint',
        '/bin/sh',
        '--security-opt',
        'seccomp=unconfined',
        '--dns',
        '10.0.0.2',
        '--dns-search',
        'example.test',
        '--dns-option',
        'ndots:2',
        '--add-host',
        'db:10.0.0.9',
        '--add-host',
        'gw=host-gateway',
        '--domainname',
        'example.test',
        '-P',
        '--expose',
        '90-91/udp',
        'img',
        '-c',
        'echo hi',
      ]);
      const req = buildCreateRequest(options, positionals[0] as string, positionals.slice(1), { HOME_SET: '/root' });
      expect(req).toEqual({
        Image: 'img',
        Tty: true,
        OpenStdin: true,
        StdinOnce: true,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Env: ['FROM_FILE=1', 'HOME_SET=/root', 'A=1', 'HOME_SET=/root'],
        Cmd: ['-c', 'echo hi'],
        Labels: {},
        ExposedPorts: { '80/tcp': {}, '90/udp': {}, '91/udp': {} },
        Entrypoint: ['/bin/sh'],
        WorkingDir: '/work',
        User: '1000:1000',
        Hostname: 'h',
        Domainname: 'example.test',
        HostConfig: {
          Binds: ['/srv:/data:ro'],
          NetworkMode: 'none',
          PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] },
          PublishAllPorts: true,
          AutoRemove: true,
          CapAdd: ['NET_ADMIN'],
          CapDrop: ['ALL'],
          Privileged: true,
          ReadonlyRootfs: true,
          SecurityOpt: ['seccomp=unconfined'],
          Tmpfs: { '/run': 'size=64m' },
          Memory: 64 * 1024 * 1024,
          NanoCpus: 1_500_000_000,
          PidsLimit: 100,
          Dns: ['10.0.0.2'],
          DnsSearch: ['example.test'],
          DnsOptions: ['ndots:2'],
          ExtraHosts: ['db:10.0.0.9', 'gw:host-gateway'],
        },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("takes named and anonymous volumes and --volumes-from as Docker's CLI sends them", () => {
    const req = buildCreateRequest(
      { volume: ['data:/data:ro', '/cache', '/srv:/srv'], 'volumes-from': ['other:ro'] },
      'img',
      [],
    );
    expect(req.HostConfig).toMatchObject({ Binds: ['data:/data:ro', '/srv:/srv'], VolumesFrom: ['other:ro'] });
    expect(req.Volumes).toEqual({ '/cache': {} });
  });

  it('passes a bind asked for idmapped (-v host:ctr:idmap) and refuses an unknown mode naming it', () => {
    expect(buildCreateRequest({ volume: ['/srv:/srv:ro,idmap'] }, 'img', []).HostConfig).toMatchObject({
      Binds: ['/srv:/srv:ro,idmap'],
    });
    expect(() => buildCreateRequest({ volume: ['/srv:/srv:idmapped'] }, 'img', [])).toThrow(
      '-v /srv:/srv:idmapped: invalid mode "idmapped"',
    );
  });

  it('leaves Cmd to the image when no command is given and detaches without attaching', () => {
    const { options } = parseRun(['-d', 'img']);
    const req = buildCreateRequest(options, 'img', [], {});
    expect(req.Cmd).toBeNull();
    expect(req.AttachStdout).toBe(false);
    expect(req.HostConfig?.NetworkMode).toBe('default');
  });

  it.each([
    ['80', { '80/tcp': [{ HostIp: '', HostPort: '' }] }],
    ['8080:80', { '80/tcp': [{ HostIp: '', HostPort: '8080' }] }],
    ['127.0.0.1::80/udp', { '80/udp': [{ HostIp: '127.0.0.1', HostPort: '' }] }],
    ['[::1]:8080:80', { '80/tcp': [{ HostIp: '::1', HostPort: '8080' }] }],
    [
      '127.0.0.1:8000-8002:80-82',
      {
        '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8000' }],
        '81/tcp': [{ HostIp: '127.0.0.1', HostPort: '8001' }],
        '82/tcp': [{ HostIp: '127.0.0.1', HostPort: '8002' }],
      },
    ],
    ['8080-8090:80', { '80/tcp': [{ HostIp: '', HostPort: '8080-8090' }] }],
    ['90-91/udp', { '90/udp': [{ HostIp: '', HostPort: '' }], '91/udp': [{ HostIp: '', HostPort: '' }] }],
  ])('-p %s', (spec, bindings) => {
    expect(parsePublish([spec]).bindings).toEqual(bindings);
  });

  it.each([
    [
      '-p 8080-8081:80-83',
      () => parsePublish(['8080-8081:80-83']),
      'invalid ranges specified for container and host ports: 80-83 and 8080-8081',
    ],
    ['-p 90-80', () => parsePublish(['90-80']), 'invalid container port "90-80"'],
    [
      '--add-host',
      () => buildCreateRequest({ 'add-host': ['nohost'] }, 'img', []),
      '--add-host "nohost": expected host:ip',
    ],
    ['--expose', () => buildCreateRequest({ expose: ['http'] }, 'img', []), '--expose "http"'],
    ['-p 80/icmp', () => parsePublish(['80/icmp']), 'unknown protocol'],
    ['--memory 12q', () => parseBytes('12q', '--memory'), 'invalid value "12q" for --memory'],
    ['--restart sometimes', () => parseRestart('sometimes'), 'expected no, always, unless-stopped or on-failure'],
    ['--restart always:3', () => parseRestart('always:3'), 'expected no'],
    [
      '-v d$:/data',
      () => buildCreateRequest({ volume: ['d$:/data'] }, 'img', []),
      '"d$" is neither an absolute host path nor a volume name',
    ],
    [
      '-v data',
      () => buildCreateRequest({ volume: ['data'] }, 'img', []),
      "an anonymous volume's path must be absolute",
    ],
    [
      '--rm --restart always',
      () => buildCreateRequest({ rm: true, restart: 'always' }, 'img', []),
      'conflicting options: --restart and --rm',
    ],
    ['--cpus -1', () => buildCreateRequest({ cpus: '-1' }, 'img', []), '--cpus "-1"'],
    [
      '--no-healthcheck --health-cmd',
      () => buildCreateRequest({ 'no-healthcheck': true, 'health-cmd': 'true' }, 'img', []),
      '--no-healthcheck conflicts with --health-* options',
    ],
    [
      '--health-interval 5',
      () => buildCreateRequest({ 'health-interval': '5' }, 'img', []),
      'invalid value "5" for --health-interval',
    ],
    ['--health-retries -1', () => buildCreateRequest({ 'health-retries': '-1' }, 'img', []), '--health-retries "-1"'],
  ])('refuses %s', (_name, fn, message) => {
    expect(fn).toThrow(message);
  });

  it.each([
    ['512m', 512 * 1024 ** 2],
    ['1g', 1024 ** 3],
    ['1.5G', 1.5 * 1024 ** 3],
    ['4096', 4096],
    ['10k', 10240],
  ])('size %s', (text, bytes) => {
    expect(parseBytes(text, '--memory')).toBe(bytes);
  });

  it.each([
    ['on-failure:5', { Name: 'on-failure', MaximumRetryCount: 5 }],
    ['unless-stopped', { Name: 'unless-stopped', MaximumRetryCount: 0 }],
  ])('restart %s', (text, policy) => {
    expect(parseRestart(text)).toEqual(policy);
  });
});

describe('exit statuses and output', () => {
  it.each([
    ['exec: "nope": executable file not found in $PATH', 127],
    ['/bin/x: no such file or directory', 127],
    ['exec /etc/passwd: permission denied', 126],
    ['cgroup: memory limit too low', 125],
  ])('start failure %s -> %i', (message, status) => {
    expect(startFailureStatus(message)).toBe(status);
  });

  it('formats tables, durations and sizes as Docker does', () => {
    expect(
      table(
        ['A', 'LONGER'],
        [
          ['x', 'y'],
          ['wide-value', 'z'],
        ],
      ),
    ).toBe('A            LONGER\nx            y\nwide-value   z\n');
    expect(humanDuration(0.2)).toBe('Less than a second');
    expect(humanDuration(45)).toBe('45 seconds');
    expect(humanDuration(60)).toBe('About a minute');
    expect(humanDuration(3 * 3600)).toBe('3 hours');
    expect(humanSize(1_234_567)).toBe('1.23MB');
    expect(humanSize(999)).toBe('999B');
  });
});
