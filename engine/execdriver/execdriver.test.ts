// The execdriver on the real kernel (root): containers from a rootfs holding the
// static workloads, checked from the inside with `probe`, and the failures that must
// leave nothing behind (mounts, cgroups, processes, fds).
import { execFileSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { background, withSignal } from '../trace/context.js';
import { collect } from '../trace/collector.js';
import { createCgroupManager } from './cgroups/manager.js';
import type { CgroupManager } from './cgroups/types.js';
import { createExecDriver, execDriverBoundary, type CreateOptions, type ExecDriver } from './execdriver.js';
import { instrument } from '../trace/instrument.js';
import { releaseExecFifo } from './exec-fifo.js';
import { capabilityMask } from './spec/capabilities.js';
import { DEFAULT_CAPABILITIES, defaultSpec } from './spec/defaults.js';
import type { Spec } from './spec/types.js';
import { validateSpec } from './spec/validate.js';
import { makeWorkloadRootfs } from './workload-rootfs.js';
import { needs, root, tool } from '../../testkit/needs.js';
import { idmappedMounts } from '../../testkit/idmap.js';
import { ROOTFS_IDMAP_ANNOTATION } from './native-config.js';
import { childPids } from '../../testkit/processes.js';

const ctx = background();
const cgroupParent = `berth-test-${process.pid}`;

let base: string;
let rootfs: string;
let manager: CgroupManager;
let driver: ExecDriver;
const created: string[] = [];
let seq = 0;

interface Probe {
  hostname: string;
  pid: number;
  uid: number;
  gid: number;
  groups: number[];
  fds: number[];
  cwd: string;
  CapPrm: string;
  CapEff: string;
  CapBnd: string;
  CapAmb: string;
  CapInh: string;
  NoNewPrivs: string;
  Umask: string;
  nofile: [number, number];
  env: string[];
  ns: Record<string, string>;
  mountinfo: string;
  checks: {
    op: string;
    path?: string;
    ok: boolean;
    errno?: string | null;
    bytes?: number;
    text?: string;
    forked?: number;
  }[];
}

function bundle(mutate: (spec: Spec) => void = () => {}, args: string[] = ['/bin/probe']): { dir: string; spec: Spec } {
  const raw = defaultSpec({ args, rootfs });
  mutate(raw);
  return { dir: base, spec: validateSpec(raw, base) };
}

function nextId(): string {
  const id = `t${process.pid}-${++seq}`;
  created.push(id);
  return id;
}

async function readAll(stream: Readable | undefined): Promise<string> {
  if (stream === undefined) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Runs a container to its end; returns its exit status and stdout / stderr. */
async function run(b: { dir: string; spec: Spec }, options: CreateOptions = {}) {
  const id = nextId();
  const proc = await driver.create(ctx, id, b, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const out = readAll(proc.stdout);
  const err = readAll(proc.stderr);
  await driver.start(ctx, id);
  const status = await driver.wait(ctx, id);
  const result = { id, pid: proc.pid, status, stdout: await out, stderr: await err };
  await driver.delete(ctx, id);
  return result;
}

async function probe(b: { dir: string; spec: Spec }): Promise<Probe> {
  const r = await run(b);
  expect(r.stderr).toBe('');
  expect(r.status).toEqual({ exitCode: 0 });
  return JSON.parse(r.stdout) as Probe;
}

function hostMountsUnder(path: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(path));
}

function cgroupDirs(path: string): string[] {
  const dirs: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', h, path);
    if (existsSync(dir)) dirs.push(dir);
  }
  return dirs;
}

function capHex(names: readonly string[]): string {
  return capabilityMask(names).toString(16).padStart(16, '0');
}

/** Asserts a failed create/start left no process, mount, cgroup or fd behind. */
async function expectNothingLeft(id: string, fdsBefore: number): Promise<void> {
  await expect(driver.state(ctx, id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  expect(childPids()).toEqual([]);
  expect(hostMountsUnder(base)).toEqual([]);
  expect(cgroupDirs(`${cgroupParent}/${id}`)).toEqual([]);
  expect(readdirSync('/proc/self/fd').length).toBe(fdsBefore);
}

needs(root()).describe('execdriver (root, real kernel)', () => {
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), `berth-execdriver-${process.pid}-`));
    rootfs = makeWorkloadRootfs(join(base, 'rootfs'));
    execFileSync('chmod', ['0755', base]);
    manager = createCgroupManager();
    driver = instrument('execdriver', createExecDriver({ cgroups: manager, cgroupParent }), execDriverBoundary);
  });

  afterEach(async () => {
    for (const id of created.splice(0)) {
      await driver.delete(ctx, id).catch(() => undefined);
    }
  });

  afterAll(async () => {
    await manager?.cleanupStale(ctx, cgroupParent).catch(() => undefined);
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it.each([
    ['shared', /\sshared:\d+/],
    ['unbindable', /\sunbindable/],
  ] as const)('applies rootfsPropagation %s to the new root after pivot_root', async (propagation, expected) => {
    const p = await probe(bundle((s) => (s.linux!.rootfsPropagation = propagation)));
    const root = p.mountinfo
      .trim()
      .split('\n')
      .find((l) => l.split(' ')[4] === '/');
    expect(root?.split(' - ')[0]).toMatch(expected);
  });

  it('joins a cgroupsPath that exists already and removes it at delete once empty', async () => {
    const path = `${cgroupParent}/joined-${process.pid}`;
    const pre = await manager.create(ctx, path);
    const id = nextId();
    const proc = await driver.create(
      ctx,
      id,
      bundle((s) => (s.linux!.cgroupsPath = path)),
      { stdio: ['ignore', 'ignore', 'ignore'] },
    );
    expect(readFileSync(`/proc/${proc.pid}/cgroup`, 'utf8')).toContain(`:/${path}\n`);
    await driver.start(ctx, id);
    expect(await driver.wait(ctx, id)).toEqual({ exitCode: 0 });
    await driver.delete(ctx, id);
    for (const d of pre.dirs) expect(existsSync(d)).toBe(false);
  });

  it('has the created process in its cgroup in every hierarchy berth uses, before it runs', async () => {
    const id = nextId();
    const proc = await driver.create(ctx, id, bundle(), { stdio: ['ignore', 'ignore', 'ignore'] });
    // "N:controllers:/path" per hierarchy; named ones (name=systemd) are not berth's
    const lines = readFileSync(`/proc/${proc.pid}/cgroup`, 'utf8')
      .trim()
      .split('\n')
      .filter((l) => !l.split(':')[1]!.startsWith('name='));
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(new RegExp(`:/${cgroupParent}/${id}$`));
    await driver.start(ctx, id);
    expect(await driver.wait(ctx, id)).toEqual({ exitCode: 0 });
  });

  needs(tool('ip', 'iproute2'), tool('nsenter', 'util-linux')).it(
    'brings lo up in the network namespace its clone creates',
    async () => {
      const id = nextId();
      const proc = await driver.create(ctx, id, bundle(), { stdio: ['ignore', 'ignore', 'ignore'] });
      const lo = execFileSync('nsenter', ['-t', String(proc.pid), '-n', 'ip', '-o', 'link', 'show', 'lo'], {
        encoding: 'utf8',
      });
      expect(lo).toMatch(/<[^>]*\bUP\b[^>]*>/);
      await driver.start(ctx, id);
      expect(await driver.wait(ctx, id)).toEqual({ exitCode: 0 });
    },
  );

  it('runs the process as pid 1 with the spec hostname, a new root and only fds 0-2', async () => {
    const p = await probe(bundle((s) => (s.hostname = 'berth-probe')));
    expect(p.hostname).toBe('berth-probe');
    expect(p.pid).toBe(1);
    expect(p.fds).toEqual([0, 1, 2]);
    const lines = p.mountinfo.trim().split('\n');
    const root = lines.find((l) => l.split(' ')[4] === '/');
    expect(root).toBeDefined();
    expect(root!.split(' ')[3]).toBe(rootfs);
    expect(lines.some((l) => / \/proc rw/.test(l))).toBe(true);
    // None of the host's own mount points is visible.
    expect(lines.some((l) => l.split(' ')[4] === '/work' || l.split(' ')[4] === '/sys/fs/cgroup')).toBe(false);
    const hostNet = readlinkSync('/proc/self/ns/net');
    expect(p.ns.net).not.toBe(hostNet);
    expect(p.ns.mnt).not.toBe(readlinkSync('/proc/self/ns/mnt'));
    expect(p.ns.cgroup).not.toBe(readlinkSync('/proc/self/ns/cgroup'));
  });

  it('gives the process exactly the capability sets of the spec', async () => {
    const p = await probe(bundle());
    const mask = capHex(DEFAULT_CAPABILITIES);
    expect(p.CapBnd).toBe(mask);
    expect(p.CapPrm).toBe(mask);
    expect(p.CapEff).toBe(mask);
    expect(p.CapInh).toBe('0000000000000000');
    expect(p.CapAmb).toBe('0000000000000000');
    expect(p.NoNewPrivs).toBe('1');
    expect(p.nofile).toEqual([1024, 1024]);
  });

  it('sets user, groups, ambient capabilities, umask, cwd and env from the spec', async () => {
    mkdirSync(join(rootfs, 'work'), { recursive: true });
    const p = await probe(
      bundle(
        (s) => {
          s.process!.user = { uid: 1000, gid: 1001, additionalGids: [10, 20], umask: 0o027 };
          s.process!.cwd = '/work';
          s.process!.env = ['PATH=/bin', 'GREETING=hello world'];
          s.process!.capabilities = {
            bounding: ['CAP_NET_BIND_SERVICE', 'CAP_KILL'],
            permitted: ['CAP_NET_BIND_SERVICE'],
            effective: ['CAP_NET_BIND_SERVICE'],
            inheritable: ['CAP_NET_BIND_SERVICE'],
            ambient: ['CAP_NET_BIND_SERVICE'],
          };
        },
        ['probe'],
      ),
    );
    expect([p.uid, p.gid]).toEqual([1000, 1001]);
    expect(p.groups).toEqual([10, 20]);
    expect(p.cwd).toBe('/work');
    expect(p.env).toEqual(['PATH=/bin', 'GREETING=hello world']);
    expect(p.Umask).toBe('0027');
    const one = capHex(['CAP_NET_BIND_SERVICE']);
    expect(p.CapAmb).toBe(one);
    expect(p.CapPrm).toBe(one);
    expect(p.CapEff).toBe(one);
    expect(p.CapBnd).toBe(capHex(['CAP_NET_BIND_SERVICE', 'CAP_KILL']));
  });

  it('masks paths (files read empty, directories hide their content) and makes paths read-only', async () => {
    writeFileSync(join(rootfs, 'secret'), 'top secret');
    mkdirSync(join(rootfs, 'secretdir'), { recursive: true });
    writeFileSync(join(rootfs, 'secretdir', 'file'), 'hidden');
    mkdirSync(join(rootfs, 'data'), { recursive: true });
    const b = bundle((s) => {
      s.root!.readonly = false;
      s.linux!.maskedPaths = [...(s.linux!.maskedPaths ?? []), '/secret', '/secretdir'];
      s.linux!.readonlyPaths = [...(s.linux!.readonlyPaths ?? []), '/data'];
    });
    b.spec.process!.args = [
      '/bin/probe',
      'read:/secret',
      'read:/secretdir/file',
      'write:/data/x',
      'write:/proc/sys/kernel/hostname',
      'write:/tmp/ok',
      'read:/proc/timer_list',
    ];
    const p = await probe(b);
    const [secret, inDir, data, sysctl, tmp, timerList] = p.checks;
    expect(secret).toMatchObject({ ok: true, bytes: 0 });
    expect(inDir).toMatchObject({ ok: false, errno: 'ENOENT' });
    expect(data).toMatchObject({ ok: false, errno: 'EROFS' });
    expect(sysctl).toMatchObject({ ok: false, errno: 'EROFS' });
    expect(tmp).toMatchObject({ ok: true });
    if (existsSync('/proc/timer_list')) expect(timerList).toMatchObject({ ok: true, bytes: 0 });
    expect(readFileSync(join(rootfs, 'secret'), 'utf8')).toBe('top secret');
  });

  it('keeps the root read-only when the spec says so', async () => {
    const b = bundle();
    b.spec.process!.args = ['/bin/probe', 'write:/newfile', 'write:/dev/shm/x'];
    const p = await probe(b);
    expect(p.checks[0]).toMatchObject({ ok: false, errno: 'EROFS' });
    expect(p.checks[1]).toMatchObject({ ok: true });
    expect(existsSync(join(rootfs, 'newfile'))).toBe(false);
  });

  it('populates /dev with device nodes and links, and bind-mounts spec volumes', async () => {
    const vol = join(base, 'volume');
    mkdirSync(vol, { recursive: true });
    writeFileSync(join(vol, 'greeting'), 'hi');
    rmSync(join(rootfs, 'abs'), { force: true });
    symlinkSync('/data2', join(rootfs, 'abs'));
    const b = bundle((s) => {
      s.mounts!.push({ destination: '/mnt/vol', type: 'bind', source: vol, options: ['rbind', 'ro'] });
      // An absolute symlink resolves inside the rootfs, as it would in the container.
      s.mounts!.push({ destination: '/abs/sub', type: 'tmpfs', source: 'tmpfs' });
    });
    b.spec.process!.args = [
      '/bin/probe',
      'write:/dev/null',
      'read:/dev/zero.missing',
      'read:/dev/fd/0',
      'read:/mnt/vol/greeting',
      'write:/mnt/vol/new',
    ];
    const p = await probe(b);
    expect(p.checks[0]).toMatchObject({ ok: true });
    expect(p.checks[1]).toMatchObject({ ok: false, errno: 'ENOENT' });
    expect(p.checks[2]).toMatchObject({ ok: true, bytes: 0 });
    expect(p.checks[3]).toMatchObject({ ok: true, bytes: 2 });
    expect(p.checks[4]).toMatchObject({ ok: false, errno: 'EROFS' });
    expect(p.mountinfo).toMatch(/ \/data2\/sub rw.* - tmpfs /);
    expect(existsSync('/data2')).toBe(false);
    expect(p.mountinfo).toMatch(/ \/dev\/pts /);
    expect(p.mountinfo).toMatch(/ \/dev\/mqueue /);
  });

  it('creates linux.devices nodes with their mode and owner, and allows them in the device cgroup', async () => {
    const b = bundle((s) => {
      s.process!.user = { uid: 1000, gid: 1000 };
      s.linux!.devices = [
        { path: '/dev/berth/mine', type: 'c', major: 1, minor: 3, fileMode: 0o600, uid: 1000, gid: 1000 },
        { path: '/dev/berth/roots', type: 'c', major: 1, minor: 3, fileMode: 0o600, uid: 0, gid: 0 },
        { path: '/dev/fuse', type: 'c', major: 10, minor: 229 },
      ];
    });
    b.spec.process!.args = [
      '/bin/probe',
      'read:/dev/berth/mine',
      'write:/dev/berth/mine',
      'read:/dev/berth/roots',
      'write:/dev/berth/missing/x',
    ];
    const id = nextId();
    const proc = await driver.create(ctx, id, b, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = readAll(proc.stdout);
    const devicesList = cgroupDirs(`${cgroupParent}/${id}`)
      .map((d) => join(d, 'devices.list'))
      .find((f) => existsSync(f));
    // The device cgroup (v1) allows the new node after the spec's deny-all rule.
    if (existsSync('/sys/fs/cgroup/devices/devices.list')) expect(devicesList).toBeDefined();
    if (devicesList !== undefined) expect(readFileSync(devicesList, 'utf8')).toMatch(/^c 10:229 rwm$/m);
    await driver.start(ctx, id);
    expect(await driver.wait(ctx, id)).toEqual({ exitCode: 0 });
    const p = JSON.parse(await out) as Probe;
    expect(p.checks[0]).toMatchObject({ ok: true, bytes: 0 });
    expect(p.checks[1]).toMatchObject({ ok: true });
    expect(p.checks[2]).toMatchObject({ ok: false, errno: 'EACCES' });
    expect(p.checks[3]).toMatchObject({ ok: false, errno: 'ENOENT' });
  });

  it('reports the exit code and a killing signal', async () => {
    const b = bundle();
    b.spec.process!.args = ['/bin/probe', 'exit:7'];
    expect((await run(b)).status).toEqual({ exitCode: 7 });

    const id = nextId();
    await driver.create(
      ctx,
      id,
      bundle(() => {}, ['/bin/sleep', '60']),
    );
    expect((await driver.state(ctx, id)).status).toBe('created');
    await driver.start(ctx, id);
    const st = await driver.state(ctx, id);
    expect(st.status).toBe('running');
    expect(st.pid).toBeGreaterThan(0);
    await driver.kill(ctx, id, 'SIGKILL');
    expect(await driver.wait(ctx, id)).toEqual({ signal: 'SIGKILL' });
    const stopped = await driver.state(ctx, id);
    expect(stopped.status).toBe('stopped');
    // its cgroup stays readable until the delete (the engine reads the OOM counter at the exit through this handle)
    expect(stopped.cgroupHandle?.path).toBe(stopped.cgroup);
    expect(await stopped.cgroupHandle!.oomKills(ctx)).toBe(0);
    await expect(driver.kill(ctx, id, 'SIGTERM')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });

  it('delete kills a created or a running container and leaves nothing behind', async () => {
    const fds = readdirSync('/proc/self/fd').length;
    const createdOnly = nextId();
    const running = nextId();
    await driver.create(
      ctx,
      createdOnly,
      bundle(() => {}, ['/bin/sleep', '60']),
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const proc = await driver.create(
      ctx,
      running,
      bundle(() => {}, ['/bin/sleep', '60']),
    );
    await driver.start(ctx, running);
    expect(childPids().sort()).toContain(proc.pid);
    await driver.delete(ctx, createdOnly);
    await driver.delete(ctx, running);
    await expect(driver.delete(ctx, running)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expectNothingLeft(createdOnly, fds);
    await expectNothingLeft(running, fds);
  });

  it('keeps the output of a process that exits at once, to pipes and to files', async () => {
    const r = await run(bundle(() => {}, ['/bin/probe', 'exit:3']));
    expect(r.status).toEqual({ exitCode: 3 });
    expect(JSON.parse(r.stdout).pid).toBe(1);

    const file = join(base, `out-${seq}.json`);
    const id = nextId();
    await driver.create(ctx, id, bundle(), { stdio: ['ignore', { file }, 'ignore'] });
    await driver.start(ctx, id);
    expect(await driver.wait(ctx, id)).toEqual({ exitCode: 0 });
    expect(JSON.parse(readFileSync(file, 'utf8')).pid).toBe(1);
  });

  it('runs several containers at once, each with its own output and status', async () => {
    const results = await Promise.all(
      [0, 1, 2, 3].map((i) => run(bundle((s) => (s.hostname = `c${i}`), ['/bin/probe', `exit:${i}`]))),
    );
    results.forEach((r, i) => {
      expect(r.status).toEqual({ exitCode: i });
      expect((JSON.parse(r.stdout) as Probe).hostname).toBe(`c${i}`);
    });
  });

  it('turns the timed steps it returns into libcontainer and execdriver spans under the create and start spans', async () => {
    const id = nextId();
    const { spans } = await collect(async () => {
      await driver.create(
        ctx,
        id,
        bundle(() => {}, ['/bin/true']),
      );
      await driver.start(ctx, id);
      await driver.wait(ctx, id);
    });
    const create = spans.find((s) => s.name === 'execdriver.create');
    expect(create).toBeDefined();
    const under = spans.filter((s) => s.parentId === create!.id).map((s) => s.name);
    for (const name of [
      'libcontainer.clone',
      'execdriver.cgroup',
      'libcontainer.pivot-root',
      'libcontainer.capabilities',
      'execdriver.setup',
    ]) {
      expect(under).toContain(name);
    }
    const proc = spans.find((s) => s.name === 'libcontainer.mount' && s.attributes.destination === '/proc');
    expect(proc?.origin).toBe('native');
    expect(proc!.endNs).toBeGreaterThanOrEqual(proc!.startNs);
    expect(proc!.startNs).toBeGreaterThanOrEqual(create!.startNs);
    const start = spans.find((s) => s.name === 'execdriver.start');
    expect(spans.filter((s) => s.parentId === start!.id).map((s) => s.name)).toEqual(['libcontainer.execve']);
  });

  it('runs in a user namespace with id mappings', async () => {
    const b = bundle((s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      s.process!.args = ['/bin/probe', 'write:/dev/null'];
    });
    const p = await probe(b);
    expect([p.uid, p.gid, p.pid]).toEqual([0, 0, 1]);
    expect(p.ns.user).not.toBe(readlinkSync('/proc/self/ns/user'));
    expect(p.checks[0]).toMatchObject({ ok: true });
  });

  // An idmapped bind: its target is made in the rootfs (here through an idmapped rootfs, the only way a container
  // root can write there), the host root's files are the container root's, what it writes is the host root's.
  needs(idmappedMounts()).it(
    "an idmapped bind (mounts[].idmap) shows the host root's files as the container root's; its target is made",
    async () => {
      const src = join(base, `idmap-src-${++seq}`);
      mkdirSync(src, { mode: 0o755 });
      writeFileSync(join(src, 'owned'), 'host root only\n', { mode: 0o600 });
      const dest = `/idmapped-${seq}`;
      const b = (options: string[]) =>
        bundle((s) => {
          s.annotations = { [ROOTFS_IDMAP_ANNOTATION]: 'true' };
          s.linux!.namespaces!.push({ type: 'user' });
          s.linux!.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
          s.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
          s.mounts!.push({ destination: `${dest}/sub`, type: 'bind', source: src, options });
          s.process!.args = ['/bin/probe', `read:${dest}/sub/owned`, `write:${dest}/sub/made`];
        });
      try {
        const p = await probe(b(['rbind', 'idmap']));
        expect(p.checks[0]).toMatchObject({ ok: true, text: 'host root only\n' });
        expect(p.checks[1]).toMatchObject({ ok: true });
        expect([statSync(join(src, 'made')).uid, statSync(join(src, 'made')).gid]).toEqual([0, 0]);
        expect(statSync(join(rootfs, dest, 'sub')).isDirectory()).toBe(true);
        // Without the idmap the same bind shows the host root's files as nobody's: closed to the container root.
        rmSync(join(src, 'made'));
        const plain = await probe(b(['rbind']));
        expect(plain.checks.map((c) => [c.ok, c.errno])).toEqual([
          [false, 'EACCES'],
          [false, 'EACCES'],
        ]);
      } finally {
        rmSync(join(rootfs, dest), { recursive: true, force: true });
      }
    },
  );

  needs(idmappedMounts()).it(
    "an idmapped bind with mappings of its own goes through a user namespace of those, not the container's",
    async () => {
      const src = join(base, `idmap-own-${++seq}`);
      mkdirSync(src, { mode: 0o755 });
      chownSync(src, 1000, 1000);
      writeFileSync(join(src, 'mine'), 'uid 1000 only\n', { mode: 0o600 });
      chownSync(join(src, 'mine'), 1000, 1000);
      const dest = `/idmapped-${seq}`;
      try {
        const p = await probe(
          bundle((s) => {
            s.annotations = { [ROOTFS_IDMAP_ANNOTATION]: 'true' };
            s.linux!.namespaces!.push({ type: 'user' });
            s.linux!.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
            s.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
            // on-disk 1000 is the container's root (host 200000), on-disk 0 its uid 1000
            const maps = [
              { containerID: 1000, hostID: 200000, size: 1 },
              { containerID: 0, hostID: 201000, size: 1 },
            ];
            s.mounts!.push({ destination: dest, type: 'bind', source: src, uidMappings: maps, gidMappings: maps });
            s.process!.args = ['/bin/probe', `read:${dest}/mine`, `write:${dest}/made`];
          }),
        );
        expect(p.checks[0], JSON.stringify(p.checks)).toMatchObject({ ok: true, text: 'uid 1000 only\n' });
        expect(p.checks[1]).toMatchObject({ ok: true });
        expect([statSync(join(src, 'made')).uid, statSync(join(src, 'made')).gid]).toEqual([1000, 1000]);
      } finally {
        rmSync(join(rootfs, dest), { recursive: true, force: true });
      }
    },
  );

  it('refuses an idmapped bind of a filesystem that cannot be idmapped (sysfs), naming the mount; nothing is left', async () => {
    const fds = readdirSync('/proc/self/fd').length;
    const id = nextId();
    const b = bundle((s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      s.mounts!.push({ destination: '/mnt', type: 'bind', source: '/sys/kernel', options: ['bind', 'idmap'] });
    });
    const i = b.spec.mounts!.length - 1;
    const err = await driver.create(ctx, id, b).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toContain(
      `mounts[${i}]: idmapped mount of /sys/kernel on /mnt (its filesystem cannot be idmapped): EINVAL`,
    );
    await expectNothingLeft(id, fds);
  });

  it('refuses an idmapped bind that takes the container mappings when there is no user namespace', async () => {
    const b = bundle((s) => s.mounts!.push({ destination: '/mnt', type: 'bind', source: base, options: ['idmap'] }));
    const i = b.spec.mounts!.length - 1;
    await expect(driver.create(ctx, nextId(), b)).rejects.toThrow(
      `mounts[${i}]: an idmapped mount of ${base} without uidMappings and gidMappings takes the container's`,
    );
    const tmpfs = bundle((s) =>
      s.mounts!.push({ destination: '/mnt', type: 'tmpfs', source: 'tmpfs', options: ['idmap'] }),
    );
    await expect(driver.create(ctx, nextId(), tmpfs)).rejects.toThrow(
      `mounts[${i}]: only a bind mount can be idmapped (type "tmpfs")`,
    );
  });

  it('joins an existing namespace by path', async () => {
    const a = nextId();
    const first = await driver.create(
      ctx,
      a,
      bundle(() => {}, ['/bin/sleep', '60']),
    );
    await driver.start(ctx, a);
    const p = await probe(
      bundle((s) => {
        s.linux!.namespaces = s.linux!.namespaces!.map((ns) =>
          ns.type === 'network' ? { type: 'network', path: `/proc/${first.pid}/ns/net` } : ns,
        );
      }),
    );
    expect(p.ns.net).toBe(readlinkSync(`/proc/${first.pid}/ns/net`));
    expect(p.ns.uts).not.toBe(readlinkSync(`/proc/${first.pid}/ns/uts`));
  });

  it('joins an existing pid namespace by path (the process is then not pid 1)', async () => {
    const a = nextId();
    const first = await driver.create(
      ctx,
      a,
      bundle(() => {}, ['/bin/sleep', '60']),
    );
    await driver.start(ctx, a);
    const p = await probe(
      bundle((s) => {
        s.linux!.namespaces = s.linux!.namespaces!.map((ns) =>
          ns.type === 'pid' ? { type: 'pid', path: `/proc/${first.pid}/ns/pid` } : ns,
        );
      }),
    );
    expect(p.ns.pid).toBe(readlinkSync(`/proc/${first.pid}/ns/pid`));
    expect(p.pid).toBeGreaterThan(1);
    // Node's own pid namespace for children is restored afterwards.
    expect(readlinkSync('/proc/thread-self/ns/pid_for_children')).toBe(readlinkSync('/proc/self/ns/pid'));
  });

  it('applies sysctls, the OOM score, the domain name and rlimits', async () => {
    const b = bundle((s) => {
      s.domainname = 'example.test';
      s.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
      s.process!.oomScoreAdj = 123;
      s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 256, hard: 512 }];
    });
    b.spec.process!.args = ['/bin/probe', 'read:/proc/sys/net/ipv4/ip_forward', 'read:/proc/self/oom_score_adj'];
    const p = (await probe(b)) as Probe & { domainname: string };
    expect(p.domainname).toBe('example.test');
    expect(p.checks[0]).toMatchObject({ ok: true, text: '1\n' });
    expect(p.checks[1]).toMatchObject({ ok: true, text: '123\n' });
    expect(p.nofile).toEqual([256, 512]);
    expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).not.toBe(undefined);
  });

  it('kills the child and cleans up when ctx is cancelled during create', async () => {
    const fds = readdirSync('/proc/self/fd').length;
    const id = nextId();
    const ac = new AbortController();
    const err = await driver
      .create(withSignal(ctx, ac.signal), id, bundle(), {
        beforeSetup: async () => {
          ac.abort(new Error('test abort'));
        },
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CANCELLED' });
    await expectNothingLeft(id, fds);
  });

  it('lets a detached container outlive the process that created it', async () => {
    const fifo = join(base, `exec-outlive-${seq}.fifo`);
    execFileSync('mkfifo', ['-m', '0622', fifo]);
    const out = join(base, `outlive-${seq}.json`);
    const script = join(base, `create-detached-${seq}.mts`);
    const here = new URL('.', import.meta.url).pathname;
    writeFileSync(
      script,
      [
        `import { createExecDriver } from '${here}execdriver.js';`,
        `import { background } from '${here}../trace/context.js';`,
        `const spec = JSON.parse(process.argv[2]);`,
        `const d = createExecDriver({ cgroups: null });`,
        `const p = await d.create(background(), 'outlive', { dir: '${base}', spec }, { stdio: ['ignore', { file: '${out}' }, 'ignore'], execFifo: '${fifo}' });`,
        `console.log(p.pid);`,
      ].join('\n'),
    );
    const spec = bundle().spec;
    // The creating process exits by itself once the child waits on the FIFO.
    const pid = Number(
      execFileSync('npx', ['tsx', script, JSON.stringify(spec)], {
        cwd: here,
        encoding: 'utf8',
        timeout: 30_000,
      }).trim(),
    );
    expect(pid).toBeGreaterThan(0);
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    await releaseExecFifo(ctx, fifo);
    for (let i = 0; i < 500 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 10));
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(JSON.parse(readFileSync(out, 'utf8')).pid).toBe(1);
  });

  it('creates detached and starts through the exec FIFO', async () => {
    const fifo = join(base, `exec-${seq}.fifo`);
    execFileSync('mkfifo', ['-m', '0622', fifo]);
    const out = join(base, `detached-${seq}.json`);
    const id = nextId();
    await driver.create(ctx, id, bundle(), {
      stdio: ['ignore', { file: out }, { file: out, append: true }],
      execFifo: fifo,
    });
    expect((await driver.state(ctx, id)).status).toBe('created');
    await releaseExecFifo(ctx, fifo);
    expect(await driver.wait(ctx, id)).toEqual({ exitCode: 0 });
    expect(JSON.parse(readFileSync(out, 'utf8')).pid).toBe(1);
    await expect(driver.start(ctx, id)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });

  it('kills a process over its memory limit (OOM)', async () => {
    const b = bundle(
      (s) => {
        s.linux!.resources = { ...s.linux!.resources, memory: { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 } };
      },
      ['/bin/probe', 'alloc:256'],
    );
    const r = await run(b);
    expect(r.status).toEqual({ signal: 'SIGKILL' });
  });

  it('stops forks at the pids limit', async () => {
    const b = bundle(
      (s) => {
        s.linux!.resources = { ...s.linux!.resources, pids: { limit: 8 } };
      },
      ['/bin/probe', 'fork:40'],
    );
    const r = await run(b);
    const fork = (JSON.parse(r.stdout) as Probe).checks[0]!;
    expect(fork.forked).toBeLessThan(8);
    expect(fork.errno).toBe('EAGAIN');
  });

  describe('bad input: a clear error and nothing left behind', () => {
    const cases: {
      name: string;
      make: () => { dir: string; spec: Spec };
      code: string;
      message: RegExp;
      at: 'create' | 'start';
    }[] = [
      {
        name: 'a missing rootfs',
        make: () => {
          const b = bundle();
          b.spec.root!.path = join(base, 'no-such-rootfs');
          return b;
        },
        code: 'NOT_FOUND',
        message: /rootfs .*no-such-rootfs/,
        at: 'create',
      },
      {
        name: 'a mount target escaping through a symlink',
        make: () => {
          const outside = join(base, 'outside');
          mkdirSync(outside, { recursive: true });
          rmSync(join(rootfs, 'escape'), { force: true });
          symlinkSync('../../../../../../../..' + outside, join(rootfs, 'escape'));
          return bundle((s) => s.mounts!.push({ destination: '/escape/sub', type: 'tmpfs', source: 'tmpfs' }));
        },
        code: 'INVALID_ARGUMENT',
        message: /mount tmpfs on \/escape\/sub: EXDEV \(the target resolves outside the rootfs\)/,
        at: 'create',
      },
      {
        name: 'a binary that does not exist',
        make: () => bundle(() => {}, ['/nope']),
        code: 'NOT_FOUND',
        message: /execve \/nope: ENOENT/,
        at: 'start',
      },
      {
        name: 'a command not found in PATH',
        make: () => bundle(() => {}, ['nope']),
        code: 'NOT_FOUND',
        message: /execve nope: ENOENT/,
        at: 'start',
      },
      {
        name: 'an unknown namespace type',
        make: () => {
          const b = bundle();
          (b.spec.linux!.namespaces as { type: string }[]).push({ type: 'time-travel' });
          return b;
        },
        code: 'INVALID_ARGUMENT',
        message: /linux\.namespaces\[\d\]\.type: unknown namespace type "time-travel"/,
        at: 'create',
      },
      {
        name: 'a filesystem type the kernel does not know',
        make: () => bundle((s) => s.mounts!.push({ destination: '/x', type: 'nosuchfs', source: 'none' })),
        code: 'INVALID_ARGUMENT',
        message: /mount nosuchfs on \/x: ENODEV/,
        at: 'create',
      },
    ];

    for (const c of cases) {
      it(`refuses ${c.name}`, async () => {
        const b = c.make();
        const fds = readdirSync('/proc/self/fd').length;
        const id = nextId();
        let error: unknown;
        try {
          await driver.create(ctx, id, b);
          expect(c.at).toBe('start');
          try {
            await driver.start(ctx, id);
          } catch (err) {
            error = err;
          }
          expect(await driver.wait(ctx, id)).toEqual({ exitCode: 127 });
          await driver.delete(ctx, id);
        } catch (err) {
          error = err;
        }
        expect(isBerthError(error)).toBe(true);
        expect((error as Error).message).toMatch(new RegExp(`^container ${id}: `));
        expect((error as Error).message).toMatch(c.message);
        expect(error).toMatchObject({ code: c.code });
        await expectNothingLeft(id, fds);
        expect(existsSync(join(base, 'outside', 'sub'))).toBe(false);
      });
    }
  });

  describe('hostile rootfs: /proc, /sys, /dev, masked and read-only paths never follow a planted symlink', () => {
    /** A rootfs of its own (the shared one stays clean), with `plant` applied. */
    function hostileBundle(
      name: string,
      plant: (dir: string) => void,
      mutate: (spec: Spec) => void = () => {},
    ): { dir: string; spec: Spec; rootfs: string } {
      const dir = makeWorkloadRootfs(join(base, `hostile-${name}-${++seq}`));
      writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0::/:/bin/true\n');
      plant(dir);
      const raw = defaultSpec({ args: ['/bin/probe'], rootfs: dir });
      mutate(raw);
      return { dir: base, spec: validateSpec(raw, base), rootfs: dir };
    }
    const relink = (dir: string, path: string, target: string) => {
      rmSync(join(dir, path), { recursive: true, force: true });
      symlinkSync(target, join(dir, path));
    };

    const cases: { name: string; make: () => ReturnType<typeof hostileBundle>; message: RegExp }[] = [
      {
        name: '/proc a symlink to /etc',
        make: () => hostileBundle('proc', (d) => relink(d, 'proc', '/etc')),
        message: /mount proc on \/proc: ELOOP \(a symlink on the way/,
      },
      {
        name: '/dev a symlink to /',
        make: () => hostileBundle('dev', (d) => relink(d, 'dev', '/')),
        message: /mount tmpfs on \/dev: ELOOP/,
      },
      {
        name: '/sys a relative symlink to etc',
        make: () => hostileBundle('sys', (d) => relink(d, 'sys', 'etc')),
        message: /mount sysfs on \/sys: ELOOP/,
      },
      {
        name: 'a /dev submount through a symlink when /dev is the image’s own',
        make: () =>
          hostileBundle(
            'devsub',
            (d) => relink(d, 'dev/mqueue', '/etc'),
            (s) => (s.mounts = s.mounts!.filter((m) => m.destination !== '/dev')),
          ),
        message: /mount mqueue on \/dev\/mqueue: ELOOP/,
      },
      {
        name: 'procfs mounted elsewhere on a symlink',
        make: () =>
          hostileBundle(
            'proc2',
            (d) => relink(d, 'proc2', '/etc'),
            (s) => s.mounts!.push({ destination: '/proc2', type: 'proc', source: 'proc' }),
          ),
        message: /mount proc on \/proc2: ELOOP/,
      },
      {
        name: 'a masked path that is a symlink to a file of the image',
        make: () =>
          hostileBundle(
            'mask',
            (d) => symlinkSync('/etc/passwd', join(d, 'etc', 'masked')),
            (s) => s.linux!.maskedPaths!.push('/etc/masked'),
          ),
        message: /masked-paths \/etc\/masked: ELOOP/,
      },
      {
        name: 'a read-only path that is a symlink to a directory of the image',
        make: () =>
          hostileBundle(
            'ro',
            (d) => symlinkSync('/tmp', join(d, 'etc', 'ro')),
            (s) => s.linux!.readonlyPaths!.push('/etc/ro'),
          ),
        message: /readonly-paths \/etc\/ro: ELOOP/,
      },
    ];

    for (const c of cases) {
      it(`refuses ${c.name}, naming the path`, async () => {
        const b = c.make();
        const fds = readdirSync('/proc/self/fd').length;
        const id = nextId();
        let error: unknown;
        try {
          await driver.create(ctx, id, b);
        } catch (err) {
          error = err;
        }
        expect(isBerthError(error)).toBe(true);
        expect((error as Error).message).toMatch(new RegExp(`^container ${id}: `));
        expect((error as Error).message).toMatch(c.message);
        expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
        await expectNothingLeft(id, fds);
        expect(readFileSync(join(b.rootfs, 'etc', 'passwd'), 'utf8')).toBe('root:x:0:0::/:/bin/true\n');
      });
    }

    it('still mounts on real directories and masks real files (the same checks pass on a plain rootfs)', async () => {
      const b = hostileBundle(
        'plain',
        (d) => {
          writeFileSync(join(d, 'etc', 'masked'), 'secret');
          mkdirSync(join(d, 'etc', 'ro'));
        },
        (s) => {
          s.linux!.maskedPaths!.push('/etc/masked');
          s.linux!.readonlyPaths!.push('/etc/ro');
        },
      );
      b.spec.process!.args = ['/bin/probe', 'read:/etc/masked', 'write:/etc/ro/x', 'read:/proc/self/stat'];
      const p = await probe(b);
      expect(p.checks[0]).toMatchObject({ ok: true, bytes: 0 });
      expect(p.checks[1]).toMatchObject({ ok: false, errno: 'EROFS' });
      expect(p.checks[2]).toMatchObject({ ok: true });
    });
  });

  describe('the program is executed from the fd its magic-link check opened', () => {
    it('runs the checked fd itself (AT_EXECFN is /dev/fd/N), found by path or through PATH, leaking no fd', async () => {
      for (const args of [
        ['/bin/probe', 'execfn'],
        ['probe', 'execfn'],
      ]) {
        const p = await probe(bundle(() => {}, args));
        expect(p.checks[0]).toMatchObject({ op: 'execfn', ok: true });
        expect(p.checks[0]!.text).toMatch(/^\/dev\/fd\/\d+$/);
        expect(p.fds).toEqual([0, 1, 2]);
      }
    });

    it('handles "#!" lines as the kernel does: interpreter, its one argument, the script path, then the args', async () => {
      writeFileSync(join(rootfs, 'bin', 'say'), '#!/bin/echo  hello world \t\nignored\n', { mode: 0o755 });
      writeFileSync(join(rootfs, 'bin', 'say-again'), '#!/bin/say\n', { mode: 0o755 });
      writeFileSync(join(rootfs, 'bin', 'not-exec'), '#!/bin/echo\n', { mode: 0o644 });
      try {
        const one = await run(bundle(() => {}, ['/bin/say', 'x', 'y']));
        expect(one).toMatchObject({ status: { exitCode: 0 }, stdout: 'hello world /bin/say x y\n' });
        const two = await run(bundle(() => {}, ['say-again', 'z']));
        expect(two).toMatchObject({ status: { exitCode: 0 }, stdout: 'hello world /bin/say /bin/say-again z\n' });
        const id = nextId();
        await driver.create(
          ctx,
          id,
          bundle(() => {}, ['/bin/not-exec']),
        );
        await expect(driver.start(ctx, id)).rejects.toThrow(/execve \/bin\/not-exec: EACCES/);
        expect(await driver.wait(ctx, id)).toEqual({ exitCode: 126 });
        await driver.delete(ctx, id);
      } finally {
        for (const f of ['say', 'say-again', 'not-exec']) rmSync(join(rootfs, 'bin', f), { force: true });
      }
    });

    it('under a profile loaded before the exec that denies openat2 and execveat: opens plainly, refuses its own binary, runs the fd by name', async () => {
      const deny = (s: Spec) => {
        s.process!.noNewPrivileges = false; // the filter then loads before the user is set, long before the exec
        s.linux!.seccomp = {
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['openat2', 'execveat'], action: 'SCMP_ACT_ERRNO' }],
        };
      };
      const p = await probe(bundle(deny, ['/bin/probe', 'execfn']));
      expect(p.checks[0]!.text).toMatch(/^\/proc\/self\/fd\/\d+$/);
      expect(p.fds).toEqual([0, 1, 2]);
      const id = nextId();
      await driver.create(ctx, id, bundle(deny, ['/proc/self/exe']));
      await expect(driver.start(ctx, id)).rejects.toThrow(/execve through a magic link: \/proc\/self\/exe: ELOOP/);
      expect(await driver.wait(ctx, id)).toEqual({ exitCode: 126 });
      await driver.delete(ctx, id);
    });

    it.each([
      ['the command', ['/proc/self/exe'], /execve through a magic link: \/proc\/self\/exe: ELOOP/],
      ['a script interpreter', ['/bin/evil'], /execve through a magic link: \/proc\/self\/exe: ELOOP/],
    ])('refuses %s reached through /proc/self/exe', async (_what, args, message) => {
      writeFileSync(join(rootfs, 'bin', 'evil'), '#!/proc/self/exe\n', { mode: 0o755 });
      try {
        const id = nextId();
        await driver.create(
          ctx,
          id,
          bundle(() => {}, args),
        );
        await expect(driver.start(ctx, id)).rejects.toThrow(message);
        expect(await driver.wait(ctx, id)).toEqual({ exitCode: 126 });
        await driver.delete(ctx, id);
      } finally {
        rmSync(join(rootfs, 'bin', 'evil'), { force: true });
      }
    });
  });
});
