// Checks the host description: the mountinfo and cgroup parsers on sample texts, and
// a real collection on this machine (including a tmpfs mounted at a path with a space).
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import {
  collectHostInfo,
  cpuBusyWarning,
  detectCgroupLayout,
  hostCpuBusy,
  findMount,
  hostFingerprint,
  loadAverageWarning,
  parseMountInfo,
  parseOsRelease,
  parseProcStatCpu,
  parseVersion,
} from './host.js';
import { validateResult } from './results/validate.js';
import { exampleResult } from '../results/schema/example-result.js';
import { needs, root } from '../testkit/needs.js';

describe('parseMountInfo', () => {
  it.each([
    [
      '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard',
      {
        mountId: 27,
        parentId: 1,
        device: '254:0',
        root: '/',
        mountPoint: '/',
        options: 'rw,relatime',
        optional: [],
        fstype: 'ext4',
        source: '/dev/vda',
        superOptions: 'rw,discard',
      },
    ],
    [
      '36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue',
      {
        mountId: 36,
        root: '/mnt1',
        mountPoint: '/mnt2',
        optional: ['master:1', 'shared:7'],
        fstype: 'ext3',
        source: '/dev/root',
        superOptions: 'rw,errors=continue',
      },
    ],
    [
      '90 27 0:50 / /tmp/my\\040data\\011dir rw,relatime shared:40 - tmpfs my\\134src rw,size=1024k',
      { mountPoint: '/tmp/my data\tdir', source: 'my\\src', fstype: 'tmpfs', optional: ['shared:40'] },
    ],
    [
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
      { mountPoint: '/sys/fs/cgroup/unified', fstype: 'cgroup2', superOptions: 'rw' },
    ],
  ])('parses %s', (line, want) => {
    const [entry] = parseMountInfo(`${line}\n`);
    expect(entry).toMatchObject(want);
  });

  it('skips malformed lines', () => {
    expect(parseMountInfo('garbage\n\n1 2 3\nx y 0:1 / / rw - ext4 a b\n')).toEqual([]);
  });
});

describe('findMount', () => {
  const mounts = parseMountInfo(
    [
      '1 0 8:1 / / rw - ext4 /dev/sda1 rw',
      '2 1 0:10 / /var rw - xfs /dev/sdb1 rw',
      '3 2 0:11 / /var/lib rw - btrfs /dev/loop0 rw',
      '4 1 0:12 / /varnish rw - tmpfs tmpfs rw',
      '5 2 0:13 / /var/lib rw - overlay overlay rw',
      '6 1 0:14 / /data\\040set rw - tmpfs t2 rw',
    ].join('\n'),
  );
  it.each([
    ['/', 'ext4'],
    ['/home/user', 'ext4'],
    ['/var', 'xfs'],
    ['/var/cache', 'xfs'],
    ['/var/lib/berth', 'overlay'], // the later of two mounts on /var/lib is on top
    ['/varnish/x', 'tmpfs'],
    ['/variable', 'ext4'], // /var is not a prefix at a component boundary
    ['/data set/x', 'tmpfs'],
  ])('%s is on %s', (path, fstype) => {
    expect(findMount(mounts, path)?.fstype).toBe(fstype);
  });
  it('finds nothing without a root mount', () => {
    expect(findMount(parseMountInfo('2 1 0:10 / /var rw - xfs /dev/sdb1 rw'), '/etc')).toBeUndefined();
  });
});

describe('detectCgroupLayout', () => {
  const v1 = [
    '31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755',
    '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct',
    '35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
    '40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd',
  ];
  it.each([
    ['v1', v1, { version: 'v1', v2Path: null, v1Controllers: ['cpu', 'cpuacct', 'memory'] }],
    [
      'v2',
      ['30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot'],
      { version: 'v2', v2Path: '/sys/fs/cgroup', v1Controllers: [] },
    ],
    [
      'v2 with a named v1 hierarchy',
      [
        '30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw',
        '40 30 0:37 / /run/systemd/x rw - cgroup cgroup rw,name=systemd,none',
      ],
      { version: 'v2', v2Path: '/sys/fs/cgroup', v1Controllers: [] },
    ],
    [
      'hybrid',
      [...v1, '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw'],
      { version: 'hybrid', v2Path: '/sys/fs/cgroup/unified', v1Controllers: ['cpu', 'cpuacct', 'memory'] },
    ],
  ])('%s', (_, lines, want) => {
    expect(detectCgroupLayout(parseMountInfo(lines.join('\n')))).toEqual(want);
  });
});

