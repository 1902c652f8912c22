// Seccomp on the real kernel (root): containers run the static probe under compiled
// filters — EPERM from a rule, SIGSYS from a kill action, argument conditions, Docker's
// default profile — and the filter's load is a timed child step.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { native, spawnContainer, type NativeSpawnConfig } from '../../../native/index.js';
import { background } from '../../trace/context.js';
import { collect } from '../../trace/collector.js';
import { createCgroupManager } from '../cgroups/manager.js';
import type { CgroupManager } from '../cgroups/types.js';
import { releaseExecFifo } from '../exec-fifo.js';
import { createExecDriver, execDriverBoundary, type ExecDriver } from '../execdriver.js';
import { instrument } from '../../trace/instrument.js';
import { defaultSpec } from '../spec/defaults.js';
import type { Seccomp, Spec } from '../spec/types.js';
import { validateSpec } from '../spec/validate.js';
import { makeWorkloadRootfs } from '../workload-rootfs.js';
import { needs, root } from '../../../testkit/needs.js';

const ctx = background();
const cgroupParent = `berth-seccomp-test-${process.pid}`;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWUTS = 0x04000000;

interface SysCheck {
  op: string;
  name: string;
  ret: number;
  ok: boolean;
  errno: string | null;
}
interface Probe {
  Seccomp: string;
  NoNewPrivs: string;
  checks: SysCheck[];
}

let base: string;
let rootfs: string;
let manager: CgroupManager;
let driver: ExecDriver;
const created: string[] = [];
let seq = 0;

function bundle(
  mutate: (spec: Spec) => void,
  args: string[],
  options: { seccomp?: boolean } = {},
): { dir: string; spec: Spec } {
  const raw = defaultSpec({ args, rootfs, ...options });
  mutate(raw);
  return { dir: base, spec: validateSpec(raw, base) };
}

