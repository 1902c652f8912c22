// releaseInterface with netnsGone: the host veth is left to the kernel (it dies
// with the namespace) and to the reaper, which deletes one still present after
// the grace period, never a re-allocated one; close() stops it, recover() finishes it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { background } from '../trace/index.js';
import { readJournal } from './ipam.js';
import { hostVethName, BridgeDriver, type NetworkDriverOptions } from './network-driver.js';
import { hostLinks, NetnsFixture } from './test-netns.js';
import { needs, root } from '../../testkit/needs.js';

const ctx = background();
const pid = process.pid;
const octet = 100 + ((pid + 61) % 100);
const BRIDGE = `berth${pid}r`;

/** Polls until cond holds (the kernel and the reaper work asynchronously); false after timeoutMs. */
async function eventually(cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 20)))
    if (await cond()) return true;
  return cond();
}

const present = async (name: string) => (await hostLinks(name)).includes(name);

/** `unshare --net sleep` children of this file, ended by pid in afterEach. */
const sleepers: ChildProcess[] = [];

async function sleeperWithNetns(): Promise<ChildProcess> {
  const child = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
  sleepers.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  // unshare execs sleep in the same process once the namespace exists.
  expect(
    await eventually(async () => (await readlink(`/proc/${child.pid}/exe`).catch(() => '')).endsWith('/sleep'), 5000),
  ).toBe(true);
  return child;
}