describe('parseVersion', () => {
  it.each([
    ['Docker version 28.2.2, build e6534b4', '28.2.2'],
    ['Docker version 20.10.24+dfsg1, build 297e128', '20.10.24'],
    ['containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3', '1.6.20'],
    ['runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev', '1.1.5'],
    ['crun version 1.8.1\ncommit: f8a096be060b22ccd3d5f3ebe44108517fbf6c30', '1.8.1'],
    ['podman version 4.3.1', '4.3.1'],
    ['docker-registry github.com/docker/distribution 2.8.2+ds1', '2.8.2'],
    ['umoci version 0.4.7', '0.4.7'],
    ['iperf 3.12 (cJSON 1.7.15)\nLinux host 6.1.0 #1 SMP', '3.12'],
    ['hyperfine 1.15.0', '1.15.0'],
    ['skopeo version v1.13.0-rc.1 commit: 123abc', '1.13.0-rc.1'],
    ['usage: tool [options]', null],
  ])('%j → %s', (text, want) => {
    expect(parseVersion(text)).toBe(want);
  });
});

describe('parseOsRelease', () => {
  it.each([
    ['NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n', 'Debian GNU/Linux 12 (bookworm)'],
    ["PRETTY_NAME='Alpine Linux v3.19'", 'Alpine Linux v3.19'],
    ['PRETTY_NAME=Plain', 'Plain'],
    ['NAME=x', undefined],
  ])('%j → %s', (text, want) => {
    expect(parseOsRelease(text)).toBe(want);
  });
});

describe('loadAverageWarning', () => {
  it('warns above half a load per core and not below', () => {
    expect(loadAverageWarning(2, 1.5)).toBe(
      'host busy: 1-minute load average 1.50 exceeds 0.5 per core (2 cores); numbers may be noisy',
    );
    expect(loadAverageWarning(2, 0.9)).toBeUndefined();
    expect(loadAverageWarning(4, 1.9, 0.5)).toBeUndefined();
    expect(loadAverageWarning(4, 1.9, 0.25)).toContain('exceeds 0.25 per core');
  });
});

describe('hostFingerprint', () => {
  const host = exampleResult().host;
  it('is 16 hex digits, stable, and ignores the host name and load', () => {
    const fp = hostFingerprint(host);
    expect(fp).toMatch(/^[0-9a-f]{16}$/);
    expect(hostFingerprint({ ...host, hostname: 'other', loadAverage: [9, 9, 9] } as typeof host)).toBe(fp);
  });
  it('changes with the kernel, the CPU or the data root filesystem', () => {
    const fp = hostFingerprint(host);
    expect(hostFingerprint({ ...host, kernel: '6.2.0' })).not.toBe(fp);
    expect(hostFingerprint({ ...host, cpu: { ...host.cpu, cores: 4 } })).not.toBe(fp);
    expect(hostFingerprint({ ...host, dataRoot: { ...host.dataRoot, filesystem: 'tmpfs' } })).not.toBe(fp);
  });
});

