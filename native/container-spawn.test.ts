// The native core's container API without the execdriver: the config checks it
// makes itself, and one child taken through the sync protocol by hand.
import { closeSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeWorkloadRootfs } from '../engine/execdriver/workload-rootfs.js';
import { native, spawnContainer, type NativeChildMessage, type NativeSpawnConfig } from './index.js';
import { needs, root } from '../testkit/needs.js';

let base: string;
let rootfs: string;

function config(overrides: Partial<NativeSpawnConfig> = {}): NativeSpawnConfig {
  return {
    namespaces: [{ type: 'mount' }, { type: 'pid' }],
    uidMappings: [],
    gidMappings: [],
    rootfs,
    rootPropagation: (1 << 19) | 16384,
    readonlyRoot: false,
    mounts: [],
    maskedPaths: [],
    readonlyPaths: [],
    sysctl: [],
    rlimits: [],
    noNewPrivileges: false,
    uid: 0,
    gid: 0,
    additionalGids: [],
    cwd: '/',
    args: ['/bin/true'],
    env: [],
    stdio: [-1, -1, -1],
    ...overrides,
  };
}

const recv = (fd: number) =>
  new Promise<NativeChildMessage | null>((resolve, reject) =>
    native().containerRecv(fd, (err, msg) => (err ? reject(err) : resolve(msg))),
  );
const exit = (pidfd: number) =>
  new Promise<{ exitCode: number | null; signal: number | null }>((resolve, reject) =>
    native().pidfdWait(pidfd, (err, st) => (err ? reject(err) : resolve(st))),
  );

needs(root()).describe('native container core (root)', () => {
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), `berth-native-spawn-${process.pid}-`));
    rootfs = makeWorkloadRootfs(join(base, 'rootfs'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('refuses a bad config with a TypeError naming the field, before cloning', () => {
    expect(() => spawnContainer(config({ namespaces: [{ type: 'bogus' }] }))).toThrow(
      /namespaces\[0\]\.type: unknown namespace type "bogus"/,
    );
    expect(() => spawnContainer(config({ args: [] }))).toThrow(/args: must not be empty/);
    expect(() =>
      spawnContainer(
        config({ mounts: [{ destination: '/x', source: 's', flags: 0, propagation: [], kind: 'odd' as 'bind' }] }),
      ),
    ).toThrow(/mounts\[0\]\.kind: unknown "odd"/);
    expect(() =>
      spawnContainer(config({ namespaces: [{ type: 'net' as string, path: '/proc/self/ns/nope' }] })),
    ).toThrow();
    // exec joins every namespace: a new one, a mount or the hooks stop is refused
    expect(() => spawnContainer(config({ exec: true }))).toThrow(/exec: joins every namespace and makes no mounts/);
    expect(() =>
      spawnContainer(
        config({
          exec: true,
          namespaces: [{ type: 'mount', path: '/proc/self/ns/mnt' }],
          mounts: [{ destination: '/x', source: 's', flags: 0, propagation: [], kind: 'generic' }],
        }),
      ),
    ).toThrow(/exec: joins every namespace/);
    // a detached rootfs is attached in the child's own mount namespace: without one it is refused, as is a bad fd
    expect(() => spawnContainer(config({ namespaces: [], rootfsMount: 0 }))).toThrow(
      /rootfsMount: needs a mount namespace of its own/,
    );
    expect(() => spawnContainer(config({ rootfsMount: -1 }))).toThrow(/rootfsMount -1: EBADF/);
    expect(readFileSync('/proc/self/task/' + process.pid + '/children', 'utf8').trim()).toBe('');
  });

  it('takes a child through setup, start and exit over the sync socket and its pidfd', async () => {
    const [r, w] = native().containerPipe();
    const spawned = await spawnContainer(config({ args: ['/bin/probe', 'exit:5'], stdio: [-1, w, -1] }));
    closeSync(w);
    expect(spawned.pid).toBeGreaterThan(0);
    expect(spawned.cloneEndNs).toBeGreaterThanOrEqual(spawned.cloneStartNs);
    const exited = exit(spawned.pidfd);
    native().containerSend(spawned.syncFd, 'setup');
    const created = await recv(spawned.syncFd);
    expect(created?.type).toBe('created');
    const names = created!.steps.map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining(['wait-setup', 'stdio', 'rootfs-bind', 'pivot-root', 'user', 'close-fds']),
    );
    for (const s of created!.steps) expect(s.endNs).toBeGreaterThanOrEqual(s.startNs);
    native().containerSend(spawned.syncFd, 'start');
    expect(await recv(spawned.syncFd)).toBeNull(); // the socket closed on execve
    expect(await exited).toEqual({ exitCode: 5, signal: null });
    expect(() => native().pidfdSendSignal(spawned.pidfd, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    expect(JSON.parse(readFileSync(r, 'utf8')).pid).toBe(1);
    closeSync(r);
    closeSync(spawned.pidfd);
    closeSync(spawned.syncFd);
  });

  it('reports a failed clone through the callback, leaving no fd and no child', async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    // CLONE_INTO_CGROUP takes a cgroup2 directory only: a v1 one (or any other directory) fails the clone itself
    await expect(spawnContainer(config({ cloneIntoCgroup: base }))).rejects.toThrow(
      expect.objectContaining({ code: 'EBADF', message: expect.stringMatching(/^clone: EBADF/) }),
    );
    expect(fds()).toBe(before);
    for (const task of readdirSync('/proc/self/task'))
      expect(readFileSync(`/proc/self/task/${task}/children`, 'utf8').trim()).toBe('');
  });

  it('sets up children side by side, each on its own stack (they share this process memory)', async () => {
    // args[0] without a slash: the PATH search and the "#!" planning run in each child at once
    const runs = await Promise.all(
      [1, 2, 3, 4, 5, 6].map(async (n) => {
        const [r, w] = native().containerPipe();
        const spawned = await spawnContainer(
          config({ args: ['probe', `exit:${n}`], env: ['PATH=/nowhere:/bin'], stdio: [-1, w, -1] }),
        );
        closeSync(w);
        const exited = exit(spawned.pidfd);
        native().containerSend(spawned.syncFd, 'setup');
        expect((await recv(spawned.syncFd))?.type).toBe('created');
        native().containerSend(spawned.syncFd, 'start');
        expect(await recv(spawned.syncFd)).toBeNull();
        const status = await exited;
        const out = JSON.parse(readFileSync(r, 'utf8')) as { pid: number };
        closeSync(r);
        closeSync(spawned.pidfd);
        closeSync(spawned.syncFd);
        return { n, status, pid: out.pid };
      }),
    );
    for (const run of runs) expect(run).toEqual({ n: run.n, status: { exitCode: run.n, signal: null }, pid: 1 });
  });

  it('ends a waiting child when the parent closes its end of the socket', async () => {
    const spawned = await spawnContainer(config());
    const exited = exit(spawned.pidfd);
    closeSync(spawned.syncFd);
    expect(await exited).toEqual({ exitCode: 1, signal: null });
    closeSync(spawned.pidfd);
  });
});
