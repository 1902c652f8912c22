// berth end to end: the `berth` CLI (its bin) against a berthd (its bundle)
// with its own root, socket, bridge and subnet, pulling from an embedded registry
// on 127.0.0.1. Covers pull, the run rules (env, workdir, user, entrypoint, cmd),
// network modes none/host/bridge with -p on 127.0.0.1, logs, stop/kill/rm, --rm,
// name conflicts, the API's 4xx answers, and recovery after berthd is killed.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../client/api-client.js';
import type { RegistryServer } from '../../registry/server/index.js';
import {
  berthCli,
  e2eSkipReason,
  spawnDaemon,
  startDaemonWorld,
  stopDaemon,
  stopDaemonWorld,
  type DaemonProcess,
  type DaemonSetup,
  type DaemonWorld,
  type Run,
} from './e2e-kit.js';
import { needs } from '../../../testkit/needs.js';

const skip = e2eSkipReason();

let world: DaemonWorld;
let registry: RegistryServer;
let daemon: DaemonProcess | undefined;
let image: string;
let client: ApiClient;

/** The berth CLI against the current daemon's socket (a restart case replaces the daemon, not the socket). */
const berth = (args: string[], input?: string): Promise<Run> =>
  berthCli(`unix://${world.socket}`, { timeoutMs: 60_000 })(args, input);

/** A TCP port from the kernel, released for the container to bind on the host side. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function httpGet(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port, path: '/', method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    r.on('error', reject);
    r.end();
  });
}

/** Follows a container's logs until `text` shows up. */
async function logsUntil(id: string, text: string): Promise<string> {
  const controller = new AbortController();
  const res = await client.containerLogs(id, { follow: true, signal: controller.signal });
  let seen = '';
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      seen += chunk.toString('latin1');
      if (seen.includes(text)) break;
    }
  } catch {
    // aborted below
  } finally {
    controller.abort();
  }
  return seen;
}

