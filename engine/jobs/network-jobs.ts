// The network jobs: user networks (create, delete, list, inspect) in Docker's
// NetworkResource shape, and the interface and port jobs over the networkdriver.
import type { NetworkResource } from '../api/types.js';
import type { ContainerStore } from '../container/store.js';
import { conflict, invalidArgument, notImplemented } from '../errdefs/errors.js';
import type { NetworkDriver, NetworkInspect, NetworkRecord } from '../networkdriver/driver.js';
import type { Engine } from './engine.js';
import type { EventBus } from './event-bus.js';
import type { Filters } from './job-map.js';

export interface NetworkJobDeps {
  net: NetworkDriver;
  store: ContainerStore;
  events: EventBus;
}

/** The pseudo networks Docker lists beside the bridges. */
const PSEUDO = ['host', 'none'] as const;

function resource(
  rec: NetworkRecord | (typeof PSEUDO)[number],
  inspect?: NetworkInspect,
  store?: ContainerStore,
): NetworkResource {
  if (typeof rec === 'string') {
    return {
      Name: rec,
      Id: rec,
      Created: '0001-01-01T00:00:00Z',
      Scope: 'local',
      Driver: rec === 'host' ? 'host' : 'null',
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: [] },
      Internal: false,
      Attachable: false,
      Ingress: false,
      Containers: {},
      Options: {},
      Labels: {},
    };
  }
  const containers: NetworkResource['Containers'] = {};
  for (const c of inspect?.containers ?? []) {
    containers[c.containerId] = {
      Name: store?.find(c.containerId)?.name ?? '',
      EndpointID: c.containerId,
      MacAddress: c.mac,
      IPv4Address: `${c.address}/${rec.subnet.split('/')[1]}`,
      IPv6Address: '',
    };
  }
  return {
    Name: rec.name,
    Id: rec.id,
    Created: rec.created,
    Scope: 'local',
    Driver: 'bridge',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: rec.subnet, Gateway: rec.gateway }] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    Containers: containers,
    Options: { 'com.docker.network.bridge.name': rec.bridge, 'com.docker.network.driver.mtu': String(rec.mtu) },
    Labels: {},
  };
}

function matches(n: NetworkResource, filters: Filters | undefined): boolean {
  for (const [key, values] of Object.entries(filters ?? {})) {
    if (values.length === 0) continue;
    const ok = values.some((v) => {
      switch (key) {
        case 'name':
          return n.Name.includes(v);
        case 'id':
          return n.Id.startsWith(v);
        case 'driver':
          return n.Driver === v;
        case 'type':
          return v === 'builtin'
            ? ['bridge', 'host', 'none'].includes(n.Name)
            : v === 'custom'
              ? !['bridge', 'host', 'none'].includes(n.Name)
              : false;
        case 'scope':
          return v === 'local';
        default:
          throw invalidArgument(`filter ${JSON.stringify(key)}: invalid filter for networks`);
      }
    });
    if (!ok) return false;
  }
  return true;
}

export function registerNetworkJobs(engine: Engine, deps: NetworkJobDeps): void {
  const { net, events } = deps;

  engine.register('network_create', async (ctx, job) => {
    const req = job.args;
    if (typeof req?.Name !== 'string' || req.Name === '') throw invalidArgument('network create: Name is required');
    if (req.Driver && req.Driver !== 'bridge')
      throw notImplemented(`network ${req.Name}: driver ${JSON.stringify(req.Driver)} is not supported (only bridge)`);
    if (req.EnableIPv6) throw notImplemented(`network ${req.Name}: IPv6 is not supported`);
    // an internal network would be reachable from outside here: refused rather than made routable
    if (req.Internal)
      throw invalidArgument(`network ${req.Name}: Internal networks (no route outside) are not supported`);
    if (req.IPAM?.Driver && req.IPAM.Driver !== 'default')
      throw invalidArgument(
        `network ${req.Name}: IPAM driver ${JSON.stringify(req.IPAM.Driver)} is not supported (only default)`,
      );
    const unknownOpts = Object.keys(req.Options ?? {}).filter((k) => k !== 'com.docker.network.driver.mtu');
    if (unknownOpts.length > 0)
      throw invalidArgument(
        `network ${req.Name}: Options ${unknownOpts.join(', ')}: not supported (only com.docker.network.driver.mtu)`,
      );
    const cfg = req.IPAM?.Config ?? [];
    if (cfg.length !== 1 || !cfg[0]!.Subnet)
      throw invalidArgument(
        `network ${req.Name}: exactly one IPAM config with a Subnet is required (berth does not pick subnets)`,
      );
    const mtu = req.Options?.['com.docker.network.driver.mtu'];
    const rec = await net.createNetwork(ctx, {
      name: req.Name,
      subnet: cfg[0]!.Subnet!,
      ...(cfg[0]!.Gateway ? { gateway: cfg[0]!.Gateway } : {}),
      ...(mtu ? { mtu: Number(mtu) } : {}),
    });
    events.publish('network', 'create', rec.id, { name: rec.name, type: 'bridge' });
    return { Id: rec.id, Warning: '' };
  });

  engine.register('network_delete', async (ctx, job) => {
    const id = job.args.id;
    if ((PSEUDO as readonly string[]).includes(id))
      throw conflict(`network ${id}: a pre-defined network cannot be removed`);
    const rec = net.inspectNetwork(ctx, id);
    await net.removeNetwork(ctx, id);
    events.publish('network', 'destroy', rec.id, { name: rec.name, type: 'bridge' });
  });

  engine.register('network_list', async (ctx, job) => {
    const all = [
      ...net.listNetworks(ctx).map((n) => resource(n, net.inspectNetwork(ctx, n.id), deps.store)),
      ...PSEUDO.map((p) => resource(p)),
    ];
    return all.filter((n) => matches(n, job.args.filters));
  });

  engine.register('network_inspect', async (ctx, job) => {
    const id = job.args.id;
    if ((PSEUDO as readonly string[]).includes(id)) return resource(id as (typeof PSEUDO)[number]);
    const inspect = net.inspectNetwork(ctx, id);
    return resource(inspect, inspect, deps.store);
  });

  engine.register('allocate_interface', (ctx, job) => net.allocateInterface(ctx, job.args));
  engine.register('release_interface', async (ctx, job) => {
    const { containerId, ...opts } = job.args;
    await net.releaseInterface(ctx, containerId, opts);
  });
  engine.register('allocate_port', (ctx, job) => net.allocatePort(ctx, job.args.containerId, job.args.spec));
  engine.register('release_port', (ctx, job) => net.releasePort(ctx, job.args.containerId, job.args.spec));
}
