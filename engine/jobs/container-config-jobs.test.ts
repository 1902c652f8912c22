// The create request's Docker fields on a real Engine (temporary root, vfs, own
// bridge and subnet), seen from inside the container: DNS and hosts (Dns,
// DnsSearch, DnsOptions, ExtraHosts with host-gateway, Domainname) in each network
// mode, the etc files shared with container:<id>, ephemeral ports (-P) and host
// port ranges, Mounts, Init as pid 1, PidMode/IpcMode container:<id>, and the
// fields berth cannot honour answered with a warning or a refusal naming them.
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ContainerCreateRequest } from '../api/types.js';
import { isBerthError } from '../errdefs/errors.js';
import { ephemeralRange } from '../networkdriver/port-spec.js';
import type { BerthEngine } from './builtins.js';
import { ctx, kernelSkipReason, putTestImage, stdoutOf, TEST_IMAGE, testWorld, type TestWorld } from './test-engine.js';
import { needs } from '../../testkit/needs.js';

const skip = kernelSkipReason();

interface Check {
  op: string;
  path: string;
  ok: boolean;
  text?: string;
}
interface Probe {
  hostname: string;
  domainname: string;
  pid: number;
  ppid: number;
  checks: Check[];
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isBerthError(err) ? `${err.code}: ${err.message}` : `OTHER: ${String(err)}`;
  }
  return undefined;
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