async function readAll(stream: Readable | undefined): Promise<string> {
  if (stream === undefined) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function run(b: { dir: string; spec: Spec }) {
  const id = `s${process.pid}-${++seq}`;
  created.push(id);
  const proc = await driver.create(ctx, id, b, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = readAll(proc.stdout);
  const err = readAll(proc.stderr);
  await driver.start(ctx, id);
  const status = await driver.wait(ctx, id);
  return { status, stdout: await out, stderr: await err };
}

async function probe(b: { dir: string; spec: Spec }): Promise<Probe> {
  const r = await run(b);
  expect(r.stderr).toBe('');
  expect(r.status).toEqual({ exitCode: 0 });
  return JSON.parse(r.stdout) as Probe;
}

const check = (p: Probe, name: string): SysCheck => p.checks.find((c) => c.name === name)!;
const withProfile = (profile: Seccomp) => (s: Spec) => (s.linux!.seccomp = profile);

needs(root()).describe('seccomp in containers (root, real kernel)', () => {
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), `berth-seccomp-${process.pid}-`));
    rootfs = makeWorkloadRootfs(join(base, 'rootfs'));
    manager = createCgroupManager();
    driver = instrument('execdriver', createExecDriver({ cgroups: manager, cgroupParent }), execDriverBoundary);
  });

  afterEach(async () => {
    for (const id of created.splice(0)) await driver.delete(ctx, id).catch(() => undefined);
  });

  afterAll(async () => {
    await manager?.cleanupStale(ctx, cgroupParent).catch(() => undefined);
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('without a profile the probe is unfiltered (Seccomp: 0) and mkdir / unshare(CLONE_NEWUSER) work', async () => {
    const p = await probe(bundle(() => {}, ['/bin/probe', 'sys:mkdir', `sys:unshare:${CLONE_NEWUSER}`]));
    expect(p.Seccomp).toBe('0');
    expect(check(p, 'mkdir')).toMatchObject({ ok: true });
    expect(check(p, 'unshare')).toMatchObject({ ok: true });
  });

  it('a rule returning EPERM for mkdir: mkdir fails with EPERM, other calls work, Seccomp: 2', async () => {
    const p = await probe(
      bundle(
        withProfile({
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
        }),
        ['/bin/probe', 'sys:mkdir', 'sys:getppid'],
      ),
    );
    expect(p.Seccomp).toBe('2');
    expect(check(p, 'mkdir')).toMatchObject({ ok: false, errno: 'EPERM' });
    expect(check(p, 'getppid')).toMatchObject({ ok: true, ret: 0 });
  });

  it('errnoRet chooses the errno', async () => {
    const p = await probe(
      bundle(
        withProfile({
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }],
        }),
        ['/bin/probe', 'sys:mkdir'],
      ),
    );
    expect(check(p, 'mkdir')).toMatchObject({ ok: false, errno: 'ENOSYS' });
  });

  it('SCMP_ACT_KILL_PROCESS kills the process with SIGSYS', async () => {
    const r = await run(
      bundle(
        withProfile({
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL_PROCESS' }],
        }),
        ['/bin/probe', 'sys:mkdir'],
      ),
    );
    expect(r.status).toEqual({ signal: 'SIGSYS' });
    expect(r.stdout).toBe('');
  });

  it('SCMP_ACT_KILL (thread) of the only thread ends the process with SIGSYS', async () => {
    const r = await run(
      bundle(
        withProfile({
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL' }],
        }),
        ['/bin/probe', 'sys:mkdir'],
      ),
    );
    expect(r.status).toEqual({ signal: 'SIGSYS' });
  });

  it('an argument condition: personality(0xffffffff) allowed, other values denied', async () => {
    const profile: Seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        {
          names: ['personality'],
          action: 'SCMP_ACT_ALLOW',
          args: [{ index: 0, value: 0xffffffff, op: 'SCMP_CMP_EQ' }],
        },
        { names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
      ],
    };
    const p = await probe(
      bundle(withProfile(profile), ['/bin/probe', 'sys:personality:0xffffffff', 'sys:personality:0x0008']),
    );
    const [query, set] = p.checks;
    expect(query).toMatchObject({ name: 'personality', ok: true });
    expect(set).toMatchObject({ name: 'personality', ok: false, errno: 'EACCES' });
  });

  it('Docker’s default profile (berth bundles): the probe runs, unshare is EPERM, flags pass through seccomp(2)', async () => {
    const p = await probe(
      bundle(
        (s) => (s.linux!.seccomp!.flags = ['SECCOMP_FILTER_FLAG_LOG']),
        [
          '/bin/probe',
          'sys:mkdir',
          `sys:unshare:${CLONE_NEWUSER}`,
          `sys:unshare:${CLONE_NEWUTS}`,
          'sys:personality:0xffffffff',
        ],
        { seccomp: true },
      ),
    );
    expect(p.Seccomp).toBe('2');
    expect(p.NoNewPrivs).toBe('1');
    expect(check(p, 'mkdir')).toMatchObject({ ok: true });
    expect(p.checks.filter((c) => c.name === 'unshare').map((c) => c.errno)).toEqual(['EPERM', 'EPERM']);
    expect(check(p, 'personality')).toMatchObject({ ok: true });
  });

  it('without noNewPrivileges the filter loads before capabilities drop and still applies', async () => {
    const p = await probe(
      bundle((s) => (s.process!.noNewPrivileges = false), ['/bin/probe', `sys:unshare:${CLONE_NEWUSER}`], {
        seccomp: true,
      }),
    );
    expect(p.Seccomp).toBe('2');
    expect(p.NoNewPrivs).toBe('0');
    expect(check(p, 'unshare')).toMatchObject({ ok: false, errno: 'EPERM' });
  });

  it('without noNewPrivileges an errno-by-default allow-list lacking close_range and the user/umask/cwd calls still runs the process as asked', async () => {
    const skipped = new Set(['close_range', 'setgroups', 'setresgid', 'setresuid', 'umask', 'chdir']);
    const p = await probe(
      bundle(
        (s) => {
          const profile = s.linux!.seccomp!;
          expect(profile.defaultAction).toBe('SCMP_ACT_ERRNO');
          profile.syscalls = profile
            .syscalls!.map((r) => ({ ...r, names: r.names.filter((n) => !skipped.has(n)) }))
            .filter((r) => r.names.length > 0);
          expect(profile.syscalls.flatMap((r) => r.names).filter((n) => skipped.has(n))).toEqual([]);
          s.process!.noNewPrivileges = false;
          s.process!.user = { uid: 1000, gid: 1001, additionalGids: [2000], umask: 0o027 };
          s.process!.cwd = '/tmp';
        },
        ['/bin/probe', `sys:unshare:${CLONE_NEWUSER}`],
        { seccomp: true },
      ),
    );
    expect(p.Seccomp).toBe('2');
    expect(p.NoNewPrivs).toBe('0');
    expect(p).toMatchObject({
      uid: 1000,
      euid: 1000,
      gid: 1001,
      egid: 1001,
      groups: [2000],
      cwd: '/tmp',
      Umask: '0027',
    });
    // The close-on-exec sweep ran before the filter: only stdio reached the process.
    expect((p as unknown as { fds: number[] }).fds).toEqual([0, 1, 2]);
    expect(check(p, 'unshare')).toMatchObject({ ok: false, errno: 'EPERM' });
  });

  it('a profile denying the start handshake is loaded right before execve and still applies', async () => {
    const profile: Seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['sendto', 'setsid', 'mkdir'], action: 'SCMP_ACT_ERRNO' }],
    };
    const p = await probe(bundle(withProfile(profile), ['/bin/probe', 'sys:mkdir']));
    expect(p.Seccomp).toBe('2');
    expect(check(p, 'mkdir')).toMatchObject({ ok: false, errno: 'EPERM' });
  });

  it('detached (exec FIFO): the filter loaded at the end of setup lets the FIFO handshake through', async () => {
    const fifo = join(base, `exec-${seq}.fifo`);
    execFileSync('mkfifo', ['-m', '0622', fifo]);
    const out = join(base, `detached-${seq}.json`);
    const id = `s${process.pid}-${++seq}`;
    created.push(id);
    const b = bundle(() => {}, ['/bin/probe', `sys:unshare:${CLONE_NEWUSER}`], { seccomp: true });
    await driver.create(ctx, id, b, { stdio: ['ignore', { file: out }, { file: out, append: true }], execFifo: fifo });
    await releaseExecFifo(ctx, fifo);
    expect(await driver.wait(ctx, id)).toEqual({ exitCode: 0 });
    const p = JSON.parse(readFileSync(out, 'utf8')) as Probe;
    expect(p.Seccomp).toBe('2');
    expect(check(p, 'unshare')).toMatchObject({ ok: false, errno: 'EPERM' });
  });

  it('publishes the filter load as the libcontainer.seccomp step', async () => {
    const id = `s${process.pid}-${++seq}`;
    created.push(id);
    const { spans } = await collect(async () => {
      await driver.create(
        ctx,
        id,
        bundle(() => {}, ['/bin/true'], { seccomp: true }),
      );
      await driver.start(ctx, id);
      await driver.wait(ctx, id);
    });
    const step = spans.find((s) => s.name === 'libcontainer.seccomp');
    expect(step?.origin).toBe('native');
    expect(step!.endNs).toBeGreaterThanOrEqual(step!.startNs);
  });

  it('refuses a profile that denies execve before any process exists', async () => {
    const b = bundle(
      withProfile({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] }),
      ['/bin/true'],
    );
    const id = `s${process.pid}-${++seq}`;
    created.push(id);
    await expect(driver.create(ctx, id, b, { stdio: ['ignore', 'ignore', 'ignore'] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/linux\.seccomp: the profile denies execve/),
    });
  });
});

needs(root()).describe('containerSpawn seccomp field', () => {
  const config = (seccomp: unknown): NativeSpawnConfig =>
    ({
      namespaces: [],
      uidMappings: [],
      gidMappings: [],
      rootfs: '/',
      cwd: '/',
      args: ['/bin/true'],
      env: [],
      stdio: [-1, -1, -1],
      seccomp,
    }) as unknown as NativeSpawnConfig;

  it.each([
    [
      'a filter that is not whole instructions',
      { filter: Buffer.alloc(12), flags: 0, stage: 1 },
      /seccomp\.filter: expected 1-4096 instructions of 8 bytes, got 12 bytes/,
    ],
    ['a filter that is not a Buffer', { filter: [1, 2], flags: 0, stage: 1 }, /seccomp\.filter: expected a Buffer/],
    ['an unknown stage', { filter: Buffer.alloc(8), flags: 0, stage: 7 }, /seccomp\.stage: expected 0, 1 or 2/],
  ])('refuses %s before cloning (TypeError naming the field)', (_name, seccomp, message) => {
    expect(() => spawnContainer(config(seccomp))).toThrow(message);
  });
});
