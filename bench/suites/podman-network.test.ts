// Tests of podman's private bridge network: which firewall rules and chains the
// leftover removal takes (and which it leaves to others), and (root, podman and
// netavark) a private podman service publishing a port on 127.0.0.1 through its network,
// then torn down after its service was killed, with the host's firewall, links, network
// namespaces and mounts listed before and after.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../../engine/client/api-client.js';
import { needs, root } from '../../testkit/needs.js';
import { hostTraces, comparableHostTraces, leftoverScript, linksOn, netavarkMissing } from './podman-network.js';
import { startRegistryProcess } from './pull-world.js';
import { getOnce, pollReady } from './workload-http.js';
import { pushServiceImage, SERVICE_REPO, SERVICE_TAG } from './workload-images.js';
import { publishedPort, startServiceApi, startServiceCli } from './workload-services.js';
import { podmanMissing, PrivatePodman } from './workload-podman.js';

const table = (chains: string[], rules: string[]) => ({ chains: new Set(chains), rules });
const BUILTIN_NAT = ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'];
const SHARED_NAT = ['NETAVARK-HOSTPORT-DNAT', 'NETAVARK-HOSTPORT-MASQ', 'NETAVARK-HOSTPORT-SETMARK'];
const SHARED_NAT_RULES = [
  '-A PREROUTING -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT',
  '-A OUTPUT -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT',
  '-A POSTROUTING -j NETAVARK-HOSTPORT-MASQ',
  '-A NETAVARK-HOSTPORT-MASQ -m comment --comment "netavark portfw masq mark" -m mark --mark 0x2000/0x2000 -j MASQUERADE',
  '-A NETAVARK-HOSTPORT-SETMARK -j MARK --set-xmark 0x2000/0x2000',
];
/** What netavark had for network `name` on `subnet` with one port published (chain hash `hash`). */
function netRules(name: string, subnet: string, hash: string) {
  return {
    nat: [
      `-A POSTROUTING -s ${subnet} -j NETAVARK-${hash}`,
      `-A NETAVARK-${hash} -d ${subnet} -j ACCEPT`,
      `-A NETAVARK-${hash} ! -d 224.0.0.0/4 -j MASQUERADE`,
      `-A NETAVARK-DN-${hash} -d 127.0.0.1/32 -p tcp -m tcp --dport 40000 -j DNAT --to-destination ${subnet.replace('0/24', '2')}:8080`,
      `-A NETAVARK-HOSTPORT-DNAT -p tcp -m tcp --dport 40000 -m comment --comment "dnat name: ${name} id: abc" -j NETAVARK-DN-${hash}`,
    ],
    filter: [
      `-A NETAVARK_FORWARD -d ${subnet} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      `-A NETAVARK_FORWARD -s ${subnet} -j ACCEPT`,
    ],
  };
}

describe('podman network: leftover firewall rules', () => {
  const mine = { name: 'berth-podman-1-aa', subnet: '10.231.7.0/24' };
  const ours = netRules(mine.name, mine.subnet, 'AAAA');

  it("removes its own chains and rules, and the shared chains it made when no other network's rule is in them", () => {
    const tables = new Map([
      [
        'nat',
        table(
          [...BUILTIN_NAT, ...SHARED_NAT, 'NETAVARK-AAAA', 'NETAVARK-DN-AAAA', 'BERTH'],
          [...SHARED_NAT_RULES, ...ours.nat, '-A PREROUTING -j BERTH'],
        ),
      ],
      [
        'filter',
        table(
          ['INPUT', 'FORWARD', 'OUTPUT', 'NETAVARK_FORWARD'],
          ['-A FORWARD -m comment --comment "netavark firewall plugin rules" -j NETAVARK_FORWARD', ...ours.filter],
        ),
      ],
    ]);
    const script = leftoverScript(tables, mine, new Set());
    const nat = script.get('nat')!.split('\n');
    expect(nat[0]).toBe('*nat');
    expect(nat).toContain('-D POSTROUTING -s 10.231.7.0/24 -j NETAVARK-AAAA');
    expect(nat).toContain('-D PREROUTING -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT');
    expect(nat.filter((l) => l.startsWith('-X')).sort()).toEqual(
      ['-X NETAVARK-AAAA', '-X NETAVARK-DN-AAAA', ...SHARED_NAT.map((c) => `-X ${c}`)].sort(),
    );
    // every -D comes before the first -X
    expect(nat.findLastIndex((l) => l.startsWith('-D'))).toBeLessThan(nat.findIndex((l) => l.startsWith('-X')));
    expect(nat).not.toContain('-D PREROUTING -j BERTH');
    expect(nat.filter((l) => l.startsWith('-D'))).toHaveLength(SHARED_NAT_RULES.length + ours.nat.length);
    expect(script.get('filter')).toBe(
      [
        '*filter',
        '-D FORWARD -m comment --comment "netavark firewall plugin rules" -j NETAVARK_FORWARD',
        ...ours.filter.map((r) => `-D${r.slice(2)}`),
        '-X NETAVARK_FORWARD',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it("leaves the shared chains when they existed before or another network's rules are in them", () => {
    const other = netRules('someone-else', '10.88.0.0/24', 'BBBB');
    const tables = new Map([
      [
        'nat',
        table(
          [...BUILTIN_NAT, ...SHARED_NAT, 'NETAVARK-AAAA', 'NETAVARK-DN-AAAA', 'NETAVARK-BBBB', 'NETAVARK-DN-BBBB'],
          [...SHARED_NAT_RULES, ...ours.nat, ...other.nat],
        ),
      ],
      ['filter', table(['FORWARD', 'NETAVARK_FORWARD'], [...ours.filter, ...other.filter])],
    ]);
    for (const script of [
      leftoverScript(tables, mine, new Set()),
      leftoverScript(
        new Map([
          [
            'nat',
            table(
              [...BUILTIN_NAT, ...SHARED_NAT, 'NETAVARK-AAAA', 'NETAVARK-DN-AAAA'],
              [...SHARED_NAT_RULES, ...ours.nat],
            ),
          ],
        ]),
        mine,
        new Set(['nat/NETAVARK-HOSTPORT-DNAT']),
      ),
    ]) {
      const nat = script.get('nat')!.split('\n');
      expect(nat.filter((l) => l.startsWith('-X')).sort()).toEqual(['-X NETAVARK-AAAA', '-X NETAVARK-DN-AAAA']);
      expect(nat.filter((l) => l.startsWith('-D')).sort()).toEqual(ours.nat.map((r) => `-D${r.slice(2)}`).sort());
    }
    expect(leftoverScript(tables, mine, new Set()).get('filter')).toBe(
      `*filter\n${ours.filter.map((r) => `-D${r.slice(2)}`).join('\n')}\nCOMMIT\n`,
    );
  });

  it('has nothing to do when nothing of its network is left', () => {
    const tables = new Map([['nat', table(BUILTIN_NAT, ['-A PREROUTING -j BERTH'])]]);
    expect(leftoverScript(tables, mine, new Set()).size).toBe(0);
  });
});

needs(root(), podmanMissing(), netavarkMissing()).describe(
  'podman network: a private service on the host (root)',
  () => {
    it('publishes on 127.0.0.1 through its own bridge, and a killed service still leaves nothing behind', async () => {
      const dataRoot = mkdtempSync(join(os.tmpdir(), `berth-podman-net-${process.pid}-`));
      const podman = new PrivatePodman(dataRoot, { network: true });
      const words = [dataRoot, `/run/bpm${process.pid}-`, `bpm${process.pid}`];
      const before = hostTraces(words);
      const registry = await startRegistryProcess(join(dataRoot, 'registry'));
      try {
        await pushServiceImage(registry.url);
        const image = `${new URL(registry.url).host}/${SERVICE_REPO}:${SERVICE_TAG}`;
        await podman.start(new URL(registry.url).host);
        const n = podman.network!;
        await new ApiClient(podman.host).pull(image);
        const viaApi = await startServiceApi(podman.host, image);
        const viaCli = await startServiceCli(
          { target: 'podman', host: podman.host, cli: (a) => podman.cli(a), containers: () => podman.containers() },
          image,
        );
        for (const id of [viaApi, viaCli]) {
          const port = await publishedPort(podman.host, id);
          await pollReady(port);
          await getOnce(port);
        }
        // the network is ours: its bridge with a veth per container, its subnet in netavark's rules
        expect(existsSync(`/sys/class/net/${n.bridge}`)).toBe(true);
        expect(linksOn(n.bridge)).toHaveLength(2);
        const during = hostTraces(words);
        expect(during.iptables.some((l) => l.includes(n.subnet))).toBe(true);
        expect(during.netns.length).toBeGreaterThanOrEqual(before.netns.length + 2);
        // conmon counted with the service
        expect(podman.processes().length).toBe(3);
        // a failure: the service dies with its containers running
        process.kill(podman.processes()[0]!, 'SIGKILL');
      } finally {
        await podman.stop().catch((err: unknown) => {
          throw err;
        });
        await registry.close();
        rmSync(dataRoot, { recursive: true, force: true });
      }
      // this process's NETAVARK lines as they were; the rest as before, another podman network's changes left out
      const traces = comparableHostTraces(before, hostTraces(words));
      expect(traces.is).toEqual(traces.was);
      expect(traces.after).toEqual(traces.before);
      expect(podman.network).toBeUndefined();
    }, 600_000);
  },
);
