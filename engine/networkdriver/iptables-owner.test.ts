// Two networkdriver instances (two data roots) on one host: each one's recover()
// and reset() leave the other's iptables rules and berth's shared chains alone.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { background } from '../trace/index.js';
import { chainVanished, Iptables, parseTag } from './iptables.js';
import { BridgeDriver } from './network-driver.js';
import { clientFromHost, hostLinks, NetnsFixture } from './test-netns.js';
import { firstMissing, needs, root, tool, when } from '../../testkit/needs.js';

const ctx = background();
const pid = process.pid;
const octet = 100 + ((pid + 37) % 100);
// below the kernel's ephemeral range (32768+), so no outgoing connection holds it
const PORT_BASE = 21000 + (pid % 10000);
const isRoot = process.getuid?.() === 0;
const hasIptables =
  isRoot && (await execa('iptables', ['-w', '-t', 'nat', '-S', 'OUTPUT'], { reject: false })).exitCode === 0;
const iptablesMissing = firstMissing(root(), tool('iptables'), when(hasIptables, 'needs a working iptables nat table'));

describe('chainVanished', () => {
  it("knows the chain-gone errors of both iptables back ends, berth's hyphenated chain names included", () => {
    const failed = (stderr: string) => Object.assign(new Error('iptables jump: failed'), { stderr });
    expect(chainVanished(failed("iptables v1.8.9 (nf_tables): Chain 'BERTH-POSTROUTING' does not exist"))).toBe(true);
    expect(chainVanished(new Error('x', { cause: failed("Chain 'BERTH' does not exist") }))).toBe(true);
    expect(chainVanished(failed('iptables: No chain/target/match by that name.'))).toBe(true);
    expect(chainVanished(failed('iptables: Resource temporarily unavailable.'))).toBe(false);
  });
});

describe('parseTag', () => {
  it.each([
    ['0123456789ab:c1', { owner: '0123456789ab', tag: 'c1' }],
    ['0123456789ab:net:ff00', { owner: '0123456789ab', tag: 'net:ff00' }],
    ['c1', { tag: 'c1' }],
    ['net:0123456789ab', { tag: 'net:0123456789ab' }],
    ['0123456789ab', { tag: '0123456789ab' }],
    ['0123456789ab:', { tag: '0123456789ab:' }],
  ])('%s', (text, want) => {
    expect(parseTag(text)).toEqual(want);
  });

  it('refuses an owner that is not 12 hex digits', () => {
    expect(() => new Iptables('iptables', 'nothex')).toThrow(/^iptables owner "nothex": not 12 hex digits/);
  });
});

needs(iptablesMissing).describe('chains removed by another instance meanwhile', () => {
  const owner = (100000000000 + pid).toString(16).padStart(12, '0').slice(-12);
  const bridge = `berth${pid}cv`;

  afterEach(async () => {
    await new Iptables('iptables', owner).removeTagged(() => true);
    await new Iptables('iptables', owner).removeChainsIfUnused();
  });

  it('adds a rule after the empty chains were removed between ensureChains and the add', async () => {
    const a = new Iptables('iptables', owner);
    await a.ensureChains();
    // another berth instance resetting while the chains are still empty removes them
    const removed = await new Iptables().removeChainsIfUnused();
    await a.addBridgeRules(`cv${pid}`, bridge, `10.${octet}.77.0/24`, false);
    const mine = (await a.list()).filter((r) => r.owner === owner);
    expect(mine.map((r) => r.tag)).toEqual([`net:cv${pid}`, `net:cv${pid}`]);
    // the jumps into berth's chains are back too (checked only when they had really gone)
    if (removed) {
      const pre = await execa('iptables', ['-w', '-t', 'nat', '-S', 'POSTROUTING']);
      expect(pre.stdout).toMatch(/-j BERTH/);
    }
  });

  it("publishes a port after the empty chains were removed between ensureChains and the port's rules", async () => {
    const a = new Iptables('iptables', owner);
    await a.ensureChains();
    await new Iptables().removeChainsIfUnused();
    const p = { hostIp: '127.0.0.1', hostPort: PORT_BASE + 5, containerPort: 80, proto: 'tcp' as const };
    await a.addPortRules(`cp${pid}`, bridge, `10.${octet}.77.2`, p);
    const mine = (await a.list()).filter((r) => r.tag === `cp${pid}`);
    expect(mine.map((r) => r.chain).sort()).toEqual(['BERTH', 'BERTH-FORWARD']);
    const nat = await execa('iptables', ['-w', '-t', 'nat', '-S', 'OUTPUT']);
    expect(nat.stdout).toMatch(/-j BERTH$/m);
  });

  it('keeps every chain, its rules and its jumps while one rule is left in them', async () => {
    const a = new Iptables('iptables', owner);
    await a.ensureChains();
    const p = { hostIp: '127.0.0.1', hostPort: PORT_BASE + 6, containerPort: 80, proto: 'tcp' as const };
    await a.addPortRules(`kp${pid}`, bridge, `10.${octet}.77.3`, p, false); // nat only: filter's chain is empty
    expect(await new Iptables().removeChainsIfUnused()).toBe(false);
    expect((await a.list()).filter((r) => r.tag === `kp${pid}`)).toHaveLength(1);
    for (const [table, chain, target] of [
      ['nat', 'PREROUTING', 'BERTH'],
      ['nat', 'OUTPUT', 'BERTH'],
    ] as const) {
      const out = await execa('iptables', ['-w', '-t', table, '-S', chain]);
      expect(out.stdout).toMatch(new RegExp(`-j ${target}$`, 'm'));
    }
  });
});

