// The `ip -batch` comparison path builds the same interface as the netlink path.
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { background } from '../trace/index.js';
import { ipLine, runIpBatch } from './ip-commands.js';
import { NetnsFixture } from './test-netns.js';
import { needs, root } from '../../testkit/needs.js';

const ctx = background();
const BR = `berth${process.pid}i`;
const VETH = `berth${process.pid}w`;

describe('ipLine', () => {
  it.each([
    [
      { op: 'veth.create', name: 'v0', peer: 'eth0', mtu: 1400, peerMac: '02:42:00:00:00:01', peerNetns: { pid: 42 } },
      'link add v0 mtu 1400 type veth peer name eth0 mtu 1400 address 02:42:00:00:00:01 netns 42',
    ],
    [{ op: 'addr.add', name: 'eth0', address: '10.0.0.2', prefix: 24 }, 'addr add 10.0.0.2/24 brd + dev eth0'],
    [{ op: 'route.default', gateway: '10.0.0.1', name: 'eth0' }, 'route add default via 10.0.0.1 dev eth0'],
    [
      { op: 'route.default', gateway: '10.0.0.1', name: 'eth0', mtu: 1400 },
      'route add default via 10.0.0.1 dev eth0 mtu 1400',
    ],
    [{ op: 'link.master', name: 'v0', master: 'br0' }, 'link set v0 master br0'],
  ] as const)('%j', (op, line) => {
    expect(ipLine(op)).toBe(line);
  });
});

needs(root()).describe('runIpBatch', () => {
  let fx: NetnsFixture;
  beforeEach(() => {
    fx = new NetnsFixture();
  });
  afterEach(async () => {
    await fx.cleanup();
    for (const l of [BR, VETH]) await execa('ip', ['link', 'del', l], { reject: false });
  });

  it('sets up bridge, veth and the namespace side with one ip process each', async () => {
    const ns = await fx.create();
    const host = await runIpBatch(ctx, [
      { op: 'bridge.create', name: BR },
      { op: 'addr.add', name: BR, address: '10.251.4.1', prefix: 24 },
      { op: 'link.up', name: BR },
      { op: 'veth.create', name: VETH, peer: 'eth0', peerNetns: { path: ns.path } },
      { op: 'link.master', name: VETH, master: BR },
      { op: 'link.up', name: VETH },
    ]);
    expect(host.map((s) => [s.name, s.where])).toEqual([['ip.batch', 'host']]);
    await runIpBatch(
      ctx,
      [
        { op: 'link.up', name: 'lo' },
        { op: 'addr.add', name: 'eth0', address: '10.251.4.2', prefix: 24 },
        { op: 'link.up', name: 'eth0' },
        { op: 'route.default', gateway: '10.251.4.1' },
      ],
      { path: ns.path },
    );
    expect((await execa('ip', ['-n', ns.name, 'route', 'show', 'default'])).stdout).toContain(
      'default via 10.251.4.1 dev eth0',
    );
    const err = await runIpBatch(ctx, [{ op: 'link.up', name: 'nosuch0' }], { path: ns.path }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^netns \/run\/netns\/berthtest-.*: ip -batch: /);
  });
});