describe('collectHostInfo on this machine', () => {
  const isRoot = process.getuid?.() === 0;
  let mounted: string | undefined;
  let tempDir: string | undefined;
  afterEach(async () => {
    if (mounted !== undefined) await execa('umount', [mounted], { reject: false });
    mounted = undefined;
    if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
    tempDir = undefined;
  });

  it('describes the host with plausible values that fit the schema', async () => {
    tempDir = await mkdtemp(join(tmpdir(), `berth-host-${process.pid}-`));
    const info = await collectHostInfo({ dataRoot: join(tempDir, 'not', 'yet') });
    expect(info.kernel).toBe(os.release());
    expect(info.arch).toBe(process.arch);
    expect(info.hostname).toBe(os.hostname());
    expect(info.node).toBe(process.version);
    expect(info.os.length).toBeGreaterThan(0);
    expect(info.cpu.cores).toBe(os.cpus().length);
    expect(info.cpu.model).not.toBe('');
    expect(info.memoryBytes).toBeGreaterThan(2 ** 28);
    expect(Math.abs(info.memoryBytes - os.totalmem())).toBeLessThan(2 ** 20);
    expect(info.loadAverage).toHaveLength(3);
    expect(info.fingerprint).toMatch(/^[0-9a-f]{16}$/);

    // A data root that does not exist yet is described through its nearest ancestor.
    expect(info.dataRoot.path.endsWith('/not/yet')).toBe(true);
    const expected = findMount(parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8')), info.dataRoot.path);
    expect(info.dataRoot.filesystem).toBe(expected?.fstype);
    expect(info.dataRoot.mountPoint).toBe(expected?.mountPoint);

    const cgroupMounts = (await readFile('/proc/self/mountinfo', 'utf8'))
      .split('\n')
      .filter((l) => / - cgroup2? /.test(l));
    if (cgroupMounts.length > 0) expect(info.cgroup.controllers.length).toBeGreaterThan(0);
    if (info.cgroup.version !== 'v1') expect(info.cgroup.v2Path).not.toBeNull();

    for (const name of ['docker', 'runc', 'crun', 'iperf3', 'hyperfine', 'docker-registry']) {
      const peer = info.peers[name];
      expect(peer).toBeDefined();
      if (peer.found) {
        expect(peer.path).toMatch(new RegExp(`/${name}$`));
      } else {
        expect(peer).toEqual({ found: false, version: null, path: null });
      }
    }
    const found = Object.values(info.peers).filter((p) => p.found);
    for (const p of found) if (p.version !== null) expect(p.version).toMatch(/^\d+\.\d+/);

    const doc = exampleResult();
    doc.host = info;
    expect(() => validateResult(doc)).not.toThrow();
  });

  it('records a missing peer without failing', async () => {
    const info = await collectHostInfo({ dataRoot: tmpdir(), peers: [`berth-no-such-tool-${process.pid}`] });
    expect(info.peers[`berth-no-such-tool-${process.pid}`]).toEqual({ found: false, version: null, path: null });
  });

  needs(root()).it('reads the filesystem of a tmpfs mounted at a path with a space', async () => {
    tempDir = await mkdtemp(join(tmpdir(), `berth-host-${process.pid}-`));
    const point = join(tempDir, 'data root');
    await mkdir(point);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m,noatime', `berth-test-${process.pid}`, point]);
    mounted = point;
    const info = await collectHostInfo({ dataRoot: join(point, 'sub'), peers: [] });
    expect(info.dataRoot).toMatchObject({
      filesystem: 'tmpfs',
      mountPoint: point,
      mountSource: `berth-test-${process.pid}`,
      path: join(point, 'sub'),
    });
    expect(info.dataRoot.mountOptions).toContain('noatime');
    expect(info.dataRoot.superOptions).toContain('size=1024k');
  });
});

describe('host CPU busy check', () => {
  it('parses the cpu line of /proc/stat (busy excludes idle and iowait)', () => {
    const text = 'cpu  100 5 50 1000 20 3 2 0 7 0\ncpu0 50 2 25 500 10 1 1 0 3 0\nintr 1 2 3\n';
    expect(parseProcStatCpu(text)).toEqual({ busy: 160, total: 1180 });
    expect(() => parseProcStatCpu('intr 1\n')).toThrow(/no "cpu" line/);
  });

  it('measures a share between 0 and 1, and sees a busy loop in another process', async () => {
    const idle = await hostCpuBusy(200);
    expect(idle).toBeGreaterThanOrEqual(0);
    expect(idle).toBeLessThanOrEqual(1);
    const spinner = spawn(process.execPath, ['-e', 'const end = Date.now() + 3000; while (Date.now() < end);']);
    try {
      await new Promise((r) => setTimeout(r, 100));
      // one of the cores spins: at least a third of all CPUs busy on a 2-core host (allowing for scheduling)
      expect(await hostCpuBusy(500)).toBeGreaterThan(0.9 / os.cpus().length / 2);
    } finally {
      spinner.kill('SIGKILL');
    }
  });

  it('warns only above the limit, naming the share and the window', () => {
    expect(cpuBusyWarning(0.1, 500)).toBeUndefined();
    expect(cpuBusyWarning(0.35, 500)).toBe(
      'host busy: other work kept 35 % of the CPUs busy in a 500 ms idle window before it (more than 20 %); numbers may be noisy',
    );
  });
});
