// The OCI spec built from Config + HostConfig, case by case.
import { describe, expect, it } from 'vitest';
import type { ContainerConfig, HostConfig } from '../api/types.js';
import { isBerthError } from '../errdefs/errors.js';
import { CAPABILITY_NAMES, capabilityNumber, type HostCapabilities } from '../execdriver/spec/capabilities.js';
import { DEFAULT_CAPABILITIES } from '../execdriver/spec/defaults.js';
import type { Spec } from '../execdriver/spec/types.js';
import { buildSpec, capabilitiesFor, parseBind, parseSecurityOpt, processEnv, tmpfsMount } from './spec-builder.js';

const ID = 'ab'.repeat(32);
// a host whose bounding set lacks CAP_SYS_RESOURCE, like the machines berth runs on
const host: HostCapabilities = {
  lastCap: CAPABILITY_NAMES.length - 1,
  bounding: ((1n << BigInt(CAPABILITY_NAMES.length)) - 1n) & ~(1n << BigInt(capabilityNumber('CAP_SYS_RESOURCE')!)),
};
const user = { uid: 1000, gid: 1001, additionalGids: [10], home: '/home/app' };

function build(
  config: ContainerConfig = {},
  hostConfig: HostConfig = {},
  extra: { netnsPath?: string; pidnsPath?: string; ipcnsPath?: string; initPath?: string; etc?: boolean } = {},
): Spec {
  return buildSpec({
    id: ID,
    config: { Env: ['A=1'], ...config },
    hostConfig,
    path: '/bin/app',
    args: ['-x'],
    rootfs: '/var/lib/berth/rootfs',
    user,
    host,
    ...(extra.netnsPath ? { netnsPath: extra.netnsPath } : {}),
    ...(extra.pidnsPath ? { pidnsPath: extra.pidnsPath } : {}),
    ...(extra.ipcnsPath ? { ipcnsPath: extra.ipcnsPath } : {}),
    ...(extra.initPath ? { initPath: extra.initPath } : {}),
    ...(extra.etc ? { etcFiles: { hosts: '/c/hosts', hostname: '/c/hostname', resolvConf: '/c/resolv.conf' } } : {}),
  });
}

