// The container jobs end to end on a real Engine (temporary root, vfs, own bridge
// and subnet): create/start/wait/delete in network modes none, host and bridge,
// Docker's Config rules seen from inside the container, stop/kill/restart,
// restart policies, AutoRemove, bad input, and nothing left behind.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { connect, createServer, type AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ContainerCreateRequest } from '../api/types.js';
import { isBerthError } from '../errdefs/errors.js';
import { SpanCollector } from '../trace/collector.js';
import { hostVethName } from '../networkdriver/network-driver.js';
import type { BerthEngine } from './builtins.js';
import { ctx, kernelSkipReason, putTestImage, stdoutOf, TEST_IMAGE, testWorld, type TestWorld } from './test-engine.js';
import { needs } from '../../testkit/needs.js';

const skip = kernelSkipReason();

interface Probe {
  hostname: string;
  uid: number;
  gid: number;
  groups: number[];
  cwd: string;
  env: string[];
  args: string[];
}

/** Whether a cgroup exists in the pids hierarchy (v1, hybrid) or the unified one (v2). */
function cgroupExists(path: string): boolean {
  return existsSync(`/sys/fs/cgroup/pids/${path}`) || existsSync(`/sys/fs/cgroup/${path}/cgroup.procs`);
}

/** True while the process exists and is not a zombie (one reparented to an init that does not reap stays a zombie). */
function processAlive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isBerthError(err) ? `${err.code}: ${err.message}` : `OTHER: ${String(err)}`;
  }
  return undefined;
}

