// Container features end to end: the `berth` CLI (its bundle) against a berthd
// (its bundle) with its own root, socket, bridge and subnet. Health checks
// (--health-* flags, State.Health, health_status events, `ps --filter health=`
// and its Status line, the checker begun again after berthd is killed and its
// recovery restarts the container); legacy links (--link) on the default bridge;
// /dev/shm shared by --ipc shareable and --ipc container:<name>.
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { EventMessage, Health } from '../../api/types.js';
import { ApiClient } from '../../client/api-client.js';
import { packagePath } from '../../../native/package-root.js';
import {
  e2eSkipReason,
  killDaemon,
  spawnDaemon,
  startDaemonWorld,
  stopDaemonWorld,
  type DaemonSetup,
} from './e2e-kit.js';
import { needs } from '../../../testkit/needs.js';

const skip = e2eSkipReason();
const BERTH = packagePath('engine', 'client', 'bin.cjs');

/** Polls `probe` until it returns a value (generous deadline: a busy host). */
async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

needs(skip).describe('container features through berthd', () => {
  let s: DaemonSetup;
  let client: ApiClient;
  const berth = async (args: string[]) => {
    const r = await execa(BERTH, ['-H', s.daemon.host, ...args], { reject: false, timeout: 90_000 });
    return { stdout: r.stdout as string, stderr: r.stderr as string, exitCode: r.exitCode ?? -1 };
  };
  const healthOf = async (name: string): Promise<Health | undefined> =>
    (await client.containerInspect(name)).State.Health;
  const healthIs = (name: string, status: string) =>
    until(`${name} ${status}`, async () => {
      const h = await healthOf(name).catch(() => undefined);
      return h?.Status === status ? h : undefined;
    });

  beforeAll(async () => {
    s = await startDaemonWorld('e2e/features', 'v1', { config: { Cmd: ['sleep', '1000'] } });
    client = new ApiClient(s.daemon.host);
    const pulled = await berth(['pull', s.image]);
    if (pulled.exitCode !== 0) throw new Error(`pull ${s.image}: ${pulled.stderr}`);
  }, 120_000);
  afterAll(() => stopDaemonWorld(s), 120_000);

  it('runs --health-cmd in the container: unhealthy, then healthy, with events, ps filter and Status', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const r = await berth([
      'run',
      '-d',
      '--name',
      'hc',
      '--network',
      'none',
      '--health-cmd',
      'test -e /tmp/ok && echo fine || { echo missing; exit 1; }',
      '--health-interval',
      '200ms',
      '--health-retries',
      '2',
      '--health-timeout',
      '20s',
      s.image,
    ]);
    expect(r).toMatchObject({ exitCode: 0 });
    const inspect = await client.containerInspect('hc');
    expect(inspect.Config.Healthcheck).toMatchObject({
      Test: ['CMD-SHELL', 'test -e /tmp/ok && echo fine || { echo missing; exit 1; }'],
      Interval: 200e6,
      Retries: 2,
      Timeout: 20e9,
    });
    const sick = await healthIs('hc', 'unhealthy');
    expect(sick.Log.at(-1)).toMatchObject({ ExitCode: 1, Output: 'missing\n' });
    const ps = await berth(['ps', '--filter', 'health=unhealthy']);
    expect(ps.stdout).toMatch(/Up .* \(unhealthy\) .* hc$/m);

    expect((await berth(['exec', 'hc', 'sh', '-c', ': > /tmp/ok'])).exitCode).toBe(0);
    const well = await healthIs('hc', 'healthy');
    expect(well.Log.at(-1)).toMatchObject({ ExitCode: 0, Output: 'fine\n' });
    expect((await berth(['ps', '--filter', 'health=healthy'])).stdout).toMatch(/Up .* \(healthy\)/);
    expect((await berth(['ps', '--filter', 'health=none', '-q'])).stdout.trim()).toBe('');

    const seen: EventMessage[] = [];
    await client.events(
      { since, until: Math.ceil(Date.now() / 1000), filters: { event: ['health_status'], container: ['hc'] } },
      (e) => seen.push(e),
    );
    expect(seen.map((e) => e.Action)).toEqual(['health_status: unhealthy', 'health_status: healthy']);
    expect((await berth(['rm', '-f', 'hc'])).exitCode).toBe(0);
  });

  it('--link gives hosts entries and link variables on the default bridge, and is refused on a user network', async () => {
    const db = await berth(['run', '-d', '--name', 'linkdb', '-e', 'SECRET=s3', '--expose', '8080', s.image]);
    expect(db).toMatchObject({ exitCode: 0 });
    const ip = (await client.containerInspect('linkdb')).NetworkSettings.IPAddress;
    const r = await berth(['run', '--rm', '--link', 'linkdb:store', s.image, 'sh', '-c', 'cat /etc/hosts; env']);
    expect(r).toMatchObject({ exitCode: 0 });
    expect(r.stdout).toContain(`${ip}\tstore ${db.stdout.trim().slice(0, 12)} linkdb\n`);
    expect(r.stdout).toContain(`STORE_PORT=tcp://${ip}:8080\n`);
    expect(r.stdout).toContain(`STORE_PORT_8080_TCP_ADDR=${ip}\n`);
    expect(r.stdout).toContain('STORE_ENV_SECRET=s3\n');
    expect(r.stdout).toMatch(/^STORE_NAME=\/[a-z_]+\/store$/m);

    const net = `links-${process.pid}`;
    const prefix = s.world.network.subnetPrefix.split('.');
    const subnet = `${prefix[0]}.${prefix[1]}.${(Number(prefix[2]) + 3) % 250}.0/24`;
    const made = await berth(['network', 'create', '--subnet', subnet, net]);
    expect(made.exitCode, made.stderr).toBe(0);
    const refused = await berth(['run', '--rm', '--network', net, '--link', 'linkdb', s.image, 'true']);
    expect(refused.exitCode).toBe(125);
    expect(refused.stderr).toMatch(/Links: legacy links work on the default bridge network only/);
    expect((await berth(['network', 'rm', net])).exitCode).toBe(0);
    expect((await berth(['rm', '-f', 'linkdb'])).exitCode).toBe(0);
  });

  it('--ipc container: sees the /dev/shm of a --ipc shareable container; a private one cannot be joined', async () => {
    expect((await berth(['run', '-d', '--name', 'ipcowner', '--ipc', 'shareable', s.image])).exitCode).toBe(0);
    const w = await berth([
      'run',
      '--rm',
      '--ipc',
      'container:ipcowner',
      s.image,
      'sh',
      '-c',
      'echo shared > /dev/shm/f',
    ]);
    expect(w).toMatchObject({ exitCode: 0 });
    expect(await berth(['exec', 'ipcowner', 'cat', '/dev/shm/f'])).toMatchObject({ stdout: 'shared', exitCode: 0 });
    expect((await berth(['run', '-d', '--name', 'ipcpriv', '--ipc', 'private', s.image])).exitCode).toBe(0);
    const refused = await berth(['run', '--rm', '--ipc', 'container:ipcpriv', s.image, 'true']);
    expect(refused.exitCode).toBe(125);
    expect(refused.stderr).toMatch(/non-shareable IPC/);
    expect((await berth(['rm', '-f', 'ipcowner', 'ipcpriv'])).exitCode).toBe(0);
  });

  it('--no-healthcheck drops the image check; a killed berthd recovers and checks the restarted container', async () => {
    const none = await berth(['create', '--name', 'nohc', '--no-healthcheck', '--health-retries', '1', s.image]);
    expect(none.exitCode).not.toBe(0);
    expect(none.stderr).toMatch(/--no-healthcheck conflicts with --health-\* options/);

    const r = await berth([
      'run',
      '-d',
      '--name',
      'hc-restart',
      '--restart',
      'always',
      '--network',
      'none',
      '--health-cmd',
      'true',
      '--health-interval',
      '200ms',
      s.image,
    ]);
    expect(r).toMatchObject({ exitCode: 0 });
    await healthIs('hc-restart', 'healthy');
    const killedAt = Date.now();
    await killDaemon(s.daemon);
    s.daemon = await spawnDaemon(s.world);
    client = new ApiClient(s.daemon.host);
    // a probe of the new run: begun after the kill, by the checker the restart began
    await until('the restarted container healthy again', async () => {
      const i = await client.containerInspect('hc-restart');
      const last = i.State.Health?.Log.at(-1);
      return i.State.Running && i.State.Health?.Status === 'healthy' && last && Date.parse(last.Start) > killedAt
        ? true
        : undefined;
    });
    expect((await berth(['rm', '-f', 'hc-restart'])).exitCode).toBe(0);
  });
});