function failure(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (isBerthError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('did not fail');
}

describe('buildSpec', () => {
  it('runs the command as the resolved user in the working dir with Docker defaults', () => {
    const s = build({ WorkingDir: '/srv' });
    expect(s.process!.args).toEqual(['/bin/app', '-x']);
    expect(s.process!.user).toEqual({ uid: 1000, gid: 1001, additionalGids: [10] });
    expect(s.process!.cwd).toBe('/srv');
    expect(s.process!.env).toEqual([
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      `HOSTNAME=${ID.slice(0, 12)}`,
      'A=1',
      'HOME=/home/app',
    ]);
    expect(s.hostname).toBe(ID.slice(0, 12));
    expect(s.process!.capabilities!.bounding).toEqual([...DEFAULT_CAPABILITIES]);
    expect(s.process!.noNewPrivileges).toBe(false);
    expect(s.root).toEqual({ path: '/var/lib/berth/rootfs', readonly: false });
    expect(s.linux!.seccomp?.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(s.linux!.maskedPaths).toContain('/proc/kcore');
    expect(s.linux!.namespaces!.map((n) => n.type).sort()).toEqual(['cgroup', 'ipc', 'mount', 'network', 'pid', 'uts']);
  });

  it.each<[string, ContainerConfig, HostConfig, (s: Spec) => void]>([
    [
      'Hostname',
      { Hostname: 'web' },
      {},
      (s) => {
        expect(s.hostname).toBe('web');
        expect(s.process!.env).toContain('HOSTNAME=web');
      },
    ],
    [
      'Tty sets terminal and TERM',
      { Tty: true },
      {},
      (s) => {
        expect(s.process!.terminal).toBe(true);
        expect(s.process!.env).toContain('TERM=xterm');
      },
    ],
    [
      'Env PATH and HOME are kept',
      { Env: ['PATH=/x', 'HOME=/h'] },
      {},
      (s) => expect(s.process!.env).toEqual([`HOSTNAME=${ID.slice(0, 12)}`, 'PATH=/x', 'HOME=/h']),
    ],
    ['ReadonlyRootfs', {}, { ReadonlyRootfs: true }, (s) => expect(s.root!.readonly).toBe(true)],
    [
      'NetworkMode host drops the network namespace',
      {},
      { NetworkMode: 'host' },
      (s) => expect(s.linux!.namespaces!.some((n) => n.type === 'network')).toBe(false),
    ],
    [
      'NetworkMode none keeps its own namespace',
      {},
      { NetworkMode: 'none' },
      (s) => expect(s.linux!.namespaces!.find((n) => n.type === 'network')).toEqual({ type: 'network' }),
    ],
    [
      'PidMode host',
      {},
      { PidMode: 'host' },
      (s) => expect(s.linux!.namespaces!.some((n) => n.type === 'pid')).toBe(false),
    ],
    [
      'Memory and MemorySwap',
      {},
      { Memory: 64 << 20, MemorySwap: 128 << 20 },
      (s) => expect(s.linux!.resources!.memory).toEqual({ limit: 64 << 20, swap: 128 << 20 }),
    ],
    [
      'NanoCpus → quota over a 100 ms period',
      {},
      { NanoCpus: 1.5e9 },
      (s) => expect(s.linux!.resources!.cpu).toEqual({ quota: 150000, period: 100000 }),
    ],
    ['CpuShares', {}, { CpuShares: 512 }, (s) => expect(s.linux!.resources!.cpu).toEqual({ shares: 512 })],
    ['PidsLimit', {}, { PidsLimit: 64 }, (s) => expect(s.linux!.resources!.pids).toEqual({ limit: 64 })],
    ['PidsLimit 0 or -1 is unlimited', {}, { PidsLimit: -1 }, (s) => expect(s.linux!.resources!.pids).toBeUndefined()],
    [
      'CapAdd / CapDrop',
      {},
      { CapAdd: ['net_admin'], CapDrop: ['CAP_CHOWN', 'mknod'] },
      (s) => {
        const caps = s.process!.capabilities!.bounding!;
        expect(caps).toContain('CAP_NET_ADMIN');
        expect(caps).not.toContain('CAP_CHOWN');
        expect(caps).not.toContain('CAP_MKNOD');
        expect(s.linux!.seccomp!.syscalls!.some((r) => r.names.includes('setns'))).toBe(false);
      },
    ],
    [
      'CapDrop ALL + CapAdd',
      {},
      { CapDrop: ['ALL'], CapAdd: ['KILL'] },
      (s) => expect(s.process!.capabilities!.bounding).toEqual(['CAP_KILL']),
    ],
    [
      'Privileged: every grantable capability, no seccomp, no masked paths, rw /sys',
      {},
      { Privileged: true },
      (s) => {
        expect(s.process!.capabilities!.bounding).toContain('CAP_SYS_ADMIN');
        expect(s.process!.capabilities!.bounding).not.toContain('CAP_SYS_RESOURCE');
        expect(s.linux!.seccomp).toBeUndefined();
        expect(s.linux!.maskedPaths).toBeUndefined();
        expect(s.mounts!.find((m) => m.destination === '/sys')!.options).not.toContain('ro');
      },
    ],
    [
      'seccomp=unconfined',
      {},
      { SecurityOpt: ['seccomp=unconfined'] },
      (s) => expect(s.linux!.seccomp).toBeUndefined(),
    ],
    [
      'no-new-privileges',
      {},
      { SecurityOpt: ['no-new-privileges'] },
      (s) => expect(s.process!.noNewPrivileges).toBe(true),
    ],
    [
      'Binds and Tmpfs',
      {},
      { Binds: ['/host/data:/data:ro', '/host/rw:/rw'], Tmpfs: { '/run': 'size=1m' } },
      (s) => {
        expect(s.mounts!.find((m) => m.destination === '/data')).toEqual({
          destination: '/data',
          type: 'bind',
          source: '/host/data',
          options: ['rbind', 'rprivate', 'ro'],
        });
        expect(s.mounts!.find((m) => m.destination === '/rw')!.options).toEqual(['rbind', 'rprivate']);
        expect(s.mounts!.find((m) => m.destination === '/run')).toEqual({
          destination: '/run',
          type: 'tmpfs',
          source: 'tmpfs',
          options: ['nosuid', 'nodev', 'noexec', 'size=1m'],
        });
      },
    ],
    [
      'ShmSize',
      {},
      { ShmSize: 1 << 20 },
      (s) => expect(s.mounts!.find((m) => m.destination === '/dev/shm')!.options).toContain('size=1024k'),
    ],
    [
      'Ulimits',
      {},
      { Ulimits: [{ Name: 'nofile', Soft: 100, Hard: 200 }] },
      (s) => expect(s.process!.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }]),
    ],
  ])('%s', (_name, config, hc, check) => {
    check(build(config, hc));
  });

  it('bind-mounts the etc files, read-only with a read-only rootfs', () => {
    const rw = build({}, {}, { etc: true }).mounts!.filter((m) => m.destination.startsWith('/etc/'));
    expect(rw.map((m) => [m.destination, m.source])).toEqual([
      ['/etc/resolv.conf', '/c/resolv.conf'],
      ['/etc/hostname', '/c/hostname'],
      ['/etc/hosts', '/c/hosts'],
    ]);
    const ro = build({}, { ReadonlyRootfs: true }, { etc: true }).mounts!.filter((m) =>
      m.destination.startsWith('/etc/'),
    );
    expect(ro.every((m) => m.options!.includes('ro'))).toBe(true);
  });

  it("joins another container's network namespace for container:<id>", () => {
    const s = build({}, { NetworkMode: 'container:other' }, { netnsPath: '/proc/42/ns/net' });
    expect(s.linux!.namespaces!.find((n) => n.type === 'network')).toEqual({
      type: 'network',
      path: '/proc/42/ns/net',
    });
  });

  it('joins pid and IPC namespaces of container:<id>, drops /dev/shm for IpcMode none and the cgroup namespace for CgroupnsMode host', () => {
    const s = build(
      {},
      { PidMode: 'container:a', IpcMode: 'container:a', CgroupnsMode: 'host' },
      { pidnsPath: '/proc/7/ns/pid', ipcnsPath: '/proc/7/ns/ipc' },
    );
    expect(s.linux!.namespaces!.find((n) => n.type === 'pid')).toEqual({ type: 'pid', path: '/proc/7/ns/pid' });
    expect(s.linux!.namespaces!.find((n) => n.type === 'ipc')).toEqual({ type: 'ipc', path: '/proc/7/ns/ipc' });
    expect(s.linux!.namespaces!.some((n) => n.type === 'cgroup')).toBe(false);
    expect(build({}, { IpcMode: 'none' }).mounts!.some((m) => m.destination === '/dev/shm')).toBe(false);
  });

  it('runs the command under the init with Init, its binary mounted read-only', () => {
    const s = build({}, { Init: true }, { initPath: '/opt/berth/init' });
    expect(s.process!.args).toEqual(['/sbin/docker-init', '--', '/bin/app', '-x']);
    expect(s.mounts!.find((m) => m.destination === '/sbin/docker-init')).toEqual({
      destination: '/sbin/docker-init',
      type: 'bind',
      source: '/opt/berth/init',
      options: ['bind', 'rprivate', 'ro'],
    });
  });

  it('sets the domainname and turns Mounts into bind and tmpfs mounts', () => {
    const s = build(
      { Domainname: 'example.test' },
      {
        Mounts: [
          { Type: 'bind', Source: '/srv', Target: '/data', ReadOnly: true, BindOptions: { Propagation: 'rslave' } },
          { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 4096, Mode: 0o700 } },
        ],
      },
    );
    expect(s.domainname).toBe('example.test');
    expect(s.mounts!.find((m) => m.destination === '/data')).toEqual({
      destination: '/data',
      type: 'bind',
      source: '/srv',
      options: ['rbind', 'rslave', 'ro'],
    });
    expect(s.mounts!.find((m) => m.destination === '/t')!.options).toEqual([
      'nosuid',
      'nodev',
      'noexec',
      'size=4096',
      'mode=700',
    ]);
  });

  it.each<[string, HostConfig, string, RegExp]>([
    ['unknown capability', { CapAdd: ['FLY'] }, 'INVALID_ARGUMENT', /CapAdd: unknown capability "FLY"/],
    [
      'capability outside the bounding set',
      { CapAdd: ['SYS_RESOURCE'] },
      'INVALID_ARGUMENT',
      /CAP_SYS_RESOURCE is not in this host's bounding set/,
    ],
    ['tiny memory limit', { Memory: 1024 }, 'INVALID_ARGUMENT', /minimum memory limit is 6 MiB/],
    ['swap below memory', { Memory: 64 << 20, MemorySwap: 1 << 20 }, 'INVALID_ARGUMENT', /MemorySwap/],
    ['NanoCpus with CpuQuota', { NanoCpus: 1e9, CpuQuota: 5000 }, 'INVALID_ARGUMENT', /conflicts with CpuQuota/],
    ['a named volume not resolved', { Binds: ['vol:/data'] }, 'INVALID_ARGUMENT', /volume "vol" was not resolved/],
    ['relative bind target', { Binds: ['/a:data'] }, 'INVALID_ARGUMENT', /must be absolute/],
    ['bad bind option', { Binds: ['/a:/b:fast'] }, 'INVALID_ARGUMENT', /unknown option "fast"/],
    ['bad tmpfs option', { Tmpfs: { '/t': 'huge' } }, 'INVALID_ARGUMENT', /tmpfs \/t: unknown option "huge"/],
    ['duplicate mount point', { Binds: ['/a:/x'], Tmpfs: { '/x': '' } }, 'INVALID_ARGUMENT', /mount \/x: duplicate/],
    ['custom seccomp profile', { SecurityOpt: ['seccomp=/p.json'] }, 'NOT_IMPLEMENTED', /seccomp=unconfined/],
    [
      'unknown security option',
      { SecurityOpt: ['fancy=1'] },
      'INVALID_ARGUMENT',
      /security-opt "fancy=1": unknown option/,
    ],
    ['container network of a stopped container', { NetworkMode: 'container:x' }, 'INVALID_ARGUMENT', /not running/],
    ['Init without an init binary', { Init: true }, 'INVALID_ARGUMENT', /HostConfig.Init: no init binary/],
    [
      'pid namespace of a stopped container',
      { PidMode: 'container:x' },
      'INVALID_ARGUMENT',
      /PidMode container:x: the other container is not running/,
    ],
    ['unknown IpcMode', { IpcMode: 'shared' }, 'INVALID_ARGUMENT', /IpcMode "shared"/],
    [
      'a volume mount not resolved',
      { Mounts: [{ Type: 'volume', Source: 'v', Target: '/v' }] },
      'INVALID_ARGUMENT',
      /mount "\/v": volume "v"/,
    ],
    ['a mount of unknown type', { Mounts: [{ Type: 'npipe', Target: '/v' }] }, 'INVALID_ARGUMENT', /Type "npipe"/],
  ])('fails for %s', (_name, hc, code, message) => {
    const f = failure(() => build({}, hc));
    expect(f.code).toBe(code);
    expect(f.message).toMatch(message);
  });
});