needs(skip).describe('berth CLI through berthd', () => {
  let setup: DaemonSetup | undefined;

  beforeAll(async () => {
    setup = await startDaemonWorld('e2e/tools', 'v1', {
      config: { Cmd: ['echo', 'default-cmd'], WorkingDir: '/srv', Env: ['PATH=/bin', 'FOO=image', 'KEEP=1'] },
    });
    ({ world, registry, image, daemon } = setup);
    client = new ApiClient(setup.daemon.host);
  }, 120_000);

  afterAll(async () => {
    // a test may have replaced the daemon (restart cases): stop the current one
    await stopDaemonWorld(setup && { ...setup, ...(daemon !== undefined ? { daemon } : {}) });
  }, 120_000);

  it('pulls from the registry and lists and inspects the image', async () => {
    const pulled = await berth(['pull', image]);
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    const images = await berth(['images']);
    expect(images.stdout).toMatch(new RegExp(`${registry.host}/e2e/tools\\s+v1\\s+[0-9a-f]{12}`));
    const inspect = JSON.parse((await berth(['inspect', image])).stdout) as {
      Config: { Cmd: string[]; WorkingDir: string };
    }[];
    expect(inspect[0]?.Config.Cmd).toEqual(['echo', 'default-cmd']);
  });

  it('runs with --rm: output, exit status, and the container is gone', async () => {
    const hi = await berth(['run', '--rm', image, 'echo', 'hi']);
    expect(hi).toMatchObject({ stdout: 'hi\n', exitCode: 0 });
    expect((await berth(['run', '--rm', image, 'sh', '-c', 'echo to-err >&2; exit 3'])).exitCode).toBe(3);
    const missing = await berth(['run', '--rm', image, 'no-such-command']);
    expect(missing.exitCode).toBe(127);
    const all = await client.containerList({ all: true });
    expect(all).toEqual([]);
  });

  it.each([
    ['the image Cmd and WorkingDir', [], 'default-cmd\n'],
    ['a command replacing Cmd', ['pwd'], '/srv\n'],
    ['-w', ['-w', '/tmp', '@', 'pwd'], '/tmp\n'],
    ['-u by name from /etc/passwd', ['-u', 'app', '@', 'id', '-u'], '1234\n'],
    ['-u uid:gid', ['-u', '7:8', '@', 'id', '-g'], '8\n'],
    ['--entrypoint with args', ['--entrypoint', 'echo', '@', 'a', 'b'], 'a b\n'],
    ['-e over the image Env', ['-e', 'FOO=cli', '@', 'sh', '-c', 'echo $FOO $KEEP'], 'cli 1\n'],
    ['--hostname', ['--hostname', 'box1', '@', 'hostname'], 'box1\n'],
    [
      '--read-only',
      ['--read-only', '@', 'sh', '-c', 'touch /x 2>/dev/null && echo wrote || echo refused'],
      'refused\n',
    ],
    [
      '--tmpfs',
      ['--read-only', '--tmpfs', '/scratch', '@', 'sh', '-c', 'echo ok > /scratch/f && cat /scratch/f'],
      'ok\n',
    ],
  ])('applies %s', async (_name, spec, expected) => {
    const at = spec.indexOf('@');
    const args =
      at < 0 ? ['run', '--rm', image, ...spec] : ['run', '--rm', ...spec.slice(0, at), image, ...spec.slice(at + 1)];
    const r = await berth(args);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(expected);
    expect(r.exitCode).toBe(0);
  });

  it('runs in network modes none, host and bridge', async () => {
    const none = await berth(['run', '--rm', '--network', 'none', image, 'ip', '-o', 'link']);
    expect(
      none.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(':')[1]?.trim()),
    ).toEqual(['lo']);
    const host = await berth(['run', '--rm', '--network', 'host', image, 'ip', '-o', 'link']);
    expect(host.stdout).toContain(world.network.bridge);
    const bridge = await berth(['run', '--rm', image, 'ip', '-4', '-o', 'addr']);
    expect(bridge.stdout).toContain(world.network.subnetPrefix);
  });

  it('publishes a port on 127.0.0.1 (-p) to a detached container, logs it, stops and removes it', async () => {
    const port = await freePort();
    const run = await berth([
      'run',
      '-d',
      '--name',
      'web',
      '-p',
      `127.0.0.1:${port}:8080`,
      image,
      'http-server',
      '8080',
      '5',
    ]);
    expect(run.exitCode, run.stderr).toBe(0);
    const id = run.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(await logsUntil(id, 'listening 8080')).toContain('listening 8080');
    expect(await httpGet(port)).toEqual({ status: 200, body: 'xxxx\n' });
    const ps = await berth(['ps']);
    expect(ps.stdout).toMatch(
      new RegExp(`${id.slice(0, 12)}\\s+${registry.host}/e2e/tools:v1.*Up.*127\\.0\\.0\\.1:${port}->8080/tcp\\s+web`),
    );
    expect((await berth(['logs', 'web'])).stdout).toContain('listening 8080');
    expect((await berth(['stop', '-t', '1', 'web'])).exitCode).toBe(0);
    const state = (await client.containerInspect('web')).State;
    expect(state).toMatchObject({ Status: 'exited', Running: false });
    expect([137, 143]).toContain(state.ExitCode);
    await expect(httpGet(port)).rejects.toThrow();
    expect((await berth(['rm', 'web'])).exitCode).toBe(0);
    expect((await berth(['ps', '-a', '-q'])).stdout).toBe('');
  });

  it('kills, refuses a duplicate name, and force-removes a running container', async () => {
    const first = await berth(['run', '-d', '--name', 'dup', image, 'sleep', '1000']);
    expect(first.exitCode, first.stderr).toBe(0);
    const second = await berth(['run', '-d', '--name', 'dup', image, 'true']);
    expect(second.exitCode).toBe(125);
    expect(second.stderr).toMatch(/"\/dup".*already in use/);
    expect((await berth(['ps', '-q', '--filter', 'name=dup'])).stdout.trim()).toBe(first.stdout.trim().slice(0, 12));
    expect((await berth(['kill', 'dup'])).exitCode).toBe(0);
    expect((await berth(['wait', 'dup'])).stdout).toBe('137\n');
    expect((await client.containerInspect('dup')).State.ExitCode).toBe(137);
    await berth(['start', 'dup']);
    expect((await berth(['rm', 'dup'])).exitCode).toBe(1);
    expect((await berth(['rm', '-f', 'dup'])).exitCode).toBe(0);
    await expect(client.containerInspect('dup')).rejects.toMatchObject({ details: { httpStatus: 404 } });
  });

  it('execs in a running container with its exit status', async () => {
    const run = await berth(['run', '-d', '--name', 'ex', image, 'sleep', '1000']);
    expect(run.exitCode, run.stderr).toBe(0);
    const e = await berth(['exec', 'ex', 'sh', '-c', 'echo in-$(hostname); exit 4']);
    expect(e.stdout).toMatch(/^in-[0-9a-f]{12}\n$/);
    expect(e.exitCode).toBe(4);
    const piped = await berth(['exec', '-i', 'ex', 'cat'], 'from stdin\n');
    expect(piped.stdout).toBe('from stdin\n');
    expect((await berth(['rm', '-f', 'ex'])).exitCode).toBe(0);
  });

  it('answers bad requests with 4xx and a message, and keeps serving', async () => {
    await expect(client.containerCreate({ Image: `${registry.host}/e2e/none:v1` })).rejects.toMatchObject({
      details: { httpStatus: 404 },
      message: expect.stringMatching(/No such image/),
    });
    await expect(client.containerInspect('no-such-container')).rejects.toMatchObject({ details: { httpStatus: 404 } });
    await expect(
      client.call('POST', '/containers/create', { body: { Image: image, Cmd: 'echo' } }),
    ).rejects.toMatchObject({
      details: { httpStatus: 400 },
      message: expect.stringContaining('field Cmd must be an array of strings'),
    });
    await expect(client.containerCreate({ Image: image }, 'bad name!')).rejects.toMatchObject({
      details: { httpStatus: 400 },
    });
    const r = await berth(['run', '--rm', `${registry.host}/e2e/none:v1`]);
    expect(r.exitCode).toBe(125);
    expect((await client.ping()).apiVersion).toBe('1.41');
  });

  it('recovers after berthd is killed: the container is recorded exited and removable', async () => {
    const run = await berth(['run', '-d', '--name', 'survivor', image, 'sleep', '1000']);
    expect(run.exitCode, run.stderr).toBe(0);
    daemon!.child.kill('SIGKILL');
    await daemon!.exited;
    daemon = await spawnDaemon(world);
    const state = (await client.containerInspect('survivor')).State;
    expect(state.Running).toBe(false);
    expect(state.Status).toBe('exited');
    expect((await berth(['rm', 'survivor'])).exitCode).toBe(0);
    const again = await berth(['run', '--rm', image, 'echo', 'after-restart']);
    expect(again.stdout).toBe('after-restart\n');
  });

  it('writes a trace joining client, daemon and job spans (berth trace)', async () => {
    const out = join(world.dir, 'trace.json');
    const r = await berth(['trace', '-o', out, '--summary', 'run', '--rm', image, 'true']);
    expect(r.exitCode, r.stderr).toBe(0);
    // the summary: a header, then one row per span name with its count and four times
    expect(r.stderr).toMatch(/^span +count +total ms +self ms +mean ms +max ms$/m);
    expect(r.stderr).toMatch(/^client\.run +1( +\d+\.\d{3}){4}$/m);
    expect(r.stderr).toMatch(/^jobs\.start +1( +\d+\.\d{3}){4}$/m);
    const trace = JSON.parse(readFileSync(out, 'utf8')) as {
      traceEvents: { name: string; ph: string; args?: Record<string, unknown> }[];
    };
    const spans = trace.traceEvents.filter((e) => e.ph === 'X');
    const byId = new Map(spans.map((e) => [e.args?.spanId, e]));
    const client = spans.find((e) => e.name === 'client.run');
    const start = spans.find((e) => e.name === 'jobs.start');
    expect(client?.args?.process).toBe('berth');
    expect(start?.args?.process).toBe('berthd');
    // jobs.start -> daemon request span -> client.run
    const request = byId.get(start?.args?.parentId);
    expect(request?.name).toMatch(/^daemon\.POST \/containers\/[0-9a-f]{64}\/start$/);
    expect(byId.get(request?.args?.parentId)?.name).toBe('client.run');
    expect(spans.some((e) => e.name === 'jobs.create')).toBe(true);
    // the exit's handling, which ends after the start request answered, is in the trace under the start job
    const exit = spans.find((e) => e.name === 'container.exit');
    expect(exit?.args?.parentId).toBe(start?.args?.spanId);
  });

  it('reports info, version and the events of a run', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    expect((await berth(['run', '--rm', image, 'true'])).exitCode).toBe(0);
    const info = await berth(['info']);
    expect(info.stdout).toMatch(/Storage Driver: (overlay2|vfs)/);
    expect(info.stdout).toContain(`Docker Root Dir: ${world.root}`);
    expect((await berth(['version'])).stdout).toMatch(/API version:\s+1\.41/);
    const events = await berth([
      'events',
      '--since',
      String(since),
      '--until',
      String(Math.floor(Date.now() / 1000) + 1),
    ]);
    expect(events.exitCode, events.stderr).toBe(0);
    for (const action of ['create', 'start', 'die', 'destroy'])
      expect(events.stdout).toMatch(new RegExp(`container ${action} [0-9a-f]{64}`));
  });

  it('shows logs with --tail and -t, and start -a replays a created container', async () => {
    const run = await berth(['run', '--name', 'lines', image, 'sh', '-c', 'echo one; echo two; echo three >&2']);
    expect(run).toMatchObject({ stdout: 'one\ntwo\n', stderr: 'three\n', exitCode: 0 });
    expect((await berth(['logs', '--tail', '1', 'lines'])).stderr).toBe('three\n');
    const stamped = await berth(['logs', '-t', 'lines']);
    expect(stamped.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z one\n\S+ two\n$/);
    const created = await berth(['create', '--name', 'later', image, 'sh', '-c', 'echo late; exit 2']);
    expect(created.exitCode, created.stderr).toBe(0);
    expect(await berth(['start', '-a', 'later'])).toMatchObject({ stdout: 'late\n', exitCode: 2 });
    expect((await berth(['rm', 'lines', 'later'])).exitCode).toBe(0);
  });

  it('feeds stdin to run -i and closes it at the end of input', async () => {
    expect(
      await berth(['run', '--rm', '-i', image, 'sh', '-c', 'cat; echo done'], 'line one\nline two\n'),
    ).toMatchObject({ stdout: 'line one\nline two\ndone\n', exitCode: 0 });
  });

  it('creates, lists, inspects and removes a network, and runs a container on it', async () => {
    const third = (Number(world.network.subnetPrefix.split('.')[2]) + 2) % 250;
    const subnet = `${world.network.subnetPrefix.split('.').slice(0, 2).join('.')}.${third}.0/24`;
    const created = await berth(['network', 'create', '--subnet', subnet, 'e2enet']);
    expect(created.exitCode, created.stderr).toBe(0);
    expect((await berth(['network', 'ls'])).stdout).toMatch(/\se2enet\s+bridge\s+local/);
    const inspect = JSON.parse((await berth(['network', 'inspect', 'e2enet'])).stdout) as {
      IPAM: { Config: { Subnet: string }[] };
    }[];
    expect(inspect[0]?.IPAM.Config[0]?.Subnet).toBe(subnet);
    const on = await berth(['run', '--rm', '--network', 'e2enet', image, 'ip', '-4', '-o', 'addr']);
    expect(on.stdout).toContain(subnet.replace(/0\/24$/, ''));
    expect((await berth(['network', 'rm', 'e2enet'])).exitCode).toBe(0);
    expect((await berth(['network', 'ls'])).stdout).not.toContain('e2enet');
  });

  it('runs with a TTY (-t): one raw stream through the pty', async () => {
    const r = await berth([
      'run',
      '--rm',
      '-t',
      image,
      'sh',
      '-c',
      'echo out; echo err >&2; test -t 1 && echo is-a-tty',
    ]);
    expect(r).toMatchObject({ stdout: 'out\r\nerr\r\nis-a-tty\r\n', stderr: '', exitCode: 0 });
  });

  it('shuts down on SIGTERM: exit 0, containers stopped and recorded, socket, pid file and lock removed', async () => {
    const run = await berth(['run', '-d', '--name', 'sleeper', '--stop-timeout', '1', image, 'sleep', '1000']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(await stopDaemon(daemon!)).toBe(0);
    for (const gone of [world.socket, join(world.execRoot, 'berthd.pid'), join(world.root, 'berthd.lock')])
      expect(existsSync(gone), gone).toBe(false);
    daemon = await spawnDaemon(world);
    const state = (await client.containerInspect('sleeper')).State;
    expect(state).toMatchObject({ Status: 'exited', Running: false });
    expect((await berth(['rm', 'sleeper'])).exitCode).toBe(0);
  });

  it('refuses a second berthd on the same root', async () => {
    const other = { ...world, socket: `${world.socket}.2` };
    await expect(spawnDaemon(other)).rejects.toThrow(/another berthd \(pid \d+\) is using it/);
  });
});