async function end(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

needs(root()).describe('releaseInterface with netnsGone (kernel)', () => {
  let root: string;
  let fx: NetnsFixture;
  let drivers: BridgeDriver[];

  async function open(extra: Partial<NetworkDriverOptions> = {}): Promise<BridgeDriver> {
    const d = await BridgeDriver.open(ctx, {
      root,
      defaultNetwork: { bridge: BRIDGE, subnet: `10.${octet}.40.0/24` },
      masquerade: false,
      portDriver: 'proxy',
      ...extra,
    });
    drivers.push(d);
    return d;
  }

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-reap-'));
    fx = new NetnsFixture();
    drivers = [];
  });

  afterEach(async () => {
    for (const c of sleepers.splice(0)) await end(c);
    for (const d of drivers.reverse()) await d.reset(ctx).catch(() => undefined);
    await fx.cleanup();
    for (const link of await hostLinks(BRIDGE)) await execa('ip', ['link', 'del', link], { reject: false });
    for (const c of ['gone1', 'kept1', 'same1', 'late1', 'crash1', 'pid1', 'pid2', 'pid3'])
      await execa('ip', ['link', 'del', hostVethName(c)], { reject: false });
    await rm(root, { recursive: true, force: true });
  });

  it('frees the address at once (on disk by close() at the latest); the veth goes with the namespace', async () => {
    const d = await open();
    const ns = await fx.create();
    const r = await d.allocateInterface(ctx, {
      containerId: 'gone1',
      network: 'bridge',
      netns: { path: ns.path },
      hostname: 'g',
    });
    await d.releaseInterface(ctx, 'gone1', { netnsGone: true });
    expect(d.endpoint(ctx, 'gone1')).toBeUndefined();
    expect(d.inspectNetwork(ctx, 'bridge').containers).toEqual([]);
    await d.close(ctx);
    const ipam = await readJournal(join(root, 'network', 'ipam', `${d.listNetworks(ctx)[0]!.id}.jsonl`));
    expect(Object.values(ipam!.pool.allocations)).not.toContain('gone1');
    await fx.cleanup();
    expect(await eventually(async () => !(await present(r.hostVeth!)))).toBe(true);
  });

  it('the reaper deletes a veth whose namespace stayed, and not one re-allocated under the same name', async () => {
    const d = await open({ vethGraceMs: 100 });
    const a = await fx.create();
    const b = await fx.create();
    const kept = await d.allocateInterface(ctx, {
      containerId: 'kept1',
      network: 'bridge',
      netns: { path: a.path },
      hostname: 'k',
    });
    await d.releaseInterface(ctx, 'kept1', { netnsGone: true });
    expect(await eventually(async () => !(await present(kept.hostVeth!)))).toBe(true);
    expect(await fx.links(a.name)).toEqual(['lo']);

    const c = await fx.create();
    await d.allocateInterface(ctx, { containerId: 'same1', network: 'bridge', netns: { path: b.path }, hostname: 's' });
    await d.releaseInterface(ctx, 'same1', { netnsGone: true });
    // Re-allocated before the grace period ends: the old veth is deleted first, the new one stays.
    const again = await d.allocateInterface(ctx, {
      containerId: 'same1',
      network: 'bridge',
      netns: { path: c.path },
      hostname: 's',
    });
    expect(await fx.links(b.name)).toEqual(['lo']);
    await new Promise((r) => setTimeout(r, 400));
    expect(await present(again.hostVeth!)).toBe(true);
    expect(await fx.links(c.name)).toEqual(['lo', 'eth0']);
  });

  it('close() stops the reaper; recover() deletes what it left', async () => {
    const d = await open({ vethGraceMs: 60_000 });
    const ns = await fx.create();
    const r = await d.allocateInterface(ctx, {
      containerId: 'late1',
      network: 'bridge',
      netns: { path: ns.path },
      hostname: 'l',
    });
    await d.releaseInterface(ctx, 'late1', { netnsGone: true });
    await d.close(ctx);
    expect(await present(r.hostVeth!)).toBe(true);
    const report = await d.recover(ctx, []);
    expect(report.veths).toEqual([r.hostVeth]);
    expect(await present(r.hostVeth!)).toBe(false);
  });

  it('recover() deletes the veth of an endpoint rebuilt from its address, also off the bridge', async () => {
    const d = await open();
    const ns = await fx.create();
    const r = await d.allocateInterface(ctx, {
      containerId: 'crash1',
      network: 'bridge',
      netns: { path: ns.path },
      hostname: 'c',
    });
    // A bridge endpoint without ports has no record of its own: its address is its record.
    expect(existsSync(join(root, 'network', 'endpoints', 'crash1.json'))).toBe(false);
    // As if the process died after the address was on disk, before link.master.
    await execa('ip', ['link', 'set', r.hostVeth!, 'nomaster']);
    const again = await open();
    const report = await again.recover(ctx, []);
    expect(report.veths).toEqual([r.hostVeth]);
    expect(report.addresses).toEqual([r.address]);
    expect(await present(r.hostVeth!)).toBe(false);
  });

  it('infers netnsGone when the pid that named the namespace has exited and no one shares it', async () => {
    const d = await open({ vethGraceMs: 100 });
    const alive = await sleeperWithNetns();
    const r1 = await d.allocateInterface(ctx, {
      containerId: 'pid1',
      network: 'bridge',
      netns: { pid: alive.pid! },
      hostname: 'p',
    });
    await d.releaseInterface(ctx, 'pid1');
    // The process still holds it: deleted synchronously.
    expect(d.pendingVeths(ctx)).toEqual([]);
    expect(await present(r1.hostVeth!)).toBe(false);

    const dying = await sleeperWithNetns();
    const shared = await sleeperWithNetns();
    const r2 = await d.allocateInterface(ctx, {
      containerId: 'pid2',
      network: 'bridge',
      netns: { pid: dying.pid! },
      hostname: 'p',
    });
    const r3 = await d.allocateInterface(ctx, {
      containerId: 'pid3',
      network: 'bridge',
      netns: { pid: shared.pid! },
      hostname: 'p',
    });
    await d.allocateInterface(ctx, {
      containerId: 'pid3side',
      network: 'container:pid3',
      netns: { pid: shared.pid! },
      hostname: 'p',
    });
    await end(dying);
    await end(shared);
    expect(
      await stat(`/proc/${dying.pid}/ns/net`).then(
        () => 'present',
        () => 'gone',
      ),
    ).toBe('gone');
    await d.releaseInterface(ctx, 'pid2');
    expect(d.pendingVeths(ctx)).toEqual([r2.hostVeth]);
    // pid3's namespace is shared with another endpoint: no guess, a synchronous delete.
    await d.releaseInterface(ctx, 'pid3');
    expect(d.pendingVeths(ctx)).not.toContain(r3.hostVeth);
    expect(await present(r3.hostVeth!)).toBe(false);
    expect(await eventually(async () => !(await present(r2.hostVeth!)) && d.pendingVeths(ctx).length === 0)).toBe(true);
  });
});