describe('helpers', () => {
  it('capabilitiesFor: CapAdd ALL minus CapDrop', () => {
    const caps = capabilitiesFor({ CapAdd: ['ALL'], CapDrop: ['NET_RAW'] }, host);
    expect(caps).toContain('CAP_SYS_ADMIN');
    expect(caps).not.toContain('CAP_NET_RAW');
    expect(caps).not.toContain('CAP_SYS_RESOURCE');
  });
  it('parseSecurityOpt accepts the colon form and no-new-privileges=false', () => {
    expect(parseSecurityOpt(['seccomp:unconfined', 'no-new-privileges=false'])).toEqual({
      seccomp: 'unconfined',
      noNewPrivileges: false,
    });
  });
  it('parseBind keeps propagation', () => {
    expect(parseBind('/a:/b:ro,rshared').options).toEqual(['rbind', 'rshared', 'ro']);
  });
  it('parseBind asks for an idmapped bind with the idmap option (recursive, as the bind)', () => {
    expect(parseBind('/a:/b:idmap,ro').options).toEqual(['rbind', 'rprivate', 'ro', 'ridmap']);
    expect(() => parseBind('/a:/b:idmapped')).toThrow(/unknown option "idmapped"/);
  });
  it('tmpfsMount lets exec override noexec', () => {
    expect(tmpfsMount('/t', 'exec').options).toEqual(['nosuid', 'nodev', 'exec']);
  });
  it('processEnv adds TERM only with a tty and keeps a given TERM', () => {
    expect(processEnv({ Tty: true, Env: ['TERM=vt100'] }, 'h', '/')).toEqual([
      expect.stringMatching(/^PATH=/),
      'HOSTNAME=h',
      'TERM=vt100',
      'HOME=/',
    ]);
  });
});
