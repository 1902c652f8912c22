// The networkdriver against the real kernel: namespaces, a test bridge, veths,
// iptables DNAT and the userland proxy. Every test makes its own namespaces and a
// bridge `berth<pid>` with a 10.x subnet, and removes all of it in afterEach.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { background, collect, instrument } from '../trace/index.js';
import { bootTimeMs } from '../fsutil/state-file.js';
import { Iptables } from './iptables.js';
import { readJournal } from './ipam.js';
import { networkDriverBoundary, type NetworkDriver } from './driver.js';
import { LOCAL_MTU, BridgeDriver, type NetworkDriverOptions } from './network-driver.js';
import { berthLinks, clientFromHost, hostLinks, NetnsFixture } from './test-netns.js';
import { firstMissing, needs, root, tool, when } from '../../testkit/needs.js';

const ctx = background();
const pid = process.pid;
const octet = 100 + (pid % 100);
const SUBNET = `10.${octet}.7.0/24`;
const GATEWAY = `10.${octet}.7.1`;
const BRIDGE = `berth${pid}`;
/** A host veth name of berth's form, unique to this process (the peer is `${BRIDGE}p`). */
const ORPHAN = `berth${pid.toString(16).padStart(10, '0')}`;
// below the kernel's ephemeral range (32768+), so no outgoing connection holds it
const PORT_BASE = 20000 + (pid % 10000);
const hasIptables = (await execa('iptables', ['-w', '-t', 'nat', '-S', 'OUTPUT'], { reject: false })).exitCode === 0;
const iptablesMissing = firstMissing(tool('iptables'), when(hasIptables, 'needs a working iptables nat table'));

