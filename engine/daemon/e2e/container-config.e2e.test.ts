// The create fields Docker users rely on, end to end: the `berth` CLI (its
// bundle) against a berthd (its bundle) with its own root, socket, bridge and
// subnet. DNS and hosts flags, -P and host port ranges, --init, --mount, --pid
// container:, warnings and refusals of what berth cannot honour, restart, resize
// of a TTY container; and a berthd with --iptables=false serving -p through the
// userland proxy without writing a rule.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { berthCli, e2eSkipReason, startDaemonWorld, stopDaemonWorld, type DaemonSetup } from './e2e-kit.js';
import { needs, tool } from '../../../testkit/needs.js';

const skip = e2eSkipReason();

type Setup = DaemonSetup;

/** berthd with `daemonArgs`, the test image pulled into it. */
function setUp(daemonArgs: string[]): Promise<Setup> {
  return startDaemonWorld(
    'e2e/conf',
    'v1',
    { config: { Cmd: ['echo', 'default-cmd'], ExposedPorts: { '8080/tcp': {} } } },
    { daemonArgs, pull: true },
  );
}

const cli = (s: Setup) => berthCli(s.daemon.host, { timeoutMs: 90_000 });

/** GET / on 127.0.0.1:port, retried until the container's server answers (generous deadline: a busy host). */
async function httpGet(port: number): Promise<string> {
  const once = () =>
    new Promise<string>((resolve, reject) => {
      const r = request({ host: '127.0.0.1', port, path: '/', method: 'GET' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      });
      r.on('error', reject);
      r.end();
    });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await once();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

needs(skip).describe('container create fields through berthd', () => {
  let s: Setup;
  let berth: ReturnType<typeof cli>;
  beforeAll(async () => {
    s = await setUp(['--dns', '10.77.0.53']);
    berth = cli(s);
  }, 120_000);
  afterAll(() => stopDaemonWorld(s), 120_000);

  it('writes resolv.conf, hosts and hostname from --dns, --dns-search, --dns-option, --add-host and --domainname', async () => {
    const gateway = s.world.network.bip.split('/')[0]!;
    const r = await berth([
      'run',
      '--name',
      'dns',
      '--hostname',
      'web',
      '--domainname',
      'example.test',
      '--dns',
      '10.9.9.9',
      '--dns-search',
      'a.test',
      '--dns-option',
      'ndots:2',
      '--add-host',
      'db:10.9.0.7',
      '--add-host',
      'gw:host-gateway',
      s.image,
      'sh',
      '-c',
      'cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; cat /etc/hostname; hostname',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const [resolv, hosts, name] = r.stdout.split('---\n') as [string, string, string];
    expect(resolv).toBe('nameserver 10.9.9.9\nsearch a.test\noptions ndots:2\n');
    expect(hosts).toContain(`10.9.0.7\tdb\n${gateway}\tgw\n`);
    expect(hosts).toMatch(
      new RegExp(`\\n${s.world.network.subnetPrefix.replace(/\./g, '\\.')}\\d+\\tweb\\.example\\.test web\\n$`),
    );
    expect(name).toBe('web\nweb\n');
    const inspect = await s.client.containerInspect('dns');
    expect(inspect.HostsPath).toMatch(new RegExp(`^${s.world.root}/containers/${inspect.Id}/hosts$`));
    expect(inspect.ResolvConfPath).toBe(inspect.HostsPath.replace(/hosts$/, 'resolv.conf'));
    // the daemon's --dns is the default name server; a bad --add-host is refused by the client
    expect((await berth(['run', '--rm', s.image, 'cat', '/etc/resolv.conf'])).stdout).toMatch(
      /^nameserver 10\.77\.0\.53\n/,
    );
    expect(await berth(['run', '--rm', '--add-host', 'nohost', s.image, 'true'])).toMatchObject({
      exitCode: 125,
      stderr: expect.stringContaining('--add-host "nohost"'),
    });
    expect((await berth(['rm', 'dns'])).exitCode).toBe(0);
  });

  it('publishes every exposed port with -P on an ephemeral port, and a host port range on its first free port', async () => {
    const held = createServer();
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    const taken = (held.address() as AddressInfo).port;
    try {
      const run = await berth([
        'run',
        '-d',
        '--name',
        'pub',
        '-P',
        '-p',
        `127.0.0.1:${taken}-${taken + 20}:9090`,
        s.image,
        'http-server',
        '8080',
        '5',
      ]);
      expect(run.exitCode, run.stderr).toBe(0);
      const ports = (await s.client.containerInspect('pub')).NetworkSettings.Ports;
      const eph = Number(ports['8080/tcp']?.[0]?.HostPort);
      const ranged = Number(ports['9090/tcp']?.[0]?.HostPort);
      expect(ranged).toBeGreaterThan(taken);
      expect(ranged).toBeLessThanOrEqual(taken + 20);
      expect(await httpGet(eph)).toBe('xxxx\n');
      const ps = await berth(['ps', '--filter', 'name=pub']);
      expect(ps.stdout).toContain(`127.0.0.1:${eph}->8080/tcp`);
      expect((await berth(['rm', '-f', 'pub'])).exitCode).toBe(0);
    } finally {
      held.close();
    }
    const host = await berth(['run', '--rm', '--network', 'host', '-p', '8080:80', s.image, 'true']);
    expect(host).toMatchObject({
      exitCode: 0,
      stderr: 'WARNING: Published ports are discarded when using host network mode\n',
    });
  });

  it("runs --init as pid 1: signals reach the command, orphans are reaped, the status is the command's", async () => {
    const r = await berth([
      'run',
      '--rm',
      '--init',
      s.image,
      'sh',
      '-c',
      '(sh -c "exit 0" &); sleep 1; cat /proc/1/cmdline | tr "\\0" " "; echo; grep -l "^State:.Z" /proc/[0-9]*/status; echo pid=$$; exit 5',
    ]);
    expect(r.stdout).toMatch(/^\/sbin\/docker-init -- sh -c /);
    expect(r.stdout).toContain('pid=2\n');
    expect(r.stdout).not.toMatch(/\/proc\/\d+\/status/);
    expect(r.exitCode).toBe(5);
    const run = await berth(['run', '-d', '--init', '--name', 'inited', s.image, 'sleep', '1000']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect((await berth(['stop', '-t', '60', 'inited'])).exitCode).toBe(0);
    expect((await s.client.containerInspect('inited')).State.ExitCode).toBe(143);
    expect((await berth(['rm', 'inited'])).exitCode).toBe(0);
  });

  it("mounts --mount bind and tmpfs, joins another container's pid namespace with --pid container:", async () => {
    const dir = join(s.world.dir, 'bind-src');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'f'), 'from the host\n');
    const r = await berth([
      'run',
      '--rm',
      '--mount',
      `type=bind,source=${dir},target=/data,readonly`,
      '--mount',
      'type=tmpfs,target=/scratch,tmpfs-size=1m',
      s.image,
      'sh',
      '-c',
      'cat /data/f; { echo x > /data/x; } 2>/dev/null || echo ro; echo ok > /scratch/y && cat /scratch/y',
    ]);
    expect(r).toMatchObject({ stdout: 'from the host\nro\nok\n', exitCode: 0 });
    expect(
      (await berth(['run', '--rm', '--mount', `type=bind,source=${dir}/nope,target=/x`, s.image, 'true'])).stderr,
    ).toContain('bind source path does not exist');
    expect((await berth(['run', '-d', '--name', 'pidowner', s.image, 'sleep', '1000'])).exitCode).toBe(0);
    const joined = await berth([
      'run',
      '--rm',
      '--pid',
      'container:pidowner',
      s.image,
      'sh',
      '-c',
      'cat /proc/1/cmdline | tr "\\0" " "',
    ]);
    expect(joined).toMatchObject({ stdout: 'sleep 1000 ', exitCode: 0 });
    expect((await berth(['rm', '-f', 'pidowner'])).exitCode).toBe(0);
  });

  it('warns about discarded fields and refuses the ones berth cannot honour with a 400 naming them', async () => {
    const created = await s.client.containerCreate({
      Image: s.image,
      HostConfig: { OomKillDisable: true },
    });
    expect(created.Warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^OomKillDisable: /)]));
    await s.client.containerRemove(created.Id);
    await expect(
      s.client.containerCreate({ Image: s.image, HostConfig: { Links: ['db:db'], NetworkMode: 'host' } }),
    ).rejects.toMatchObject({
      details: { httpStatus: 400 },
      message: expect.stringContaining('Links:'),
    });
    await expect(
      s.client.call('POST', '/containers/create', {
        body: { Image: s.image, HostConfig: { Sysctls: { 'net.core.somaxconn': '1024' } } },
      }),
    ).rejects.toMatchObject({ details: { httpStatus: 400 }, message: expect.stringContaining('Sysctls:') });
  });

  it('keeps data in named volumes (berth volume, -v name:/path, --mount type=volume, --volumes-from) and refuses removing one in use', async () => {
    expect(await berth(['volume', 'create', 'shared'])).toMatchObject({ stdout: 'shared\n', exitCode: 0 });
    // a new volume at /srv gets the image's /srv/data.txt; the write stays in the volume
    const first = await berth([
      'run',
      '--name',
      'writer',
      '-v',
      'fresh:/srv',
      '--mount',
      'type=volume,source=shared,target=/shared',
      s.image,
      'sh',
      '-c',
      'cat /srv/data.txt; echo kept > /shared/f',
    ]);
    expect(first).toMatchObject({ stdout: 'from the image\n', exitCode: 0 });
    expect(
      await berth([
        'run',
        '--rm',
        '--volumes-from',
        'writer:ro',
        s.image,
        'sh',
        '-c',
        'cat /shared/f; { echo x > /shared/g; } 2>/dev/null || echo ro',
      ]),
    ).toMatchObject({ stdout: 'kept\nro\n', exitCode: 0 });
    const ls = await berth(['volume', 'ls', '-q']);
    expect(
      ls.stdout
        .split('\n')
        .filter((l) => l !== '')
        .sort(),
    ).toEqual(['fresh', 'shared']);
    const inspect = JSON.parse((await berth(['volume', 'inspect', 'shared'])).stdout) as {
      Name: string;
      Mountpoint: string;
      Driver: string;
    }[];
    expect(inspect[0]).toMatchObject({
      Name: 'shared',
      Driver: 'local',
      Mountpoint: `${s.world.root}/volumes/shared/_data`,
    });
    const busy = await berth(['volume', 'rm', 'shared']);
    expect(busy.exitCode).toBe(1);
    expect(busy.stderr).toContain('volume is in use');
    expect((await berth(['rm', 'writer'])).exitCode).toBe(0);
    const pruned = await berth(['volume', 'prune', '-f']);
    expect(pruned.stdout).toContain('Deleted Volumes:\n');
    expect((await berth(['volume', 'ls', '-q'])).stdout).toBe('');
    await expect(s.client.volumeInspect('shared')).rejects.toMatchObject({ details: { httpStatus: 404 } });
  });

  it('restarts a running container (berth restart): a new process, the same container, RestartCount unchanged', async () => {
    expect(
      (
        await berth([
          'run',
          '-d',
          '--name',
          'again',
          s.image,
          'sh',
          '-c',
          'echo started; trap "exit 0" TERM; while :; do sleep 1; done',
        ])
      ).exitCode,
    ).toBe(0);
    const before = await s.client.containerInspect('again');
    const r = await berth(['restart', '-t', '30', 'again']);
    expect(r).toMatchObject({ stdout: 'again\n', exitCode: 0 });
    const after = await s.client.containerInspect('again');
    expect(after.State.Running).toBe(true);
    expect(after.State.Pid).not.toBe(before.State.Pid);
    expect(after.State.StartedAt > before.State.StartedAt).toBe(true);
    expect(after.RestartCount).toBe(0);
    expect((await berth(['logs', 'again'])).stdout).toBe('started\nstarted\n');
    expect((await berth(['restart', 'nosuch'])).exitCode).toBe(1);
    expect((await berth(['rm', '-f', 'again'])).exitCode).toBe(0);
  });

  it('resizes the pty of a TTY container (POST /containers/{id}/resize)', async () => {
    expect((await berth(['run', '-d', '-t', '--name', 'term', s.image, 'sleep', '1000'])).exitCode).toBe(0);
    await s.client.containerResize('term', 33, 101);
    const size = await berth(['exec', 'term', 'stty', '-F', '/proc/1/fd/0', 'size']);
    expect(size).toMatchObject({ stdout: '33 101\n', exitCode: 0 });
    await s.client.containerResize('term', 20, 60);
    expect((await berth(['exec', 'term', 'stty', '-F', '/proc/1/fd/0', 'size'])).stdout).toBe('20 60\n');
    expect((await berth(['run', '-d', '--name', 'noterm', s.image, 'sleep', '1000'])).exitCode).toBe(0);
    await expect(s.client.containerResize('noterm', 20, 60)).rejects.toMatchObject({
      details: { httpStatus: expect.any(Number) },
    });
    expect((await berth(['rm', '-f', 'term', 'noterm'])).exitCode).toBe(0);
  });
});

