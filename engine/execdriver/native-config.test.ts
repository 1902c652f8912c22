// nativeConfig: how a validated spec becomes the native core's spawn config, and
// what it refuses before any process exists. Pure apart from stat calls.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHierarchies } from './cgroups/detect.js';
import { cgroupHierarchies, MS, nativeConfig, nativeMount } from './native-config.js';
import { DEFAULT_CAPABILITIES, defaultSpec } from './spec/defaults.js';
import { capabilityMask } from './spec/capabilities.js';
import type { Spec } from './spec/types.js';

let dir: string;
const io = { stdio: [-1, 1, 2] as [number, number, number] };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), `berth-native-config-${process.pid}-`));
  mkdirSync(join(dir, 'rootfs'));
  mkdirSync(join(dir, 'vol'));
  writeFileSync(join(dir, 'file.conf'), 'x');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function spec(mutate: (s: Spec) => void = () => {}): Spec {
  const s = defaultSpec({ args: ['/bin/true'], rootfs: join(dir, 'rootfs') });
  mutate(s);
  return s;
}

describe('nativeConfig', () => {
  it('flattens the default spec', () => {
    const c = nativeConfig(spec(), dir, { ...io, execFifo: '/run/x/exec.fifo' });
    expect(c.rootfs).toBe(join(dir, 'rootfs'));
    expect(c.rootPropagation).toBe(MS.SLAVE | MS.REC);
    expect(c.readonlyRoot).toBe(true);
    expect(c.namespaces.map((n) => n.type)).toEqual(['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup']);
    const mask = capabilityMask(DEFAULT_CAPABILITIES);
    expect(c.capabilities).toEqual({ bounding: mask, effective: mask, permitted: mask, inheritable: 0n, ambient: 0n });
    expect(c.rlimits).toEqual([{ resource: 7, soft: 1024n, hard: 1024n }]);
    expect(c.noNewPrivileges).toBe(true);
    expect(c.hostname).toBe('berth');
    expect(c.stdio).toEqual([-1, 1, 2]);
    expect(c.execFifo).toBe('/run/x/exec.fifo');
    expect(c.mounts.find((m) => m.destination === '/dev')?.kind).toBe('dev');
    expect(c.mounts.find((m) => m.destination === '/sys')).toEqual({
      destination: '/sys',
      source: 'sysfs',
      type: 'sysfs',
      flags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY,
      propagation: [],
      kind: 'generic',
    });
  });

  it("takes a joined mount namespace, or none (the runtime's own)", () => {
    const joined = nativeConfig(
      spec((s) => {
        s.linux!.namespaces = s.linux!.namespaces!.map((n) =>
          n.type === 'mount' ? { type: 'mount', path: '/proc/1/ns/mnt' } : n,
        );
      }),
      dir,
      io,
    );
    expect(joined.namespaces).toContainEqual({ type: 'mount', path: '/proc/1/ns/mnt' });
    const none = nativeConfig(
      spec((s) => (s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount'))),
      dir,
      io,
    );
    expect(none.namespaces.map((n) => n.type)).not.toContain('mount');
  });

  it('passes a compiled seccomp filter (none without a profile)', () => {
    expect(nativeConfig(spec(), dir, io).seccomp).toBeUndefined();
    const c = nativeConfig(
      spec(
        (s) =>
          (s.linux!.seccomp = {
            defaultAction: 'SCMP_ACT_ALLOW',
            flags: ['SECCOMP_FILTER_FLAG_TSYNC'],
            syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }],
          }),
      ),
      dir,
      io,
    );
    expect(c.seccomp?.flags).toBe(1);
    expect(c.seccomp?.stage).toBe(1);
    expect(c.seccomp!.filter.length % 8).toBe(0);
    expect(c.seccomp!.filter.length).toBeGreaterThan(8 * 6);
  });

  it('maps unlimited rlimits, sysctl keys and propagation', () => {
    const c = nativeConfig(
      spec((s) => {
        s.process!.rlimits = [{ type: 'RLIMIT_CORE', soft: 2 ** 64 - 1, hard: -1 }];
        s.linux!.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel/msgmax': '8192' };
        s.linux!.rootfsPropagation = 'rprivate';
      }),
      dir,
      io,
    );
    expect(c.rlimits).toEqual([{ resource: 4, soft: 2n ** 64n - 1n, hard: 2n ** 64n - 1n }]);
    expect(c.sysctl).toEqual([
      { path: '/proc/sys/net/ipv4/ip_forward', value: '1' },
      { path: '/proc/sys/kernel/msgmax', value: '8192' },
    ]);
    expect(c.rootPropagation).toBe(MS.PRIVATE | MS.REC);
  });

  it('asks for a terminal with its consoleSize, and for the hooks stop only when told', () => {
    const plain = nativeConfig(spec(), dir, io);
    expect(plain.terminal).toBeUndefined();
    expect(plain.createContainerHooks).toBeUndefined();
    const c = nativeConfig(
      spec((s) => {
        s.process!.terminal = true;
        s.process!.consoleSize = { height: 40, width: 132 };
      }),
      dir,
      { ...io, createContainerHooks: true },
    );
    expect(c.terminal).toEqual({ rows: 40, cols: 132 });
    expect(c.createContainerHooks).toBe(true);
    expect(
      nativeConfig(
        spec((s) => (s.process!.terminal = true)),
        dir,
        io,
      ).terminal,
    ).toEqual({ rows: 0, cols: 0 });
  });

  const refused: { name: string; mutate: (s: Spec) => void; code: string; message: RegExp }[] = [
    {
      name: 'a missing rootfs',
      mutate: (s) => (s.root!.path = join(dir, 'nope')),
      code: 'NOT_FOUND',
      message: /^root\.path: rootfs .*nope/,
    },
    {
      name: 'a terminal without a devpts mount',
      mutate: (s) => {
        s.process!.terminal = true;
        s.mounts = s.mounts!.filter((m) => m.type !== 'devpts');
      },
      code: 'INVALID_ARGUMENT',
      message: /^process\.terminal: needs a devpts mount on \/dev\/pts/,
    },
    {
      name: 'a seccomp notify action',
      mutate: (s) => (s.linux!.seccomp = { defaultAction: 'SCMP_ACT_NOTIFY' }),
      code: 'NOT_IMPLEMENTED',
      message: /^linux\.seccomp\.defaultAction: SCMP_ACT_NOTIFY/,
    },
    {
      name: 'a seccomp profile denying execve',
      mutate: (s) => (s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ERRNO' }),
      code: 'INVALID_ARGUMENT',
      message: /^linux\.seccomp: the profile denies execve/,
    },
    {
      name: 'root propagation without a mount namespace',
      mutate: (s) => {
        s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount');
        s.linux!.rootfsPropagation = 'rslave';
      },
      code: 'INVALID_ARGUMENT',
      message: /^linux\.rootfsPropagation: needs a mount namespace/,
    },
    {
      name: 'a hostname without a UTS namespace',
      mutate: (s) => (s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts')),
      code: 'INVALID_ARGUMENT',
      message: /^hostname: .*UTS/,
    },
    {
      name: 'an unknown namespace type',
      mutate: (s) => (s.linux!.namespaces as { type: string }[]).push({ type: 'time' }),
      code: 'INVALID_ARGUMENT',
      message: /^linux\.namespaces\[6\]\.type: unknown namespace type "time"/,
    },
    {
      name: 'a joined user namespace with a new pid namespace',
      mutate: (s) => s.linux!.namespaces!.push({ type: 'user', path: '/proc/1/ns/user' }),
      code: 'NOT_IMPLEMENTED',
      message: /joined user namespace together with a new pid namespace/,
    },
    {
      name: 'a new user namespace with joined ones',
      mutate: (s) => {
        s.linux!.namespaces = s.linux!.namespaces!.map((n) =>
          n.type === 'network' ? { type: 'network', path: '/proc/1/ns/net' } : n,
        );
        s.linux!.namespaces.push({ type: 'user' });
      },
      code: 'NOT_IMPLEMENTED',
      message: /new user namespace together with joined namespaces/,
    },
    {
      name: 'a bad sysctl key',
      mutate: (s) => (s.linux!.sysctl = { '../../etc/passwd': 'x' }),
      code: 'INVALID_ARGUMENT',
      message: /sysctl: bad key/,
    },
    {
      name: 'a relative masked path',
      mutate: (s) => (s.linux!.maskedPaths = ['proc/kcore']),
      code: 'INVALID_ARGUMENT',
      message: /^linux\.maskedPaths\[0\]/,
    },
    { name: 'empty args', mutate: (s) => (s.process!.args = []), code: 'INVALID_ARGUMENT', message: /^process\.args/ },
  ];
  for (const c of refused) {
    it(`refuses ${c.name}`, () => {
      let error: unknown;
      try {
        nativeConfig(spec(c.mutate), dir, io);
      } catch (err) {
        error = err;
      }
      expect(error).toMatchObject({ code: c.code });
      expect((error as Error).message).toMatch(c.message);
    });
  }
});

describe('nativeMount', () => {
  it('turns options into flags, propagation and data', () => {
    expect(
      nativeMount(
        {
          destination: '/tmp',
          type: 'tmpfs',
          source: 'tmpfs',
          options: ['nosuid', 'nodev', 'mode=1777', 'size=1m', 'rprivate'],
        },
        0,
        dir,
      ),
    ).toEqual({
      destination: '/tmp',
      source: 'tmpfs',
      type: 'tmpfs',
      flags: MS.NOSUID | MS.NODEV,
      propagation: [MS.PRIVATE | MS.REC],
      data: 'mode=1777,size=1m',
      kind: 'generic',
    });
    expect(
      nativeMount({ destination: '/x', type: 'tmpfs', options: ['ro', 'rw', 'noexec', 'exec', 'defaults'] }, 0, dir)
        .flags,
    ).toBe(0);
  });

  it('resolves bind sources against the bundle and notes file targets', () => {
    const d = nativeMount({ destination: '/data', source: 'vol', options: ['rbind', 'ro'] }, 0, dir);
    expect(d).toMatchObject({
      kind: 'bind',
      source: join(dir, 'vol'),
      flags: MS.BIND | MS.REC | MS.RDONLY,
      targetIsFile: false,
    });
    expect(d.type).toBeUndefined();
    const f = nativeMount({ destination: '/etc/app.conf', type: 'bind', source: join(dir, 'file.conf') }, 1, dir);
    expect(f).toMatchObject({ kind: 'bind', flags: MS.BIND, targetIsFile: true });
  });

  it("turns a cgroup mount into the container's own cgroups, with its flags", () => {
    const m = nativeMount(
      {
        destination: '/sys/fs/cgroup',
        type: 'cgroup',
        source: 'cgroup',
        options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
      },
      4,
      dir,
    );
    expect(m).toEqual({
      kind: 'cgroup',
      destination: '/sys/fs/cgroup',
      source: 'cgroup',
      flags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RELATIME | MS.RDONLY,
      propagation: [],
    });
  });

  it("lays out the host's hierarchies as runc shows them: v2 alone on the destination, else by name with links", () => {
    expect(cgroupHierarchies([{ mountPoint: '/sys/fs/cgroup', key: '', v2: true }])).toEqual([
      { source: '/sys/fs/cgroup', name: '', key: '', v2: true, links: [] },
    ]);
    const hybrid = parseHierarchies(
      [
        '31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
        '39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
        '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
        '41 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
        '52 22 0:31 /berth /mnt/elsewhere rw,relatime - cgroup cgroup rw,memory',
      ].join('\n'),
    );
    expect(cgroupHierarchies(hybrid)).toEqual([
      {
        source: '/sys/fs/cgroup/cpu,cpuacct',
        name: 'cpu,cpuacct',
        key: 'cpu,cpuacct',
        data: 'cpu,cpuacct',
        v2: false,
        links: ['cpu', 'cpuacct'],
      },
      {
        source: '/sys/fs/cgroup/systemd',
        name: 'systemd',
        key: 'name=systemd',
        data: 'none,name=systemd',
        v2: false,
        links: [],
      },
      { source: '/sys/fs/cgroup/memory', name: 'memory', key: 'memory', data: 'memory', v2: false, links: [] },
      { source: '/sys/fs/cgroup/unified', name: 'unified', key: '', v2: true, links: [] },
    ]);
  });

  it('raises only ambient capabilities that are permitted and inheritable', () => {
    const s = spec();
    s.process!.capabilities = {
      bounding: ['CAP_KILL', 'CAP_CHOWN'],
      permitted: ['CAP_KILL', 'CAP_CHOWN'],
      effective: ['CAP_KILL'],
      inheritable: ['CAP_KILL'],
      ambient: ['CAP_KILL', 'CAP_CHOWN'],
    };
    expect(nativeConfig(s, dir, io).capabilities!.ambient).toBe(capabilityMask(['CAP_KILL']));
  });

  it('refuses a relative destination, a mount over / and a missing bind source', () => {
    expect(() => nativeMount({ destination: 'rel', type: 'tmpfs' }, 2, dir)).toThrow(/^mounts\[2\]\.destination/);
    expect(() => nativeMount({ destination: '/./', type: 'tmpfs' }, 0, dir)).toThrow(/cannot mount over \//);
    expect(() => nativeMount({ destination: '/v', type: 'bind', source: join(dir, 'gone') }, 3, dir)).toThrow(
      expect.objectContaining({ code: 'NOT_FOUND', message: expect.stringMatching(/^mounts\[3\]\.source: .*gone/) }),
    );
  });
});