needs(skip).describe('container create fields (kernel)', () => {
  let world: TestWorld;
  let b: BerthEngine;
  let gateway: string;

  beforeEach(async () => {
    world = await testWorld('vfs');
    b = await world.open();
    await putTestImage(ctx, b.parts.graph);
    gateway = world.bip.split('/')[0]!;
  });

  afterEach(async () => {
    await world.cleanup();
  });

  async function create(
    config: Partial<ContainerCreateRequest>,
    name?: string,
  ): Promise<{ id: string; warnings: string[] }> {
    const r = await b.engine.job(ctx, 'create', {
      ...(name ? { name } : {}),
      config: { Image: TEST_IMAGE, ...config },
    });
    return { id: r.Id, warnings: r.Warnings };
  }

  /** create + start + wait → exit code, the probe's output (when it printed one) and the create warnings. */
  async function run(
    config: Partial<ContainerCreateRequest>,
  ): Promise<{ id: string; code: number; probe: Probe; warnings: string[] }> {
    const { id, warnings } = await create(config);
    const waiting = b.engine.job(ctx, 'wait', { id, condition: 'next-exit' });
    await b.engine.job(ctx, 'start', { id });
    const { StatusCode } = await waiting;
    const out = await stdoutOf((await b.engine.job(ctx, 'inspect', { id })).LogPath);
    return { id, code: StatusCode, probe: (out.trim() === '' ? {} : JSON.parse(out)) as Probe, warnings };
  }

  const text = (p: Probe, path: string) => p.checks.find((c) => c.path === path)?.text;
  const READ_ETC = ['/bin/probe', 'read:/etc/resolv.conf', 'read:/etc/hosts', 'read:/etc/hostname'];

  it('writes resolv.conf, hosts and hostname from Dns, DnsSearch, DnsOptions, ExtraHosts and Domainname on a bridge', async () => {
    const { id, code, probe } = await run({
      Cmd: READ_ETC,
      Hostname: 'web',
      Domainname: 'example.test',
      HostConfig: {
        Dns: ['10.9.9.9'],
        DnsSearch: ['a.test'],
        DnsOptions: ['ndots:2'],
        ExtraHosts: ['db:10.9.0.7', 'gw:host-gateway'],
      },
    });
    expect(code).toBe(0);
    expect(probe.hostname).toBe('web');
    expect(probe.domainname).toBe('example.test');
    expect(text(probe, '/etc/resolv.conf')).toBe('nameserver 10.9.9.9\nsearch a.test\noptions ndots:2\n');
    expect(text(probe, '/etc/hostname')).toBe('web\n');
    const hosts = text(probe, '/etc/hosts')!;
    const lines = hosts.trimEnd().split('\n');
    expect(lines[0]).toBe('127.0.0.1\tlocalhost');
    expect(lines.slice(-3, -1)).toEqual(['10.9.0.7\tdb', `${gateway}\tgw`]);
    expect(lines.at(-1)).toMatch(
      new RegExp(`^${world.bip.split('.').slice(0, 3).join('\\.')}\\.\\d+\\tweb\\.example\\.test web$`),
    );
    const inspect = await b.engine.job(ctx, 'inspect', { id });
    const dir = b.parts.store.containerDir(id);
    expect(inspect).toMatchObject({
      ResolvConfPath: join(dir, 'resolv.conf'),
      HostsPath: join(dir, 'hosts'),
      HostnamePath: join(dir, 'hostname'),
    });
    expect(readFileSync(inspect.HostsPath, 'utf8')).toBe(hosts);
  });

  it("starts from the host's files with the host network, and drops loopback name servers without one", async () => {
    const host = await run({
      Cmd: READ_ETC,
      HostConfig: { NetworkMode: 'host', Dns: ['10.9.9.8'], ExtraHosts: ['db:10.9.0.7', 'gw:host-gateway'] },
    });
    expect(host.code).toBe(0);
    const hostsOnHost = readFileSync('/etc/hosts', 'utf8');
    const hosts = readFileSync((await b.engine.job(ctx, 'inspect', { id: host.id })).HostsPath, 'utf8');
    expect(hosts.startsWith(hostsOnHost)).toBe(true);
    expect(hosts.endsWith(`10.9.0.7\tdb\n${gateway}\tgw\n`)).toBe(true);
    expect(text(host.probe, '/etc/resolv.conf')).toMatch(/^nameserver 10\.9\.9\.8\n/);
    const none = await run({ Cmd: READ_ETC, HostConfig: { NetworkMode: 'none' } });
    expect(text(none.probe, '/etc/resolv.conf')).toMatch(/^nameserver /);
    expect(text(none.probe, '/etc/resolv.conf')).not.toMatch(/nameserver (127\.|::1)/);
  });

  it("shares the network container's etc files and name with container:<id>, and refuses what would change them", async () => {
    const { id: owner } = await create({
      Cmd: ['/bin/sleep'],
      Hostname: 'alpha',
      HostConfig: { ExtraHosts: ['db:10.9.0.7'] },
    });
    await b.engine.job(ctx, 'start', { id: owner });
    const joined = await run({ Cmd: READ_ETC, HostConfig: { NetworkMode: `container:${owner}` } });
    expect(joined.code).toBe(0);
    expect(joined.probe.hostname).toBe('alpha');
    expect(text(joined.probe, '/etc/hosts')).toContain('10.9.0.7\tdb\n');
    expect((await b.engine.job(ctx, 'inspect', { id: joined.id })).HostsPath).toBe(
      (await b.engine.job(ctx, 'inspect', { id: owner })).HostsPath,
    );
    for (const [extra, field] of [
      [{ Hostname: 'x' }, 'Hostname'],
      [{ HostConfig: { Dns: ['10.0.0.1'] } }, 'Dns'],
      [{ HostConfig: { ExtraHosts: ['a:10.0.0.1'] } }, 'ExtraHosts'],
      [{ HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '8080' }] } } }, 'port publishing'],
    ] as const) {
      const req = {
        ...extra,
        HostConfig: { NetworkMode: `container:${owner}`, ...('HostConfig' in extra ? extra.HostConfig : {}) },
      } as Partial<ContainerCreateRequest>;
      expect(await codeOf(create(req))).toMatch(new RegExp(`^INVALID_ARGUMENT: conflicting options: ${field}`));
    }
    expect(await codeOf(create({ HostConfig: { ExtraHosts: ['db'] } }))).toMatch(
      /^INVALID_ARGUMENT: ExtraHosts "db": expected host:ip/,
    );
    expect(await codeOf(create({ HostConfig: { Dns: ['resolver'] } }))).toMatch(/^INVALID_ARGUMENT: Dns "resolver"/);
    await b.engine.job(ctx, 'delete', { id: owner, force: true });
  });

  it('publishes exposed ports on ephemeral host ports with PublishAllPorts and picks a free port of a host range', async () => {
    const held: Server = createServer();
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    const taken = (held.address() as AddressInfo).port;
    try {
      const { id } = await create({
        Cmd: ['/bin/http-server', '8080', '5'],
        ExposedPorts: { '8080/tcp': {}, '9090/tcp': {} },
        HostConfig: {
          PublishAllPorts: true,
          PortBindings: { '9090/tcp': [{ HostIp: '127.0.0.1', HostPort: `${taken}-${taken + 20}` }] },
        },
      });
      await b.engine.job(ctx, 'start', { id });
      const ports = (await b.engine.job(ctx, 'inspect', { id })).NetworkSettings.Ports;
      const eph = Number(ports['8080/tcp']![0]!.HostPort);
      const [lo, hi] = ephemeralRange();
      expect(eph).toBeGreaterThanOrEqual(lo);
      expect(eph).toBeLessThanOrEqual(hi);
      expect(ports['8080/tcp']![0]!.HostIp).toBe('127.0.0.1');
      const ranged = Number(ports['9090/tcp']![0]!.HostPort);
      expect(ranged).toBeGreaterThan(taken);
      expect(ranged).toBeLessThanOrEqual(taken + 20);
      // the server may still be starting: poll with a generous deadline
      let body = '';
      for (const deadline = Date.now() + 30_000; body === '' && Date.now() < deadline;) {
        body = await httpGet(eph).catch(async () => {
          await new Promise((r) => setTimeout(r, 100));
          return '';
        });
      }
      expect(body).toBe('xxxx\n');
      await b.engine.job(ctx, 'delete', { id, force: true });
    } finally {
      held.close();
    }
    const host = await create({
      Cmd: ['/bin/true'],
      HostConfig: { NetworkMode: 'host', PortBindings: { '80/tcp': [{ HostPort: '8080' }] } },
    });
    expect(host.warnings).toContain('Published ports are discarded when using host network mode');
  });

  it('mounts bind and tmpfs Mounts, and refuses a bind whose source is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-mounts-'));
    try {
      await writeFile(join(dir, 'f'), 'from the host\n');
      const { code, probe } = await run({
        Cmd: ['/bin/probe', 'read:/data/f', 'write:/data/g', 'write:/scratch/h'],
        HostConfig: {
          Mounts: [
            { Type: 'bind', Source: dir, Target: '/data', ReadOnly: true },
            { Type: 'tmpfs', Target: '/scratch', TmpfsOptions: { SizeBytes: 1 << 20 } },
          ],
        },
      });
      expect(code).toBe(0);
      expect(text(probe, '/data/f')).toBe('from the host\n');
      expect(probe.checks.find((c) => c.path === '/data/g')?.ok).toBe(false);
      expect(probe.checks.find((c) => c.path === '/scratch/h')?.ok).toBe(true);
      expect(
        await codeOf(create({ HostConfig: { Mounts: [{ Type: 'bind', Source: join(dir, 'nope'), Target: '/x' }] } })),
      ).toMatch(/bind source path does not exist/);
      expect(await codeOf(create({ HostConfig: { Mounts: [{ Type: 'bind', Source: dir, Target: 'rel' }] } }))).toMatch(
        /^INVALID_ARGUMENT: mount "rel": Target must be an absolute path/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("runs an init as pid 1 with Init: the command is its child, gets the stop signal, and its status is the container's", async () => {
    const { code, probe } = await run({
      Cmd: ['/bin/probe', 'exit:7'],
      HostConfig: { Init: true, NetworkMode: 'none' },
    });
    expect(code).toBe(7);
    expect(probe.pid).toBe(2);
    expect(probe.ppid).toBe(1);
    const { id } = await create({ Cmd: ['/bin/sleep'], HostConfig: { Init: true, NetworkMode: 'none' } });
    await b.engine.job(ctx, 'start', { id });
    const pid = (await b.engine.job(ctx, 'inspect', { id })).State.Pid;
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]).toBe('/sbin/docker-init');
    // without an init the sleeper, as pid 1, ignores SIGTERM; under one it dies of it (128 + 15), long before SIGKILL
    await b.engine.job(ctx, 'stop', { id, timeout: 120 });
    expect((await b.engine.job(ctx, 'inspect', { id })).State.ExitCode).toBe(143);
  });

  it("joins another container's pid and IPC namespaces with PidMode/IpcMode container:<id>", async () => {
    const { id: owner } = await create(
      { Cmd: ['/bin/sleep'], HostConfig: { NetworkMode: 'none', IpcMode: 'shareable' } },
      'owner',
    );
    await b.engine.job(ctx, 'start', { id: owner });
    const { id, warnings } = await create({
      Cmd: ['/bin/sleep'],
      HostConfig: { NetworkMode: 'none', PidMode: 'container:owner', IpcMode: 'container:owner' },
    });
    expect(warnings).toEqual([]);
    expect((await b.engine.job(ctx, 'inspect', { id })).HostConfig.PidMode).toBe(`container:${owner}`);
    await b.engine.job(ctx, 'start', { id });
    const pidOf = async (c: string) => (await b.engine.job(ctx, 'inspect', { id: c })).State.Pid;
    const ns = (pid: number, kind: string) => readlinkSync(`/proc/${pid}/ns/${kind}`);
    const [a, c] = [await pidOf(owner), await pidOf(id)];
    expect(ns(c, 'pid')).toBe(ns(a, 'pid'));
    expect(ns(c, 'ipc')).toBe(ns(a, 'ipc'));
    expect(ns(c, 'mnt')).not.toBe(ns(a, 'mnt'));
    const probe = await run({
      Cmd: ['/bin/probe'],
      HostConfig: { NetworkMode: 'none', PidMode: `container:${owner}` },
    });
    expect(probe.probe.pid).toBeGreaterThan(1);
    await b.engine.job(ctx, 'delete', { id, force: true });
    await b.engine.job(ctx, 'delete', { id: owner, force: true });
    expect(await codeOf(create({ HostConfig: { PidMode: 'container:nosuch' } }))).toMatch(/^NOT_FOUND/);
    expect(await codeOf(create({ HostConfig: { PidMode: 'shared' } }))).toMatch(/^INVALID_ARGUMENT: PidMode "shared"/);
  });

  it('warns about the fields it discards and refuses the ones it cannot honour, naming them', async () => {
    const { warnings } = await create({
      HostConfig: { OomKillDisable: true, MemorySwappiness: 10, Devices: [], OomScoreAdj: 0 } as never,
    });
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^OomKillDisable: /),
        expect.stringMatching(/^MemorySwappiness: /),
      ]),
    );
    const quiet = await create({
      Healthcheck: { Test: ['NONE'] },
      HostConfig: {
        OomKillDisable: false,
        MemorySwappiness: -1,
        Devices: [],
        Links: null,
        CgroupnsMode: 'private',
      } as never,
    });
    expect(quiet.warnings).toEqual([]);
    for (const [hc, field] of [
      [{ Links: ['db:db'], NetworkMode: 'host' }, 'Links'],
      [{ Devices: [{ PathOnHost: '/dev/null' }] }, 'Devices'],
      [{ Sysctls: { 'net.ipv4.ip_forward': '1' } }, 'Sysctls'],
      [{ CgroupnsMode: 'shared' }, 'CgroupnsMode'],
      [{ Mounts: [{ Type: 'npipe', Source: 'data', Target: '/data' }] }, 'mount "/data": Type "npipe"'],
      [{ VolumeDriver: 'nfs' }, 'VolumeDriver'],
    ] as const) {
      expect(await codeOf(create({ HostConfig: hc as never }))).toMatch(new RegExp(`^INVALID_ARGUMENT: ${field}`));
    }
    const disabled = await run({ Cmd: ['/bin/probe'], NetworkDisabled: true });
    expect(disabled.code).toBe(0);
    expect((await b.engine.job(ctx, 'inspect', { id: disabled.id })).HostConfig.NetworkMode).toBe('none');
  });

  it('creates named volumes with content copied from the image, shares them, refuses removing one in use, prunes the rest', async () => {
    // the test image has /bin with the workloads: a new volume at /bin gets them; an existing one keeps its own
    const { id } = await create(
      {
        Cmd: ['/bin/probe', 'read:/bin/echo', 'write:/data/mark'],
        HostConfig: { NetworkMode: 'none', Binds: ['tools:/bin:ro', 'data:/data'] },
      },
      'user1',
    );
    expect(b.parts.volumes.list().map((v) => v.name)).toEqual(['data', 'tools']);
    const waiting = b.engine.job(ctx, 'wait', { id, condition: 'next-exit' });
    await b.engine.job(ctx, 'start', { id });
    expect((await waiting).StatusCode).toBe(0);
    const tools = await b.engine.job(ctx, 'volume_inspect', { name: 'tools' });
    expect(readFileSync(join(tools.Mountpoint, 'probe')).length).toBeGreaterThan(0);
    expect(readFileSync(join(b.parts.volumes.mountpoint('data'), 'mark'), 'utf8')).toBe('1');
    const inspect = await b.engine.job(ctx, 'inspect', { id });
    expect(inspect.Mounts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Type: 'volume',
          Name: 'data',
          Source: b.parts.volumes.mountpoint('data'),
          Destination: '/data',
          Driver: 'local',
          RW: true,
        }),
      ]),
    );
    // VolumesFrom lends the volumes read-only; a Mounts volume without a source and an image VOLUME are anonymous
    const lent = await run({
      Cmd: ['/bin/probe', 'read:/data/mark', 'write:/data/again', 'write:/anon/f'],
      HostConfig: { NetworkMode: 'none', VolumesFrom: ['user1:ro'], Mounts: [{ Type: 'volume', Target: '/anon' }] },
    });
    expect(text(lent.probe, '/data/mark')).toBe('1');
    expect(lent.probe.checks.find((c) => c.path === '/data/again')?.ok).toBe(false);
    expect(lent.probe.checks.find((c) => c.path === '/anon/f')?.ok).toBe(true);
    const anon = b.parts.volumes.list().filter((v) => v.anonymous);
    expect(anon).toHaveLength(1);
    expect(await codeOf(b.engine.job(ctx, 'volume_delete', { name: 'data' }))).toMatch(
      new RegExp(`^CONFLICT: remove data: volume is in use - \\[.*${id}`),
    );
    expect((await b.engine.job(ctx, 'volume_list', { filters: { dangling: ['true'] } })).Volumes).toEqual([]);
    // rm -v takes the anonymous volume along, not the named ones
    await b.engine.job(ctx, 'delete', { id: lent.id, volumes: true });
    expect(b.parts.volumes.find(anon[0]!.name)).toBeUndefined();
    await b.engine.job(ctx, 'delete', { id });
    expect(
      (await b.engine.job(ctx, 'volume_list', { filters: { dangling: ['true'] } })).Volumes.map((v) => v.Name),
    ).toEqual(['data', 'tools']);
    await b.engine.job(ctx, 'volume_create', { Name: 'keep', Labels: { k: 'v' } });
    expect(
      (await b.engine.job(ctx, 'volume_list', { filters: { label: ['k=v'] } })).Volumes.map((v) => v.Name),
    ).toEqual(['keep']);
    const pruned = await b.engine.job(ctx, 'volume_prune', { filters: { label: ['k=v'] } });
    expect(pruned.VolumesDeleted).toEqual(['keep']);
    await b.engine.job(ctx, 'volume_delete', { name: 'data' });
    expect(await codeOf(b.engine.job(ctx, 'volume_inspect', { name: 'data' }))).toMatch(
      /^NOT_FOUND: get data: no such volume/,
    );
    expect(await codeOf(b.engine.job(ctx, 'volume_create', { Name: 'x' }))).toMatch(
      /^INVALID_ARGUMENT: volume name "x"/,
    );
    expect(await codeOf(b.engine.job(ctx, 'volume_create', { Name: 'nfs1', Driver: 'nfs' }))).toMatch(
      /^INVALID_ARGUMENT: volume create: driver "nfs"/,
    );
    const all = await b.engine.job(ctx, 'volume_prune', {});
    expect(all.VolumesDeleted).toEqual(['tools']);
    expect(all.SpaceReclaimed).toBeGreaterThan(0);
  });
});