needs(skip).describe('berthd --iptables=false', () => {
  let s: Setup;
  let berth: ReturnType<typeof cli>;
  beforeAll(async () => {
    s = await setUp(['--iptables=false']);
    berth = cli(s);
  }, 120_000);
  afterAll(() => stopDaemonWorld(s), 120_000);

  // The check that no rule was written reads iptables: without it there is nothing to check.
  needs(tool('iptables')).it(
    'serves a published port through the userland proxy and writes no iptables rule',
    async () => {
      await berth(['rm', '-f', 'proxied']);
      const run = await berth([
        'run',
        '-d',
        '--name',
        'proxied',
        '-p',
        '127.0.0.1:0:8080',
        s.image,
        'http-server',
        '8080',
        '5',
      ]);
      expect(run.exitCode, run.stderr).toBe(0);
      const port = Number(
        (await s.client.containerInspect('proxied')).NetworkSettings.Ports['8080/tcp']?.[0]?.HostPort,
      );
      expect(await httpGet(port)).toBe('xxxx\n');
      const owner = createHash('sha256').update(s.world.root).digest('hex').slice(0, 12);
      for (const table of ['nat', 'filter'])
        expect(execFileSync('iptables', ['-w', '-t', table, '-S'], { encoding: 'utf8' })).not.toContain(
          `berth:${owner}`,
        );
      expect((await berth(['rm', '-f', 'proxied'])).exitCode).toBe(0);
    },
  );
});