needs(skip).describe('container jobs (kernel)', () => {
  let world: TestWorld;
  let b: BerthEngine;

  beforeEach(async () => {
    world = await testWorld('vfs');
    b = await world.open();
    await putTestImage(ctx, b.parts.graph);
  });

  afterEach(async () => {
    await world.cleanup();
  });

  /** create + start + wait(next-exit armed before start) → exit code and stdout. */
  async function run(
    config: Partial<ContainerCreateRequest>,
    name?: string,
  ): Promise<{ id: string; code: number; out: string }> {
    const { Id: id } = await b.engine.job(ctx, 'create', {
      ...(name ? { name } : {}),
      config: { Image: TEST_IMAGE, ...config },
    });
    let armed = false;
    const waiting = b.engine.job(ctx, 'wait', { id, condition: 'next-exit' }, { onEvent: () => (armed = true) });
    expect(armed).toBe(true);
    await b.engine.job(ctx, 'start', { id });
    const { StatusCode } = await waiting;
    const inspect = await b.engine.job(ctx, 'inspect', { id });
    return { id, code: StatusCode, out: await stdoutOf(inspect.LogPath) };
  }

  it.each(['none', 'host', 'bridge'])(
    "runs the image with Docker's Config rules in network mode %s and deletes it without leftovers",
    async (mode) => {
      const { id, code, out } = await run({
        Cmd: ['/bin/probe', 'exit:3'],
        Env: ['OVERRIDE=request', 'EXTRA=1'],
        User: 'app',
        WorkingDir: '/work/dir',
        Hostname: mode === 'host' ? '' : 'boxy',
        HostConfig: { NetworkMode: mode },
      });
      expect(code).toBe(3);
      const probe = JSON.parse(out) as Probe;
      expect(probe.uid).toBe(1000);
      expect(probe.gid).toBe(1001);
      expect(probe.groups).toContain(2000);
      expect(probe.cwd).toBe('/work/dir');
      expect(probe.env).toEqual(
        expect.arrayContaining(['OVERRIDE=request', 'EXTRA=1', 'FROM_IMAGE=yes', 'PATH=/bin', 'HOME=/home/app']),
      );
      expect(probe.env).not.toContain('OVERRIDE=image');
      expect(probe.hostname).toBe(mode === 'host' ? hostname() : 'boxy');
      const inspect = await b.engine.job(ctx, 'inspect', { id });
      expect(inspect.State).toMatchObject({ Status: 'exited', ExitCode: 3, Running: false, Pid: 0 });
      expect(inspect.State.FinishedAt).not.toBe('0001-01-01T00:00:00Z');
      await b.engine.job(ctx, 'delete', { id });
      expect(existsSync(b.parts.store.containerDir(id))).toBe(false);
      expect(cgroupExists(`${world.cgroupParent}/${id}`)).toBe(false);
      expect((await b.parts.graph.layers.rwLayers(ctx)).map((l) => l.containerID)).not.toContain(id);
      expect(b.parts.net.endpoint(ctx, id)).toBeUndefined();
      expect(await codeOf(b.engine.job(ctx, 'inspect', { id }))).toMatch(/^NOT_FOUND: No such container/);
    },
  );

  it('keeps a container whose layer could not be removed, dead, for another delete; the record goes before the layer', async () => {
    const { Id: id } = await b.engine.job(ctx, 'create', {
      config: { Image: TEST_IMAGE, Cmd: ['/bin/true'], HostConfig: { NetworkMode: 'none' } },
    });
    const record = join(b.parts.store.containerDir(id), 'config.v2.json');
    await b.parts.graph.layers.mountRW(ctx, id); // held: the layer store refuses its removal
    expect(await codeOf(b.engine.job(ctx, 'delete', { id }))).toMatch(/^CONFLICT: .*rw layer is mounted/);
    const inspect = await b.engine.job(ctx, 'inspect', { id });
    expect(inspect.State.Status).toBe('dead');
    expect(inspect.State.Error).toMatch(/rw layer is mounted/);
    expect(JSON.parse(readFileSync(record, 'utf8')).state.status).toBe('dead');
    await b.parts.graph.layers.unmountRW(ctx, id);
    await b.engine.job(ctx, 'delete', { id });
    expect(existsSync(b.parts.store.containerDir(id))).toBe(false);
    expect((await b.parts.graph.layers.rwLayers(ctx)).map((l) => l.containerID)).not.toContain(id);
    // a record gone with its layer left (a crash between the two) is no container; the next engine removes the layer
    const { Id: other } = await b.engine.job(ctx, 'create', { config: { Image: TEST_IMAGE, Cmd: ['/bin/true'] } });
    await b.parts.store.remove(ctx, other);
    const next = await world.open();
    expect((await next.parts.graph.layers.rwLayers(ctx)).map((l) => l.containerID)).not.toContain(other);
    expect(await codeOf(next.engine.job(ctx, 'inspect', { id: other }))).toMatch(/^NOT_FOUND/);
  });

  it('gives a bridge container an address of the network while it runs, stops it (SIGKILL after the timeout) and lists it', async () => {
    const { Id: id } = await b.engine.job(ctx, 'create', {
      name: 'sleeper',
      config: { Image: TEST_IMAGE, Cmd: ['/bin/sleep'], Labels: { role: 'test' } },
    });
    expect((await b.engine.job(ctx, 'start', { id })).changed).toBe(true);
    expect((await b.engine.job(ctx, 'start', { id: 'sleeper' })).changed).toBe(false);
    const running = await b.engine.job(ctx, 'inspect', { id: 'sleeper' });
    expect(running.State.Running).toBe(true);
    expect(running.State.Pid).toBeGreaterThan(0);
    expect(cgroupExists(`${world.cgroupParent}/${id}`)).toBe(true);
    const prefix = world.bip.split('.').slice(0, 3).join('.');
    expect(running.NetworkSettings.IPAddress.startsWith(`${prefix}.`)).toBe(true);
    expect((await b.engine.job(ctx, 'list', {})).map((c) => c.Names[0])).toEqual(['/sleeper']);
    expect(await b.engine.job(ctx, 'list', { filters: { label: ['role=test'], status: ['running'] } })).toHaveLength(1);
    expect(await b.engine.job(ctx, 'list', { filters: { label: ['role=other'] } })).toHaveLength(0);
    expect(await codeOf(b.engine.job(ctx, 'delete', { id }))).toMatch(/^CONFLICT: .*running container/);
    // pid 1 without a SIGTERM handler ignores it: SIGKILL after 1 s
    expect((await b.engine.job(ctx, 'stop', { id, timeout: 1 })).changed).toBe(true);
    const stopped = await b.engine.job(ctx, 'inspect', { id });
    expect(stopped.State).toMatchObject({ Status: 'exited', ExitCode: 137 });
    expect(stopped.NetworkSettings.IPAddress).toBe('');
    expect(b.parts.net.endpoint(ctx, id)).toBeUndefined();
    expect((await b.engine.job(ctx, 'stop', { id })).changed).toBe(false);
    expect(await b.engine.job(ctx, 'list', {})).toHaveLength(0);
    expect(await b.engine.job(ctx, 'list', { all: true, filters: { exited: ['137'] } })).toHaveLength(1);
  });

  it('publishes a port of a bridge container on 127.0.0.1 and withdraws it when the container stops', async () => {
    const hostPort = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const port = (probe.address() as AddressInfo).port;
        probe.close(() => resolve(port));
      });
    });
    const { Id: id } = await b.engine.job(ctx, 'create', {
      config: {
        Image: TEST_IMAGE,
        Cmd: ['/bin/http-server', '8080', '5'],
        ExposedPorts: { '8080/tcp': {} },
        HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] } },
      },
    });
    let listening!: () => void;
    const ready = new Promise<void>((r) => (listening = r));
    const attached = b.engine.job(
      ctx,
      'attach',
      { id, stdout: true, stream: true },
      { onEvent: (c) => c.data.toString().includes('listening') && listening() },
    );
    await b.engine.job(ctx, 'start', { id });
    await ready;
    const body = await new Promise<string>((resolve, reject) => {
      get({ host: '127.0.0.1', port: hostPort, path: '/' }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    expect(body).toBe('xxxx\n');
    const inspect = await b.engine.job(ctx, 'inspect', { id });
    expect(inspect.NetworkSettings.Ports['8080/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: String(hostPort) }]);
    expect((await b.engine.job(ctx, 'list', {}))[0]!.Ports).toEqual([
      { IP: '127.0.0.1', PrivatePort: 8080, PublicPort: hostPort, Type: 'tcp' },
    ]);
    await b.engine.job(ctx, 'stop', { id, timeout: 1 });
    await attached;
    const refused = await new Promise<string>((resolve) => {
      const sock = connect(hostPort, '127.0.0.1');
      sock.on('connect', () => {
        sock.destroy();
        resolve('connected');
      });
      sock.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    expect(
      await codeOf(
        b.engine.job(ctx, 'create', {
          config: {
            Image: TEST_IMAGE,
            HostConfig: { NetworkMode: 'none', PortBindings: { '80/tcp': [{ HostPort: '8080' }] } },
          },
        }),
      ),
    ).toMatch(/^INVALID_ARGUMENT: conflicting options: port publishing and the network mode none/);
    expect(
      await codeOf(
        b.engine.job(ctx, 'create', {
          config: { Image: TEST_IMAGE, HostConfig: { PortBindings: { '80/tcp': [{ HostPort: 'x' }] } } },
        }),
      ),
    ).toMatch(/^INVALID_ARGUMENT: port spec "x:80\/tcp": host port "x"/);
  });

  it('records OOMKilled and exit code 137 when the memory limit kills the process', async () => {
    const { Id: id } = await b.engine.job(ctx, 'create', {
      config: {
        Image: TEST_IMAGE,
        Cmd: ['/bin/probe', 'alloc:64'],
        HostConfig: { NetworkMode: 'none', Memory: 8 << 20, MemorySwap: 8 << 20 },
      },
    });
    const waiting = b.engine.job(ctx, 'wait', { id, condition: 'next-exit' });
    await b.engine.job(ctx, 'start', { id });
    expect((await waiting).StatusCode).toBe(137);
    expect((await b.engine.job(ctx, 'inspect', { id })).State).toMatchObject({
      Status: 'exited',
      ExitCode: 137,
      OOMKilled: true,
    });
    // within the limit: no OOM
    const ok = await run({ Cmd: ['/bin/probe', 'alloc:1'], HostConfig: { NetworkMode: 'none', Memory: 64 << 20 } });
    expect(ok.code).toBe(0);
    expect((await b.engine.job(ctx, 'inspect', { id: ok.id })).State.OOMKilled).toBe(false);
  });

  it('traces a run: the exit handling is a span under the start job, with the release, delete and unmount in it', async () => {
    const collector = new SpanCollector().start();
    try {
      await run({ Cmd: ['/bin/true'], HostConfig: { NetworkMode: 'none' } });
    } finally {
      collector.stop();
    }
    const spans = collector.spans;
    const start = spans.find((x) => x.name === 'jobs.start')!;
    const exit = spans.find((x) => x.name === 'container.exit')!;
    expect(exit.parentId).toBe(start.id);
    const under = spans.filter((x) => x.parentId === exit.id).map((x) => x.name);
    expect(under).toEqual(
      expect.arrayContaining(['networkdriver.releaseInterface', 'execdriver.delete', 'graph.layers.unmountRW']),
    );
  });

  it('kills with a signal, restarts a container, and force-deletes a running one', async () => {
    const { Id: id } = await b.engine.job(ctx, 'create', {
      config: { Image: TEST_IMAGE, Cmd: ['/bin/sleep'], HostConfig: { NetworkMode: 'none' } },
    });
    await b.engine.job(ctx, 'start', { id });
    const waiting = b.engine.job(ctx, 'wait', { id, condition: 'next-exit' });
    await b.engine.job(ctx, 'kill', { id, signal: 'KILL' });
    expect((await waiting).StatusCode).toBe(137);
    expect(await codeOf(b.engine.job(ctx, 'kill', { id }))).toMatch(/^CONFLICT: .*is not running/);
    await b.engine.job(ctx, 'restart', { id, timeout: 0 });
    const again = await b.engine.job(ctx, 'inspect', { id });
    expect(again.State.Running).toBe(true);
    const removed = b.engine.job(ctx, 'wait', { id, condition: 'removed' });
    await b.engine.job(ctx, 'delete', { id, force: true });
    expect((await removed).StatusCode).toBe(137);
    expect(b.parts.store.find(id)).toBeUndefined();
  });

  it('restarts on failure up to the retry count with back-off, and AutoRemove removes an exited container', async () => {
    const { Id: id } = await b.engine.job(ctx, 'create', {
      config: {
        Image: TEST_IMAGE,
        Cmd: ['/bin/probe', 'exit:4'],
        HostConfig: { NetworkMode: 'none', RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } },
      },
    });
    const restarts: string[] = [];
    const unsubscribe = b.parts.events.subscribe((e) => {
      if (e.Actor.ID === id && (e.Action === 'restart' || e.Action === 'die')) restarts.push(e.Action);
    });
    await b.engine.job(ctx, 'start', { id });
    // three runs: the first and two restarts
    for (let i = 0; i < 3; i++)
      expect((await b.engine.job(ctx, 'wait', { id, condition: 'next-exit' })).StatusCode).toBe(4);
    unsubscribe();
    const final = await b.engine.job(ctx, 'inspect', { id });
    expect(final.RestartCount).toBe(2);
    expect(final.State.Status).toBe('exited');
    expect(restarts).toEqual(['die', 'restart', 'die', 'restart', 'die']);

    const { Id: rm } = await b.engine.job(ctx, 'create', {
      config: { Image: TEST_IMAGE, Cmd: ['/bin/true'], HostConfig: { NetworkMode: 'none', AutoRemove: true } },
    });
    const gone = b.engine.job(ctx, 'wait', { id: rm, condition: 'removed' });
    await b.engine.job(ctx, 'start', { id: rm });
    expect((await gone).StatusCode).toBe(0);
    expect(b.parts.store.find(rm)).toBeUndefined();
  });

  it('rejects bad input with clear errors and records a failed start', async () => {
    await b.engine.job(ctx, 'create', { name: 'taken', config: { Image: TEST_IMAGE } });
    expect(await codeOf(b.engine.job(ctx, 'create', { name: 'taken', config: { Image: TEST_IMAGE } }))).toMatch(
      /^CONFLICT: Conflict. The container name "\/taken" is already in use by container "[0-9a-f]{64}"/,
    );
    expect(await codeOf(b.engine.job(ctx, 'create', { name: 'bad name', config: { Image: TEST_IMAGE } }))).toMatch(
      /^INVALID_ARGUMENT: container name "bad name"/,
    );
    expect(await codeOf(b.engine.job(ctx, 'create', { config: { Image: 'nope:latest' } }))).toMatch(
      /^NOT_FOUND: No such image: nope:latest/,
    );
    expect(
      await codeOf(b.engine.job(ctx, 'create', { config: { Image: TEST_IMAGE, HostConfig: { Memory: 10 } } })),
    ).toMatch(/^INVALID_ARGUMENT: Memory 10/);
    expect(
      await codeOf(
        b.engine.job(ctx, 'create', { config: { Image: TEST_IMAGE, HostConfig: { NetworkMode: 'nonet' } } }),
      ),
    ).toMatch(/^NOT_FOUND: .*nonet/);
    expect(
      await codeOf(
        b.engine.job(ctx, 'create', {
          config: { Image: TEST_IMAGE, HostConfig: { RestartPolicy: { Name: 'always' }, AutoRemove: true } },
        }),
      ),
    ).toMatch(/^INVALID_ARGUMENT: restart policy always: conflicts with AutoRemove/);
    // nothing of the refused creates is left
    expect(b.parts.store.list()).toHaveLength(1);
    expect(await b.parts.graph.layers.rwLayers(ctx)).toHaveLength(1);

    const { Id: ghost } = await b.engine.job(ctx, 'create', {
      config: { Image: TEST_IMAGE, User: 'ghost', HostConfig: { NetworkMode: 'none' } },
    });
    expect(await codeOf(b.engine.job(ctx, 'start', { id: ghost }))).toMatch(
      /^INVALID_ARGUMENT: container .*unable to find user ghost/,
    );
    const { Id: missing } = await b.engine.job(ctx, 'create', {
      config: { Image: TEST_IMAGE, Cmd: ['/bin/nope'], HostConfig: { NetworkMode: 'none' } },
    });
    expect(await codeOf(b.engine.job(ctx, 'start', { id: missing }))).toMatch(/executable file not found/);
    const failed = await b.engine.job(ctx, 'inspect', { id: missing });
    expect(failed.State).toMatchObject({ Status: 'created', ExitCode: 127, Running: false });
    expect(failed.State.Error).toMatch(/executable file not found/);
    expect(b.parts.net.endpoint(ctx, missing)).toBeUndefined();
    expect(await codeOf(b.engine.job(ctx, 'wait', { id: missing, condition: 'bogus' as 'removed' }))).toMatch(
      /^INVALID_ARGUMENT: wait .*unknown condition/,
    );
    // an AutoRemove container whose start fails is removed, ending a `wait removed` with 127
    const { Id: rmFailed } = await b.engine.job(ctx, 'create', {
      config: { Image: TEST_IMAGE, Cmd: ['/bin/nope'], HostConfig: { NetworkMode: 'none', AutoRemove: true } },
    });
    const removed = b.engine.job(ctx, 'wait', { id: rmFailed, condition: 'removed' });
    expect(await codeOf(b.engine.job(ctx, 'start', { id: rmFailed }))).toMatch(/executable file not found/);
    expect((await removed).StatusCode).toBe(127);
    expect(b.parts.store.find(rmFailed)).toBeUndefined();
  });

  it('stops running containers at shutdown with their stop timeout and records their exit; always-restart ones come back with the next engine', async () => {
    const { Id: plain } = await b.engine.job(ctx, 'create', {
      config: { Image: TEST_IMAGE, Cmd: ['/bin/sleep'], StopTimeout: 1, HostConfig: { NetworkMode: 'none' } },
    });
    const { Id: always } = await b.engine.job(ctx, 'create', {
      config: {
        Image: TEST_IMAGE,
        Cmd: ['/bin/sleep'],
        StopTimeout: 1,
        HostConfig: { NetworkMode: 'none', RestartPolicy: { Name: 'always' } },
      },
    });
    await b.engine.job(ctx, 'start', { id: plain });
    await b.engine.job(ctx, 'start', { id: always });
    const pids = [
      (await b.engine.job(ctx, 'inspect', { id: plain })).State.Pid,
      (await b.engine.job(ctx, 'inspect', { id: always })).State.Pid,
    ];
    await world.engines.pop()!.shutdown(ctx);
    for (const pid of pids) expect(processAlive(pid)).toBe(false);
    const next = await world.open();
    expect(next.restored.exited).toEqual([]);
    expect((await next.engine.job(ctx, 'inspect', { id: plain })).State).toMatchObject({
      Status: 'exited',
      ExitCode: 137,
    });
    expect(await next.restored.restarting).toEqual([always]);
    expect((await next.engine.job(ctx, 'inspect', { id: always })).State.Running).toBe(true);
    await next.engine.job(ctx, 'delete', { id: always, force: true });
  });

  it('recovers after a crash: the next engine on the root marks the container exited, releases its interface and cgroup, and restarts it (unless-stopped)', async () => {
    await world.engines.pop()!.shutdown(ctx);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'crash-child.ts'), JSON.stringify(world.config())],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      child.on('exit', (code) => reject(new Error(`crash child exited ${code} before starting: ${out}`)));
    });
    const [, id, pidText] = line.split(' ') as [string, string, string];
    const veth = hostVethName(id);
    expect(existsSync(`/sys/class/net/${veth}`)).toBe(true);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const second = await world.open();
    expect(second.restored.exited).toEqual([id]);
    // the old process is gone (it died with its parent or recovery killed it), so is its cgroup
    expect(processAlive(Number(pidText))).toBe(false);
    expect(cgroupExists(`${world.cgroupParent}/${id}`)).toBe(false);
    expect(existsSync(`/sys/class/net/${veth}`)).toBe(false);
    expect(await second.restored.restarting).toEqual([id]);
    const after = await second.engine.job(ctx, 'inspect', { id: 'survivor' });
    expect(after.State.Running).toBe(true);
    expect(after.State.Pid).not.toBe(Number(pidText));
    expect(existsSync(`/sys/class/net/${veth}`)).toBe(true);
    await second.engine.job(ctx, 'delete', { id, force: true });
    // the host veth dies with the container's namespace, which the kernel tears down after the delete answered (or
    // the driver's reaper deletes it after its 2 s grace): gone within that, not necessarily at once
    const deadline = Date.now() + 10_000;
    while (existsSync(`/sys/class/net/${veth}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(`/sys/class/net/${veth}`)).toBe(false);
  });
});

needs(skip).describe('container jobs on overlay2 (kernel)', () => {
  let world: TestWorld;

  afterEach(async () => {
    await world?.cleanup();
  });

  it("mounts the container's layer in its own mount namespace only while it runs, writes go to its own layer", async () => {
    world = await testWorld('overlay2');
    const b = await world.open();
    await putTestImage(ctx, b.parts.graph);
    const overlays = (pid: number | 'self') =>
      readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
        .split('\n')
        .filter((l) => l.includes(' - overlay '));
    const mounted = () => overlays('self').filter((l) => l.includes(world.root)).length;
    const { Id: id } = await b.engine.job(ctx, 'create', {
      config: { Image: TEST_IMAGE, Cmd: ['/bin/sleep'], HostConfig: { NetworkMode: 'none' } },
    });
    await b.engine.job(ctx, 'start', { id });
    // the engine's (the host's) mount table holds nothing of the running container: its rootfs is attached in the
    // container's namespace alone, as its root
    expect(mounted()).toBe(0);
    const pid = (await b.engine.job(ctx, 'inspect', { id })).State.Pid;
    expect(overlays(pid).filter((l) => l.split(' ')[4] === '/')).toHaveLength(1);
    const exec = await b.engine.job(ctx, 'exec_create', { id, config: { Cmd: ['/bin/probe', 'write:/tmp/mark'] } });
    await b.engine.job(ctx, 'exec_start', { execId: exec.Id });
    expect((await b.engine.job(ctx, 'exec_inspect', { execId: exec.Id })).ExitCode).toBe(0);
    expect((await b.engine.job(ctx, 'inspect', { id })).ExecIDs).toEqual([exec.Id]);
    await b.engine.job(ctx, 'stop', { id, timeout: 0 });
    expect(mounted()).toBe(0);
    // a second container of the image does not see the first one's file
    const { code, out } = await (async () => {
      const { Id: other } = await b.engine.job(ctx, 'create', {
        config: { Image: TEST_IMAGE, Cmd: ['/bin/probe', 'read:/tmp/mark'], HostConfig: { NetworkMode: 'none' } },
      });
      const waiting = b.engine.job(ctx, 'wait', { id: other, condition: 'next-exit' });
      await b.engine.job(ctx, 'start', { id: other });
      const r = await waiting;
      return { code: r.StatusCode, out: await stdoutOf((await b.engine.job(ctx, 'inspect', { id: other })).LogPath) };
    })();
    expect(code).toBe(0);
    expect(out).toContain('"op":"read","path":"/tmp/mark","ok":false');
    await b.engine.job(ctx, 'start', { id });
    const again = b.engine.job(ctx, 'exec_create', {
      id,
      config: { Cmd: ['/bin/probe', 'read:/tmp/mark'], AttachStdout: true },
    });
    const e2 = await again;
    const chunks: string[] = [];
    await b.engine.job(ctx, 'exec_start', { execId: e2.Id }, { onEvent: (c) => chunks.push(c.data.toString()) });
    expect(chunks.join('')).toContain('"op":"read","path":"/tmp/mark","ok":true');
    await b.engine.job(ctx, 'delete', { id, force: true });
    expect(mounted()).toBe(0);
  });
});
