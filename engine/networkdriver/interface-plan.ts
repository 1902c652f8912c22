// The rtnetlink requests that give a container its bridge interface, as data: the
// two-part plan (host, then namespace) that the network bench runs through netlink
// (runSteps) and through `ip -batch` (runIpBatch) to compare the two, and the
// one-part plan the driver runs: every request from inside the namespace.
import type { NetlinkOp, NetnsRef } from './netlink-ops.js';

export interface InterfacePlanInput {
  /** Host end of the veth pair (`berth…`). */
  hostVeth: string;
  bridge: string;
  /** The container's network namespace. */
  netns: NetnsRef;
  address: string;
  prefix: number;
  gateway: string;
  mac: string;
  mtu: number;
  /** MTU metric of the default route (traffic leaving the network), when below mtu. */
  routeMtu?: number;
  /** Name of the interface inside the namespace (default eth0). */
  ifname?: string;
}

export interface InterfacePlan {
  /** Run in the host's namespace: veth with its peer born in netns, host end on the bridge, up. */
  host: NetlinkOp[];
  /** Run inside netns: lo up, address, up, default route. */
  netns: NetlinkOp[];
}

/**
 * The peer is created inside the namespace under its final name, so no rename
 * step is needed; its MAC and MTU are set in the same request.
 */
export function bridgeInterfacePlan(p: InterfacePlanInput): InterfacePlan {
  const ifname = p.ifname ?? 'eth0';
  return {
    host: [
      {
        op: 'veth.create',
        name: p.hostVeth,
        peer: ifname,
        mtu: p.mtu,
        peerMac: p.mac,
        peerNetns: 'pid' in p.netns ? { pid: p.netns.pid } : { path: p.netns.path },
      },
      { op: 'link.master', name: p.hostVeth, master: p.bridge },
      { op: 'link.up', name: p.hostVeth },
    ],
    netns: [
      { op: 'link.up', name: 'lo' },
      { op: 'addr.add', name: ifname, address: p.address, prefix: p.prefix },
      { op: 'link.up', name: ifname },
      {
        op: 'route.default',
        gateway: p.gateway,
        name: ifname,
        ...(p.routeMtu !== undefined ? { mtu: p.routeMtu } : {}),
      },
    ],
  };
}

/**
 * The same interface as bridgeInterfacePlan, as one list run inside the
 * container's namespace (runSteps with netns): the veth's host end is created
 * back in the caller's namespace (inHost), attached to the bridge and up in that
 * same request, its peer born in the namespace under its final name. One cloned
 * child, one netlink socket, two batches (the create; then lo, eth0's IPv6
 * address generation off, address, eth0 up, route). No `ip` equivalent: the bridge
 * is looked up in the caller's namespace.
 *
 * The network is IPv4 only, and eth0 gets no IPv6 link-local address (as Docker turns
 * IPv6 off on the interfaces of a network without it): otherwise each start sends a
 * DAD probe, MLD reports and router solicitations that the bridge floods to every
 * other container on it, so the cost of one start (in softirq time on the host's CPUs
 * and in every running container's namespace) would grow with the containers running.
 */
export function bridgeInterfaceOps(p: InterfacePlanInput): NetlinkOp[] {
  const ifname = p.ifname ?? 'eth0';
  return [
    {
      op: 'veth.create',
      name: p.hostVeth,
      peer: ifname,
      mtu: p.mtu,
      peerMac: p.mac,
      inHost: true,
      master: p.bridge,
      up: true,
    },
    ...bridgeInterfacePlan(p).netns.flatMap((op): NetlinkOp[] =>
      op.op === 'link.up' && op.name === ifname ? [{ op: 'link.nolinklocal', name: ifname }, op] : [op],
    ),
  ];
}
