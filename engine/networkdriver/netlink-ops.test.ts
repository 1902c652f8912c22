// The addon's rtnetlink path against the kernel: host-side and in-namespace steps,
// namespaces by path and by pid, and errors that name the step, interface and errno.
import { closeSync, constants as fsc, openSync, readFileSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { native } from '../../native/index.js';
import { background } from '../trace/index.js';
import { bridgeInterfaceOps } from './interface-plan.js';
import { ipLine } from './ip-commands.js';
import { runSteps, type NetlinkOp } from './netlink-ops.js';
import { NetnsFixture } from './test-netns.js';
import { needs, root } from '../../testkit/needs.js';

const ctx = background();
const BR = `berth${process.pid}n`;
const VETH = `berth${process.pid}v`;

needs(root()).describe('runSteps (rtnetlink)', () => {
  let fx: NetnsFixture;
  beforeEach(() => {
    fx = new NetnsFixture();
  });
  afterEach(async () => {
    await fx.cleanup();
    for (const l of [BR, VETH]) await execa('ip', ['link', 'del', l], { reject: false });
  });

  it('builds a bridge and a veth whose peer is born in a pid-identified namespace', async () => {
    const pid = await fx.processWithNetns();
    const host = await runSteps(ctx, [
      { op: 'bridge.create', name: BR, mtu: 1400 },
      { op: 'addr.add', name: BR, address: '10.251.3.1', prefix: 24 },
      { op: 'link.up', name: BR },
      { op: 'veth.create', name: VETH, peer: 'eth0', mtu: 1400, peerMac: '02:42:0a:fb:03:02', peerNetns: { pid } },
      { op: 'link.master', name: VETH, master: BR },
      { op: 'link.up', name: VETH },
    ]);
    expect(host.map((s) => s.name)).toEqual([
      'socket',
      'bridge.create',
      'addr.add',
      'link.up',
      'veth.create',
      'link.master',
      'link.up',
    ]);
    expect(host.every((s) => s.where === 'host' && s.error === undefined)).toBe(true);
    const inside = await runSteps(
      ctx,
      [
        { op: 'link.up', name: 'lo' },
        { op: 'addr.add', name: 'eth0', address: '10.251.3.2', prefix: 24 },
        { op: 'link.up', name: 'eth0' },
        { op: 'route.default', gateway: '10.251.3.1' },
      ],
      { pid },
    );
    expect(inside.map((s) => s.name)).toEqual([
      'netns.open',
      'child',
      'setns',
      'socket',
      'link.up',
      'addr.add',
      'link.up',
      'route.default',
    ]);
    const child = inside.find((s) => s.name === 'child')!;
    for (const s of inside.filter((x) => ['setns', 'addr.add'].includes(x.name))) {
      expect(s.startNs).toBeGreaterThanOrEqual(child.startNs);
      expect(s.endNs).toBeLessThanOrEqual(child.endNs);
    }
    const link = await execa('nsenter', ['-t', String(pid), '-n', 'ip', '-o', 'link', 'show', 'eth0']);
    expect(link.stdout).toMatch(/mtu 1400/);
    expect(link.stdout).toContain('link/ether 02:42:0a:fb:03:02');
    const route = await execa('nsenter', ['-t', String(pid), '-n', 'ip', 'route', 'show', 'default']);
    expect(route.stdout).toContain('default via 10.251.3.1 dev eth0');
    expect((await execa('ip', ['-o', 'link', 'show', VETH])).stdout).toContain(`master ${BR}`);
    // The in-namespace steps happened there, not in the host's namespace.
    expect((await execa('ip', ['-4', '-o', 'addr', 'show'])).stdout).not.toContain('10.251.3.2/');
  });

  it('fails naming the step, the interface and the errno, with the steps so far', async () => {
    await runSteps(ctx, [{ op: 'bridge.create', name: BR }]);
    const err = await runSteps(ctx, [
      { op: 'link.up', name: BR },
      { op: 'bridge.create', name: BR },
      { op: 'link.up', name: BR },
    ]).catch((e: unknown) => e);
    expect(isBerthError(err, 'ALREADY_EXISTS')).toBe(true);
    expect((err as Error).message).toBe(`bridge ${BR}: RTM_NEWLINK: EEXIST`);
    const steps = (err as { details: { steps: { name: string; error?: string }[] } }).details.steps;
    expect(steps.map((s) => s.name)).toEqual(['socket', 'link.up', 'bridge.create']);
    expect(steps[2]!.error).toBe('EEXIST');
    // The kernel's extended-ack text comes along when it gives one.
    const mtu = await runSteps(ctx, [{ op: 'link.mtu', name: BR, mtu: 10 }]).catch((e: unknown) => e);
    expect((mtu as Error).message).toMatch(new RegExp(`^link ${BR}: RTM_NEWLINK: EINVAL \\(.*[Mm][Tt][Uu].*\\)$`));
    // ifExistsOk makes the same request idempotent.
    await runSteps(ctx, [{ op: 'bridge.create', name: BR, ifExistsOk: true }]);

    const ns = await fx.create();
    const inNs = await runSteps(ctx, [{ op: 'link.up', name: 'eth7' }], { path: ns.path }).catch((e: unknown) => e);
    expect((inNs as Error).message).toBe('link eth7: RTM_NEWLINK: ENODEV');
    expect(isBerthError(inNs, 'NOT_FOUND')).toBe(true);
    const gone = await runSteps(ctx, [{ op: 'link.up', name: 'lo' }], {
      path: `/run/netns/berthtest-${process.pid}-none`,
    }).catch((e: unknown) => e);
    expect((gone as Error).message).toMatch(/^netns \/run\/netns\/berthtest-\d+-none: netns.open: ENOENT$/);
    await runSteps(ctx, [{ op: 'link.delete', name: VETH, ifMissingOk: true }]);
  });

  it('runs the whole bridge interface from inside the namespace: host end born on the bridge and up', async () => {
    await runSteps(ctx, [
      { op: 'bridge.create', name: BR },
      { op: 'addr.add', name: BR, address: '10.251.4.1', prefix: 24 },
      { op: 'link.up', name: BR },
    ]);
    const ns = await fx.create();
    const ops = bridgeInterfaceOps({
      hostVeth: VETH,
      bridge: BR,
      netns: { path: ns.path },
      address: '10.251.4.2',
      prefix: 24,
      gateway: '10.251.4.1',
      mac: '02:42:0a:fb:04:02',
      mtu: 1450,
    });
    const steps = await runSteps(ctx, ops, { path: ns.path });
    expect(steps.map((s) => s.name)).toEqual([
      'netns.open',
      'child',
      'setns',
      'socket',
      'veth.create',
      'link.up',
      'addr.add',
      'link.nolinklocal',
      'link.up',
      'route.default',
    ]);
    // the create goes alone, the other five in one batch: each of those starts when the one before it was acked
    const requests = steps.slice(4);
    for (let i = 2; i < requests.length; i++) expect(requests[i]!.startNs).toBe(requests[i - 1]!.endNs);
    expect(requests[1]!.startNs).toBeGreaterThanOrEqual(requests[0]!.endNs);
    const host = (await execa('ip', ['-o', 'link', 'show', VETH])).stdout;
    expect(host).toContain(`master ${BR}`);
    expect(host).toMatch(/mtu 1450/);
    expect(host).toMatch(/<[^>]*\bUP\b[^>]*>/);
    expect(await fx.links(ns.name)).toEqual(['lo', 'eth0']);
    const eth0 = (await execa('ip', ['-n', ns.name, '-o', 'link', 'show', 'eth0'])).stdout;
    expect(eth0).toContain('link/ether 02:42:0a:fb:04:02');
    // no IPv6 link-local address on eth0 (nothing of it flooded to the bridge's other ports); lo keeps ::1
    expect((await execa('ip', ['-n', ns.name, '-6', 'addr', 'show', 'dev', 'eth0'])).stdout).toBe('');
    expect((await execa('ip', ['-n', ns.name, '-6', 'addr', 'show', 'dev', 'lo'])).stdout).toContain('::1/128');
    expect((await execa('ip', ['-n', ns.name, 'route', 'show', 'default'])).stdout).toContain(
      'default via 10.251.4.1 dev eth0',
    );
    // A batch stops its records at the first failure; a missing master fails veth.create before the kernel.
    await runSteps(ctx, [{ op: 'link.delete', name: VETH }]);
    const bad = await runSteps(ctx, [{ ...ops[0]!, master: `${BR}x` } as NetlinkOp], { path: ns.path }).catch(
      (e: unknown) => e,
    );
    expect((bad as Error).message).toBe(`veth ${VETH}: RTM_NEWLINK: ENODEV (master ${BR}x: ENODEV)`);
    expect((await execa('ip', ['link', 'show', VETH], { reject: false })).exitCode).not.toBe(0);
    const mid = await runSteps(
      ctx,
      [
        { op: 'link.up', name: 'lo' },
        { op: 'addr.add', name: 'lo', address: '127.0.0.1', prefix: 8 },
        { op: 'link.up', name: 'lo' },
      ],
      { path: ns.path },
    ).catch((e: unknown) => e);
    expect((mid as Error).message).toMatch(/^link lo: RTM_NEWADDR: EEXIST/);
    const midSteps = (mid as { details: { steps: { name: string }[] } }).details.steps;
    expect(midSteps.map((s) => s.name).slice(-2)).toEqual(['link.up', 'addr.add']);
  });

  it('rewrites files in place while the child works, and reports a failing file after the link steps', async () => {
    const ns = await fx.create();
    const dir = await mkdtemp(join(tmpdir(), 'berth-nlfiles-'));
    try {
      await writeFile(join(dir, 'a'), 'old content, longer than the new one');
      const ino = (await stat(join(dir, 'a'))).ino;
      const files = {
        step: 'etc.write',
        subject: 'etc file',
        list: [
          { path: join(dir, 'a'), data: 'new\n', mode: 0o640 },
          { path: join(dir, 'sub', 'deeper', 'b'), data: 'made with its directories\n' },
        ],
      };
      const steps = await runSteps(ctx, [{ op: 'link.up', name: 'lo' }], { path: ns.path }, files);
      expect(steps.at(-1)).toMatchObject({ name: 'etc.write', subject: 'etc file', origin: 'native' });
      expect(steps.map((s) => s.name)).toContain('link.up');
      expect(await readFile(join(dir, 'a'), 'utf8')).toBe('new\n');
      expect((await stat(join(dir, 'a'))).ino).toBe(ino);
      expect((await stat(join(dir, 'a'))).mode & 0o7777).toBe(0o640);
      expect(await readFile(join(dir, 'sub', 'deeper', 'b'), 'utf8')).toBe('made with its directories\n');
      expect((await stat(join(dir, 'sub', 'deeper', 'b'))).mode & 0o7777).toBe(0o644);
      expect((await execa('ip', ['-n', ns.name, 'link', 'show', 'lo'])).stdout).toMatch(/<LOOPBACK,UP/);

      // a path under a regular file: the link steps still ran, the error names the file
      const bad = { ...files, list: [{ path: join(dir, 'a', 'x'), data: 'y' }] };
      const err = await runSteps(ctx, [{ op: 'link.up', name: 'lo' }], { path: ns.path }, bad).catch((e: unknown) => e);
      expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
      expect((err as Error).message).toBe(`etc file ${join(dir, 'a', 'x')}: open: ENOTDIR`);
      const failedSteps = (err as { details: { steps: { name: string; error?: string }[] } }).details.steps;
      expect(failedSteps.find((s) => s.name === 'link.up')?.error).toBeUndefined();
      expect(failedSteps.at(-1)).toMatchObject({ name: 'etc.write', error: 'ENOTDIR' });
      // a failing link step comes first
      const both = await runSteps(ctx, [{ op: 'link.up', name: 'nosuch0' }], { path: ns.path }, bad).catch(
        (e: unknown) => e,
      );
      expect((both as Error).message).toMatch(/^link nosuch0: RTM_NEWLINK: ENODEV/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs on threads of its own: completes while every libuv threadpool thread is blocked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-nlpool-'));
    const fifo = join(dir, 'fifo');
    await execa('mkfifo', [fifo]);
    // each open of a FIFO for reading holds one threadpool thread until a writer opens it
    const size = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    const readers = Array.from({ length: size }, () => open(fifo, 'r'));
    try {
      const steps = await runSteps(ctx, [], undefined, {
        step: 'etc.write',
        subject: 'etc file',
        list: [{ path: join(dir, 'f'), data: 'x' }],
      });
      expect(steps.map((s) => s.name)).toEqual(['etc.write']);
      // synchronous: an async read would wait for the blocked threadpool
      expect(readFileSync(join(dir, 'f'), 'utf8')).toBe('x');
    } finally {
      // O_RDWR opens a FIFO without waiting (Linux), which releases the readers
      const w = openSync(fifo, fsc.O_RDWR);
      for (const h of await Promise.all(readers)) await h.close();
      closeSync(w);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects malformed ops before touching the kernel', () => {
    expect(() =>
      native().netlinkApply([{ op: 'veth.create', name: 'a', peer: 'b', master: 'br0' }], {
        path: '/proc/self/ns/net',
      }),
    ).toThrow(/master in a target namespace needs inHost/);
    expect(() => ipLine({ op: 'veth.create', name: 'a', peer: 'b', inHost: true })).toThrow(/inHost/);
    expect(() => native().netlinkApply([{ op: 'addr.add', name: 'eth0', address: '10.1.1', prefix: 24 }])).toThrow(
      /invalid IPv4 address 10.1.1/,
    );
    expect(() => native().netlinkApply([{ op: 'link.up', name: 'averyveryverylongname' }])).toThrow(
      /interface name too long/,
    );
    expect(() => native().netlinkApply([{ op: 'nope' } as never])).toThrow(/unknown op nope/);
    expect(() => native().netlinkApply([{ op: 'veth.create', name: 'a', peer: 'b', peerMac: 'zz' }])).toThrow(
      /invalid MAC/,
    );
    expect(() => native().netlinkApply([], undefined, [{ path: 'relative', data: '' }])).toThrow(
      /files\[0\]\.path must be an absolute path/,
    );
    expect(() => native().netlinkApply([], undefined, [{ path: '/x', data: 1 as never }])).toThrow(
      /files\[0\]\.data must be a string/,
    );
    expect(() => native().netlinkApply([], undefined, [{ path: '/x', data: '', mode: 0o17777 }])).toThrow(
      /files\[0\]\.mode must be a permission number/,
    );
  });
});