async function expectError(p: Promise<unknown>, code: string, text: RegExp | string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBerthError(err), `expected a BerthError, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  expect((err as Error).message).toMatch(text);
}

needs(root()).describe('BridgeDriver (kernel)', () => {
  let root: string;
  let fx: NetnsFixture;
  let drivers: BridgeDriver[];

  async function open(extra: Partial<NetworkDriverOptions> = {}): Promise<BridgeDriver> {
    const d = await BridgeDriver.open(ctx, {
      root,
      defaultNetwork: { bridge: BRIDGE, subnet: SUBNET },
      masquerade: false,
      portDriver: 'proxy',
      ...extra,
    });
    drivers.push(d);
    return d;
  }

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-net-'));
    fx = new NetnsFixture();
    drivers = [];
  });

  afterEach(async () => {
    await fx.cleanup();
    for (const d of drivers.reverse()) await d.reset(ctx).catch(() => undefined);
    for (const link of [...(await hostLinks(BRIDGE)), ...(await hostLinks(ORPHAN))])
      await execa('ip', ['link', 'del', link], { reject: false });
    await rm(root, { recursive: true, force: true });
  });

  it('connects two containers on the bridge to each other and to the gateway', async () => {
    const d = await open();
    const a = await fx.create();
    const b = await fx.create();
    const etc = join(root, 'etc-a');
    const traced = instrument<NetworkDriver>('networkdriver', d, networkDriverBoundary);
    const { result: ra, spans } = await collect(() =>
      traced.allocateInterface(ctx, {
        containerId: 'aaaa1',
        network: 'bridge',
        netns: { path: a.path },
        hostname: 'alpha',
        etcDir: etc,
      }),
    );
    const rb = await d.allocateInterface(ctx, {
      containerId: 'bbbb2',
      network: 'bridge',
      netns: { path: b.path },
      hostname: 'beta',
    });
    expect(ra.address).not.toBe(rb.address);
    expect(ra.gateway).toBe(GATEWAY);
    expect(ra.mac).toMatch(/^02:42:/);
    const names = ra.steps.map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining(['ipam.allocate', 'veth.create', 'setns', 'addr.add', 'route.default', 'etc.write']),
    );
    for (const s of ra.steps) expect(s.endNs).toBeGreaterThanOrEqual(s.startNs);
    const top = spans.find((s) => s.name === 'networkdriver.allocateInterface')!;
    expect(top.attributes).toMatchObject({ containerId: 'aaaa1', address: ra.address! });
    const children = spans.filter((s) => s.parentId === top.id);
    expect(children.filter((s) => s.origin === 'native').map((s) => s.name)).toEqual(
      expect.arrayContaining(['networkdriver.veth.create', 'networkdriver.setns', 'networkdriver.route.default']),
    );
    expect(children.map((s) => s.name)).toContain('networkdriver.ipam.allocate');

    expect(await fx.links(a.name)).toEqual(['lo', 'eth0']);
    const route = await execa('ip', ['-n', a.name, 'route', 'show', 'default']);
    expect(route.stdout).toContain(`via ${GATEWAY} dev eth0`);
    expect(await readFile(join(etc, 'hostname'), 'utf8')).toBe('alpha\n');
    expect(await readFile(join(etc, 'hosts'), 'utf8')).toContain(`${ra.address}\talpha`);
    expect(await readFile(join(etc, 'resolv.conf'), 'utf8')).not.toMatch(/nameserver 127\./);

    await fx.echoServer(b.name, 7001);
    expect(await fx.clientIn(a.name, rb.address!, 7001)).toBe('echo:ping');

    const gw = net.createServer((s) => s.on('data', (x) => s.end(`gw:${x}`)));
    await new Promise<void>((r) => gw.listen(7002, GATEWAY, r));
    try {
      expect(await fx.clientIn(a.name, GATEWAY, 7002)).toBe('gw:ping');
    } finally {
      await new Promise((r) => gw.close(r));
    }
  });

  describe.each([
    ['proxy', true],
    ['iptables', hasIptables],
  ] as const)('published port via %s', (portDriver, available) => {
    needs(available ? undefined : iptablesMissing).it(
      'reaches the server in the container from 127.0.0.1 and is removed on release',
      async () => {
        const d = await open({ portDriver });
        const a = await fx.create();
        const r = await d.allocateInterface(ctx, {
          containerId: 'pub1',
          network: 'bridge',
          netns: { path: a.path },
          hostname: 'pub',
        });
        await fx.echoServer(a.name, 8080);
        const hostPort = PORT_BASE + (portDriver === 'proxy' ? 1 : 2);
        const port = await d.allocatePort(ctx, 'pub1', `127.0.0.1:${hostPort}:8080`);
        expect(port.via).toBe(portDriver);
        expect(await clientFromHost('127.0.0.1', hostPort)).toBe('echo:ping');
        if (portDriver === 'iptables')
          expect(
            (await new Iptables().list()).some((x) => x.tag === 'pub1' && x.args.includes(`${r.address}:8080`)),
          ).toBe(true);
        // A second host port onto the same container port; releasing the first keeps it working.
        await d.allocatePort(ctx, 'pub1', `${hostPort + 100}:8080`);
        await d.releasePort(ctx, 'pub1', `127.0.0.1:${hostPort}:8080/tcp`);
        await expect(clientFromHost('127.0.0.1', hostPort)).rejects.toThrow(/ECONNREFUSED/);
        expect(await clientFromHost('127.0.0.1', hostPort + 100)).toBe('echo:ping');
        // A port another program holds is a CONFLICT and adds nothing.
        const taken = net.createServer();
        await new Promise<void>((res) => taken.listen(hostPort + 200, '127.0.0.1', res));
        try {
          await expectError(
            d.allocatePort(ctx, 'pub1', `${hostPort + 200}:8080`),
            'CONFLICT',
            new RegExp(`port 127.0.0.1:${hostPort + 200}/tcp: already in use`),
          );
        } finally {
          await new Promise((res) => taken.close(res));
        }
        expect(d.endpoint(ctx, 'pub1')!.ports.map((q) => q.hostPort)).toEqual([hostPort + 100]);
        await d.releaseInterface(ctx, 'pub1');
        await expect(clientFromHost('127.0.0.1', hostPort + 100)).rejects.toThrow(/ECONNREFUSED/);
        if (portDriver === 'iptables')
          expect((await new Iptables().list()).filter((x) => x.tag === 'pub1')).toEqual([]);
      },
    );
  });

  it('gives 12 concurrent containers distinct working addresses', async () => {
    const d = await open();
    const nss = await Promise.all(Array.from({ length: 12 }, () => fx.create()));
    const rs = await Promise.all(
      nss.map((ns, i) =>
        d.allocateInterface(ctx, {
          containerId: `par${i}`,
          network: 'bridge',
          netns: { path: ns.path },
          hostname: `p${i}`,
        }),
      ),
    );
    expect(new Set(rs.map((r) => r.address)).size).toBe(12);
    expect(new Set(rs.map((r) => r.hostVeth)).size).toBe(12);
    await fx.echoServer(nss[11]!.name, 7003);
    expect(await fx.clientIn(nss[0]!.name, rs[11]!.address!, 7003)).toBe('echo:ping');
    await Promise.all(rs.map((r) => d.releaseInterface(ctx, r.containerId)));
    expect(await berthLinks(BRIDGE)).toEqual([BRIDGE]);
  });

  it('accepts a namespace named by pid', async () => {
    const d = await open();
    const pid = await fx.processWithNetns();
    const r = await d.allocateInterface(ctx, {
      containerId: 'bypid',
      network: 'bridge',
      netns: { pid },
      hostname: 'p',
    });
    const addr = await execa('nsenter', ['-t', String(pid), '-n', 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    expect(addr.stdout).toContain(`${r.address}/24`);
  });

  it('mode none leaves only lo, up', async () => {
    const d = await open();
    const a = await fx.create();
    const r = await d.allocateInterface(ctx, {
      containerId: 'none1',
      network: 'none',
      netns: { path: a.path },
      hostname: 'n',
    });
    expect(r.mode).toBe('none');
    expect(r.address).toBeUndefined();
    expect(await fx.links(a.name)).toEqual(['lo']);
    expect((await execa('ip', ['-n', a.name, 'link', 'show', 'lo'])).stdout).toMatch(/<LOOPBACK,UP/);
    await d.releaseInterface(ctx, 'none1');
    expect(d.endpoint(ctx, 'none1')).toBeUndefined();
  });

  it('an etc file that cannot be written fails the set-up naming it, and undoes the veth and the address', async () => {
    const d = await open();
    const a = await fx.create();
    await writeFile(join(root, 'plain'), '');
    const etcDir = join(root, 'plain', 'etc');
    const before = await berthLinks(BRIDGE);
    await expectError(
      d.allocateInterface(ctx, {
        containerId: 'etcbad1',
        network: 'bridge',
        netns: { path: a.path },
        hostname: 'e',
        etcDir,
      }),
      'INVALID_ARGUMENT',
      `container etcbad1: network bridge: etc file ${join(etcDir, 'hosts')}: open: ENOTDIR`,
    );
    expect(await berthLinks(BRIDGE)).toEqual(before);
    expect(await fx.links(a.name)).toEqual(['lo']);
    expect(d.endpoint(ctx, 'etcbad1')).toBeUndefined();
    expect(d.inspectNetwork(ctx, 'bridge').containers).toEqual([]);
    for (const network of ['none', 'host']) {
      await expectError(
        d.allocateInterface(ctx, { containerId: 'etcbad2', network, netns: { path: a.path }, hostname: 'e', etcDir }),
        'INVALID_ARGUMENT',
        `container etcbad2: etc file ${join(etcDir, 'hosts')}: open: ENOTDIR`,
      );
      expect(d.endpoint(ctx, 'etcbad2')).toBeUndefined();
    }
    // the same container then gets its network
    const ok = await d.allocateInterface(ctx, {
      containerId: 'etcbad1',
      network: 'bridge',
      netns: { path: a.path },
      hostname: 'e',
      etcDir: join(root, 'etc-ok'),
    });
    expect(await readFile(join(root, 'etc-ok', 'hosts'), 'utf8')).toContain(`${ok.address}\te\n`);
  });

  it('mode none with loopbackUp leaves lo to the namespace maker: no netlink call, no record on disk', async () => {
    const d = await open();
    const a = await fx.create();
    const etc = join(root, 'etc-n');
    const r = await d.allocateInterface(ctx, {
      containerId: 'none2',
      network: 'none',
      netns: { path: a.path },
      hostname: 'n',
      etcDir: etc,
      loopbackUp: true,
    });
    expect(r.steps.map((s) => s.name)).toEqual(['etc.write']);
    expect(await readFile(join(etc, 'hostname'), 'utf8')).toBe('n\n');
    // the namespace's lo was not touched (the caller brings it up)
    expect((await execa('ip', ['-n', a.name, 'link', 'show', 'lo'])).stdout).not.toMatch(/<[^>]*\bUP\b/);
    expect(existsSync(join(root, 'network', 'endpoints', 'none2.json'))).toBe(false);
    expect(d.endpoint(ctx, 'none2')?.mode).toBe('none');
    await expect(
      d.allocateInterface(ctx, { containerId: 'none2', network: 'none', netns: { path: a.path }, hostname: 'n' }),
    ).rejects.toSatisfy((e: unknown) => isBerthError(e, 'ALREADY_EXISTS'));
    await d.releaseInterface(ctx, 'none2');
    expect(d.endpoint(ctx, 'none2')).toBeUndefined();
  });

  it('mode host does nothing to namespaces and writes the host files', async () => {
    const d = await open();
    const etc = join(root, 'etc-h');
    const r = await d.allocateInterface(ctx, { containerId: 'host1', network: 'host', hostname: 'h', etcDir: etc });
    expect(r.mode).toBe('host');
    expect(r.steps.map((s) => s.name)).toEqual(['etc.write']);
    expect(await readFile(join(etc, 'hosts'), 'utf8')).toBe(await readFile('/etc/hosts', 'utf8'));
  });

  it('container:<id> joins the other namespace; a missing namespace is NOT_FOUND', async () => {
    const d = await open();
    const a = await fx.create();
    const ra = await d.allocateInterface(ctx, {
      containerId: 'main1',
      network: 'bridge',
      netns: { path: a.path },
      hostname: 'm',
    });
    const rj = await d.allocateInterface(ctx, {
      containerId: 'side1',
      network: 'container:main1',
      netns: { path: a.path },
      hostname: 's',
    });
    expect(rj.mode).toBe('container');
    expect(rj.steps.filter((s) => s.where === 'netns')).toEqual([]);
    const addr = await execa('ip', ['-n', a.name, '-4', '-o', 'addr', 'show', 'eth0']);
    expect(addr.stdout).toContain(ra.address);
    await expectError(
      d.allocateInterface(ctx, {
        containerId: 'side2',
        network: 'container:gone',
        netns: { path: `/run/netns/berthtest-${pid}-missing` },
        hostname: 's',
      }),
      'NOT_FOUND',
      /^container side2: netns .*missing: not found/,
    );
    expect(d.endpoint(ctx, 'side2')).toBeUndefined();
  });

  it('sizes links for local traffic and caps the default route at the external MTU', async () => {
    const d = await open({ externalMtu: 1400 });
    const builtin = d.listNetworks(ctx)[0]!;
    expect(builtin).toMatchObject({ mtu: LOCAL_MTU, externalMtu: 1400 });
    const a = await fx.create();
    const r = await d.allocateInterface(ctx, {
      containerId: 'mtu1',
      network: 'bridge',
      netns: { path: a.path },
      hostname: 'm',
    });
    expect(r).toMatchObject({ mtu: LOCAL_MTU, externalMtu: 1400 });
    for (const dev of [BRIDGE, r.hostVeth!])
      expect((await readFile(`/sys/class/net/${dev}/mtu`, 'utf8')).trim()).toBe(String(LOCAL_MTU));
    expect((await execa('ip', ['-n', a.name, '-o', 'link', 'show', 'eth0'])).stdout).toContain(`mtu ${LOCAL_MTU}`);
    // Leaving the network: the route's metric; to the gateway (on the subnet): the link's MTU.
    expect((await execa('ip', ['-n', a.name, 'route', 'show', 'default'])).stdout).toMatch(
      new RegExp(`via ${GATEWAY} dev eth0 .*mtu 1400`),
    );
    expect((await execa('ip', ['-n', a.name, 'route', 'get', GATEWAY])).stdout).not.toMatch(/mtu/);
    // A network whose MTU is not above the external one gets no route metric; bad MTUs are refused.
    const n = await d.createNetwork(ctx, { name: `small${pid}`, subnet: `10.${octet}.10.0/24`, mtu: 1400 });
    expect(n.externalMtu).toBeUndefined();
    const b = await fx.create();
    await d.allocateInterface(ctx, {
      containerId: 'mtu2',
      network: `small${pid}`,
      netns: { path: b.path },
      hostname: 's',
    });
    expect((await execa('ip', ['-n', b.name, 'route', 'show', 'default'])).stdout).not.toMatch(/mtu/);
    await d.releaseInterface(ctx, 'mtu2');
    await d.removeNetwork(ctx, n.id);
    await expectError(
      d.createNetwork(ctx, { name: `bad${pid}`, subnet: `10.${octet}.11.0/24`, mtu: 70000 }),
      'INVALID_ARGUMENT',
      /mtu 70000: not an integer in 68–65535/,
    );
    await expectError(BridgeDriver.open(ctx, { root, externalMtu: 10 }), 'INVALID_ARGUMENT', /externalMtu 10/);
    await expectError(
      BridgeDriver.open(ctx, { root, defaultNetwork: { bridge: BRIDGE, subnet: SUBNET }, mtu: 1500 }),
      'FAILED_PRECONDITION',
      /mtu 1500 but .* holds mtu 65520/,
    );
  });

  it('creates, lists, inspects and removes user-defined networks; in use is a CONFLICT', async () => {
    const d = await open();
    const subnet = `10.${octet}.8.0/24`;
    const n = await d.createNetwork(ctx, { name: `front${pid}`, subnet });
    expect(n.bridge).toMatch(/^br-[0-9a-f]{12}$/);
    expect(await hostLinks(n.bridge)).toEqual([n.bridge]);
    expect(d.listNetworks(ctx).map((x) => x.name)).toEqual(['bridge', `front${pid}`]);
    await expectError(
      d.createNetwork(ctx, { name: `front${pid}`, subnet: `10.${octet}.9.0/24` }),
      'ALREADY_EXISTS',
      /already exists/,
    );
    const a = await fx.create();
    const r = await d.allocateInterface(ctx, {
      containerId: 'user1',
      network: `front${pid}`,
      netns: { path: a.path },
      hostname: 'u',
    });
    expect(r.network?.bridge).toBe(n.bridge);
    expect(r.gateway).toBe(`10.${octet}.8.1`);
    expect(await readFile(`/sys/class/net/${r.hostVeth}/master/uevent`, 'utf8')).toContain(`INTERFACE=${n.bridge}`);
    expect(d.inspectNetwork(ctx, `front${pid}`).containers.map((c) => c.containerId)).toEqual(['user1']);
    await expectError(
      d.removeNetwork(ctx, `front${pid}`),
      'CONFLICT',
      new RegExp(`network front${pid}: in use by container\\(s\\) user1`),
    );
    await d.releaseInterface(ctx, 'user1');
    await d.removeNetwork(ctx, n.id);
    expect(await hostLinks(n.bridge)).toEqual([]);
    expect(d.listNetworks(ctx).map((x) => x.name)).toEqual(['bridge']);
    await expectError(d.removeNetwork(ctx, 'bridge'), 'FAILED_PRECONDITION', /default network/);
  });

  it('refuses bad input with a clear error and leaves nothing half-configured', async () => {
    const d = await open();
    const a = await fx.create();
    await expectError(
      d.allocateInterface(ctx, { containerId: 'bad1', network: 'nosuchnet', netns: { path: a.path }, hostname: 'b' }),
      'NOT_FOUND',
      /^network nosuchnet: not found/,
    );
    await expectError(
      d.createNetwork(ctx, { name: 'clash', subnet: `10.${octet}.7.128/25` }),
      'INVALID_ARGUMENT',
      new RegExp(`overlaps network bridge \\(${SUBNET}\\)`),
    );
    const hostRoute = (await execa('ip', ['-4', '-o', 'route', 'show', 'scope', 'link'])).stdout
      .split('\n')
      .filter((l) => !/ dev (berth|br-)/.test(l))
      .map((l) => l.split(' ')[0]!)
      .find((r) => r.includes('/'));
    if (hostRoute !== undefined)
      await expectError(
        d.createNetwork(ctx, { name: 'clash2', subnet: hostRoute }),
        'INVALID_ARGUMENT',
        /overlaps the host route/,
      );
    expect(d.listNetworks(ctx).map((x) => x.name)).toEqual(['bridge']);
    if (hostRoute !== undefined) {
      const root2 = join(root, 'other');
      const e = await BridgeDriver.open(ctx, {
        root: root2,
        defaultNetwork: { bridge: `${BRIDGE}x`, subnet: hostRoute },
        portDriver: 'proxy',
      }).catch((x: unknown) => x);
      expect(isBerthError(e, 'INVALID_ARGUMENT')).toBe(true);
      expect((e as Error).message).toMatch(/^network bridge: subnet .* overlaps the host route/);
      expect(await hostLinks(`${BRIDGE}x`)).toEqual([]);
    }

    await d.allocateInterface(ctx, { containerId: 'good1', network: 'bridge', netns: { path: a.path }, hostname: 'g' });
    await expectError(d.allocatePort(ctx, 'good1', '8080:80/sctp'), 'INVALID_ARGUMENT', /port spec "8080:80\/sctp"/);
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(PORT_BASE + 3, '127.0.0.1', r));
    try {
      await expectError(
        d.allocatePort(ctx, 'good1', `${PORT_BASE + 3}:80`),
        'CONFLICT',
        new RegExp(`port 127.0.0.1:${PORT_BASE + 3}/tcp: already in use`),
      );
    } finally {
      await new Promise((r) => taken.close(r));
    }
    await d.allocatePort(ctx, 'good1', `${PORT_BASE + 4}:80`);
    await expectError(
      d.allocatePort(ctx, 'bad2', `${PORT_BASE + 4}:80`),
      'FAILED_PRECONDITION',
      /container bad2: publish/,
    );
    expect(d.endpoint(ctx, 'good1')!.ports).toHaveLength(1);

    const tiny = await d.createNetwork(ctx, { name: `tiny${pid}`, subnet: `10.${octet}.9.0/30` });
    const b = await fx.create();
    const c = await fx.create();
    await d.allocateInterface(ctx, {
      containerId: 'full1',
      network: tiny.name,
      netns: { path: b.path },
      hostname: 'f',
    });
    const before = await berthLinks(BRIDGE);
    await expectError(
      d.allocateInterface(ctx, { containerId: 'full2', network: tiny.name, netns: { path: c.path }, hostname: 'f' }),
      'RESOURCE_EXHAUSTED',
      new RegExp(`network tiny${pid}: no free address`),
    );
    expect(await berthLinks(BRIDGE)).toEqual(before);
    expect(await fx.links(c.name)).toEqual(['lo']);
    expect(d.endpoint(ctx, 'full2')).toBeUndefined();

    // A failing kernel step (the netns already has an eth0) names the step and undoes the rest.
    const e1 = await d.allocateInterface(ctx, {
      containerId: 'dup1',
      network: 'bridge',
      netns: { path: c.path },
      hostname: 'x',
    });
    const err = await d
      .allocateInterface(ctx, { containerId: 'dup2', network: 'bridge', netns: { path: c.path }, hostname: 'x' })
      .catch((x: unknown) => x);
    expect((err as Error).message).toMatch(
      /^container dup2: network bridge: veth berth[0-9a-f]{10}: RTM_NEWLINK: EEXIST/,
    );
    expect(await berthLinks(BRIDGE)).toEqual([...before, e1.hostVeth].sort());
    expect(Object.values(d.inspectNetwork(ctx, 'bridge').containers.map((x) => x.containerId))).not.toContain('dup2');
  });

  needs(iptablesMissing).it('leaks nothing over 20 allocate/publish/release cycles', async () => {
    const d = await open({ portDriver: 'iptables' });
    const a = await fx.create();
    // this driver's rules only: other berth instances on the host add and remove theirs meanwhile
    const ipt = new Iptables(undefined, d.owner);
    const links = await berthLinks(BRIDGE);
    const rules = (await ipt.list()).length;
    for (let i = 0; i < 20; i++) {
      const id = `cycle${i}`;
      await d.allocateInterface(ctx, { containerId: id, network: 'bridge', netns: { path: a.path }, hostname: 'c' });
      await d.allocatePort(ctx, id, `${PORT_BASE + 10 + i}:80`);
      await d.allocatePort(ctx, id, `${PORT_BASE + 40 + i}:80/udp`);
      await d.releaseInterface(ctx, id);
    }
    expect(await berthLinks(BRIDGE)).toEqual(links);
    expect((await ipt.list()).length).toBe(rules);
    expect(d.inspectNetwork(ctx, 'bridge').containers).toEqual([]);
    // the last release reaches the disk with the pool's next write, or at close()
    await d.close(ctx);
    expect(
      (await readJournal(join(root, 'network', 'ipam', `${d.listNetworks(ctx)[0]!.id}.jsonl`)))!.pool.allocations,
    ).toEqual({});
    expect(await fx.links(a.name)).toEqual(['lo']);
  });

  it('reads runtime state torn by an OS crash as gone, and refuses the same damage done during this boot', async () => {
    const d = await open();
    const a = await fx.create();
    const r = await d.allocateInterface(ctx, {
      containerId: 'torn1',
      network: 'bridge',
      netns: { path: a.path },
      hostname: 't',
    });
    const net = d.listNetworks(ctx)[0]!;
    const endpoint = join(root, 'network', 'endpoints', 'torn1.json');
    const pool = join(root, 'network', 'ipam', `${net.id}.jsonl`);
    // as a power loss leaves files written without fsync: torn, last written before this boot (the record of an
    // endpoint with ports, and the pool)
    await mkdir(dirname(endpoint), { recursive: true });
    const beforeBoot = new Date(bootTimeMs() - 60_000);
    for (const f of [endpoint, pool]) {
      await writeFile(f, '{"containerId": "tor');
      await utimes(f, beforeBoot, beforeBoot);
    }
    drivers.pop();
    await execa('ip', ['link', 'del', r.hostVeth!]); // the reboot took the veth too
    const again = await open();
    expect(again.endpoint(ctx, 'torn1')).toBeUndefined();
    expect(again.inspectNetwork(ctx, 'bridge').containers).toEqual([]);
    const rb = await again.allocateInterface(ctx, {
      containerId: 'torn2',
      network: 'bridge',
      netns: { path: (await fx.create()).path },
      hostname: 'u',
    });
    expect(rb.address).toMatch(new RegExp(`^10\\.${octet}\\.7\\.`));
    // the same damage to a file written during this boot is corruption, named
    await writeFile(join(root, 'network', 'endpoints', 'torn3.json'), '{"containerId": "tor');
    drivers.pop();
    await expectError(open(), 'DATA_LOSS', /endpoints\/torn3\.json: corrupt/);
  });

  it('keeps a bridge endpoint without ports as its address alone, rebuilt after a crash: kept if live, else removed', async () => {
    const d = await open();
    const a = await fx.create();
    const b = await fx.create();
    const ra = await d.allocateInterface(ctx, {
      containerId: 'addr1',
      network: 'bridge',
      netns: { path: a.path },
      hostname: 'a',
    });
    const rb = await d.allocateInterface(ctx, {
      containerId: 'addr2',
      network: 'bridge',
      netns: { path: b.path },
      hostname: 'b',
    });
    expect(existsSync(join(root, 'network', 'endpoints', 'addr1.json'))).toBe(false);
    drivers.pop(); // a crash: no close()
    const again = await open();
    expect(again.endpoint(ctx, 'addr1')).toMatchObject({
      mode: 'bridge',
      address: ra.address,
      mac: ra.mac,
      hostVeth: ra.hostVeth,
      gateway: GATEWAY,
      prefix: 24,
      ports: [],
    });
    const report = await again.recover(ctx, ['addr1']);
    expect(report.endpoints).toEqual(['addr2']);
    expect(report.addresses).toEqual([rb.address]);
    expect(report.veths).toEqual([rb.hostVeth]);
    expect(await berthLinks(BRIDGE)).toEqual([BRIDGE, ra.hostVeth].sort());
    expect(again.inspectNetwork(ctx, 'bridge').containers.map((c) => c.containerId)).toEqual(['addr1']);
    // the rebuilt endpoint releases as one allocated by this instance (its veth deleted, not left behind)
    await again.releaseInterface(ctx, 'addr1');
    expect(await hostLinks(ra.hostVeth!)).toEqual([]);
    expect(await fx.links(a.name)).toEqual(['lo']);
  });

  it('an address whose release had not reached the disk when the engine died is freed by recover()', async () => {
    const d = await open();
    const a = await fx.create();
    const b = await fx.create();
    const r1 = await d.allocateInterface(ctx, {
      containerId: 'rel1',
      network: 'bridge',
      netns: { path: a.path },
      hostname: 'a',
    });
    const r2 = await d.allocateInterface(ctx, {
      containerId: 'rel2',
      network: 'bridge',
      netns: { path: b.path },
      hostname: 'b',
    });
    await d.releaseInterface(ctx, 'rel1');
    const pool = join(root, 'network', 'ipam', `${d.listNetworks(ctx)[0]!.id}.jsonl`);
    const onDisk = async () => (await readJournal(pool))!.pool.allocations;
    // the release rides on the pool's next write: the file still lists it
    expect(await onDisk()).toEqual({ [r1.address!]: 'rel1', [r2.address!]: 'rel2' });
    drivers.pop(); // a crash: no close()
    const again = await open();
    const report = await again.recover(ctx, ['rel2']);
    expect(report.endpoints).toEqual(['rel1']);
    expect(report.addresses).toEqual([r1.address]);
    expect(await onDisk()).toEqual({ [r2.address!]: 'rel2' });
    expect(await berthLinks(BRIDGE)).toEqual([BRIDGE, r2.hostVeth].sort());
    const r3 = await again.allocateInterface(ctx, {
      containerId: 'rel3',
      network: 'bridge',
      netns: { path: a.path },
      hostname: 'c',
    });
    expect(r3.address).not.toBe(r2.address);
  });

  needs(iptablesMissing).it(
    'recover() after a restart removes what dead containers left and keeps the live',
    async () => {
      const d = await open({ portDriver: 'iptables' });
      const a = await fx.create();
      const b = await fx.create();
      const ra = await d.allocateInterface(ctx, {
        containerId: 'live1',
        network: 'bridge',
        netns: { path: a.path },
        hostname: 'l',
      });
      const rb = await d.allocateInterface(ctx, {
        containerId: 'dead1',
        network: 'bridge',
        netns: { path: b.path },
        hostname: 'd',
      });
      await d.allocatePort(ctx, 'dead1', `${PORT_BASE + 5}:80`);
      await d.allocatePort(ctx, 'live1', `${PORT_BASE + 6}:80`);
      // A veth on the bridge that no endpoint owns (a crash between veth and record).
      await execa('ip', ['link', 'add', ORPHAN, 'type', 'veth', 'peer', 'name', `${BRIDGE}p`]);
      await execa('ip', ['link', 'set', ORPHAN, 'master', BRIDGE]);

      drivers.pop();
      const again = await open({ portDriver: 'iptables' });
      const report = await again.recover(ctx, ['live1']);
      expect(report.endpoints).toEqual(['dead1']);
      expect(report.veths).toEqual([ORPHAN]);
      expect(await berthLinks(BRIDGE)).toEqual([BRIDGE, ra.hostVeth].sort());
      expect(await hostLinks(rb.hostVeth!)).toEqual([]);
      const tags = (await new Iptables().list()).map((r) => r.tag);
      expect(tags).toContain('live1');
      expect(tags).not.toContain('dead1');
      expect(again.inspectNetwork(ctx, 'bridge').containers.map((c) => c.address)).toEqual([ra.address]);
      const rc = await again.allocateInterface(ctx, {
        containerId: 'new1',
        network: 'bridge',
        netns: { path: b.path },
        hostname: 'n',
      });
      expect(rc.address).not.toBe(ra.address);
    },
  );
});