needs(iptablesMissing).describe('two driver instances on one host (iptables)', () => {
  const roots: string[] = [];
  let fx: NetnsFixture;
  let drivers: BridgeDriver[];
  const bridges = [`berth${pid}oa`, `berth${pid}ob`];

  async function open(i: number): Promise<BridgeDriver> {
    const root = await mkdtemp(join(tmpdir(), `berth-own${i}-`));
    roots.push(root);
    const d = await BridgeDriver.open(ctx, {
      root,
      defaultNetwork: { bridge: bridges[i]!, subnet: `10.${octet}.${30 + i}.0/24` },
      masquerade: false,
      portDriver: 'iptables',
    });
    drivers.push(d);
    return d;
  }

  beforeEach(() => {
    fx = new NetnsFixture();
    drivers = [];
  });

  afterEach(async () => {
    await fx.cleanup();
    for (const d of drivers.reverse()) await d.reset(ctx).catch(() => undefined);
    for (const b of bridges)
      for (const link of await hostLinks(b)) await execa('ip', ['link', 'del', link], { reject: false });
    for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
  });

  it("recover and reset of one keep the other's rules, chains and published port", async () => {
    const a = await open(0);
    const b = await open(1);
    expect(a.owner).toMatch(/^[0-9a-f]{12}$/);
    expect(b.owner).not.toBe(a.owner);
    const nsA = await fx.create();
    const nsB = await fx.create();
    await a.allocateInterface(ctx, {
      containerId: `own${pid}a`,
      network: 'bridge',
      netns: { path: nsA.path },
      hostname: 'a',
    });
    await b.allocateInterface(ctx, {
      containerId: `own${pid}b`,
      network: 'bridge',
      netns: { path: nsB.path },
      hostname: 'b',
    });
    await a.allocatePort(ctx, `own${pid}a`, `127.0.0.1:${PORT_BASE}:80`);
    await b.allocatePort(ctx, `own${pid}b`, `127.0.0.1:${PORT_BASE + 1}:8080`);
    await fx.echoServer(nsB.name, 8080);
    const all = new Iptables();
    const rulesOf = async (owner: string) => (await all.list()).filter((r) => r.owner === owner);
    const bBefore = await rulesOf(b.owner);
    expect(bBefore.map((r) => r.tag)).toEqual(
      expect.arrayContaining([`own${pid}b`, `net:${b.listNetworks(ctx)[0]!.id}`]),
    );
    // An instance's own view lists only its rules.
    expect((await new Iptables('iptables', a.owner).list()).every((r) => r.owner === a.owner)).toBe(true);

    // a restarts and knows no live container: only its own rules go.
    const report = await a.recover(ctx, []);
    expect(report.endpoints).toEqual([`own${pid}a`]);
    expect((await rulesOf(a.owner)).map((r) => r.tag)).toEqual(
      (await rulesOf(a.owner)).map(() => `net:${a.listNetworks(ctx)[0]!.id}`),
    );
    expect(await rulesOf(b.owner)).toEqual(bBefore);

    // a's full reset keeps the chains and jumps b still uses: b's port keeps working.
    await a.reset(ctx);
    expect(await rulesOf(a.owner)).toEqual([]);
    expect(await rulesOf(b.owner)).toEqual(bBefore);
    expect(
      (
        await execa(
          'iptables',
          ['-w', '-t', 'nat', '-C', 'OUTPUT', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'BERTH'],
          { reject: false },
        )
      ).exitCode,
    ).toBe(0);
    expect(await clientFromHost('127.0.0.1', PORT_BASE + 1)).toBe('echo:ping');
    expect((await b.recover(ctx, [`own${pid}b`])).rules).toBe(0);

    await b.reset(ctx);
    expect(await rulesOf(b.owner)).toEqual([]);
    const left = await all.list();
    // With no other berth instance's rules on the host, the last reset also removes the chains.
    if (left.length === 0)
      expect((await execa('iptables', ['-w', '-t', 'nat', '-S', 'BERTH'], { reject: false })).exitCode).not.toBe(0);
  });

  it('removePortRules deletes exactly the known rules in one transaction, without listing', async () => {
    const owner = (pid.toString(16) + '0'.repeat(12)).slice(0, 12);
    const ipt = new Iptables('iptables', owner);
    await ipt.ensureChains();
    try {
      const tcp = { hostIp: '127.0.0.1', hostPort: PORT_BASE + 3, containerPort: 80, proto: 'tcp' as const };
      const udp = { ...tcp, proto: 'udp' as const };
      await ipt.addPortRules(`rm${pid}`, bridges[0]!, `10.${octet}.30.9`, tcp);
      await ipt.addPortRules(`rm${pid}`, bridges[0]!, `10.${octet}.30.9`, udp);
      expect(await ipt.list()).toHaveLength(4);
      const listed = ipt.removeTagged.bind(ipt);
      ipt.removeTagged = () => Promise.reject(new Error('listed'));
      await ipt.removePortRules(`rm${pid}`, bridges[0]!, `10.${octet}.30.9`, [{ p: tcp, forward: true }]);
      ipt.removeTagged = listed;
      expect((await ipt.list()).map((r) => r.args.join(' '))).toEqual([
        expect.stringContaining('-p udp'),
        expect.stringContaining('-p udp'),
      ]);
      // Already gone: falls back to listing, removes what is left, no error.
      await ipt.removePortRules(`rm${pid}`, bridges[0]!, `10.${octet}.30.9`, [
        { p: tcp, forward: true },
        { p: udp, forward: true },
      ]);
      expect(await ipt.list()).toEqual([]);
    } finally {
      await ipt.removeTagged(() => true);
      await ipt.removeChainsIfUnused();
    }
  });

  it('publishes one port through the userland proxy on an iptables driver when asked', async () => {
    const a = await open(0);
    const ns = await fx.create();
    await a.allocateInterface(ctx, {
      containerId: `via${pid}`,
      network: 'bridge',
      netns: { path: ns.path },
      hostname: 'v',
    });
    await fx.echoServer(ns.name, 8080);
    const port = await a.allocatePort(ctx, `via${pid}`, `127.0.0.1:${PORT_BASE + 2}:8080`, { via: 'proxy' });
    expect(port.via).toBe('proxy');
    expect(await new Iptables('iptables', a.owner).list()).not.toContainEqual(
      expect.objectContaining({ tag: `via${pid}` }),
    );
    expect(await clientFromHost('127.0.0.1', PORT_BASE + 2)).toBe('echo:ping');
    await a.releaseInterface(ctx, `via${pid}`);
    await expect(clientFromHost('127.0.0.1', PORT_BASE + 2)).rejects.toThrow(/ECONNREFUSED/);
  });
});
