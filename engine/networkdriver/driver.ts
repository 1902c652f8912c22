// The networkdriver boundary: what the engine asks of a network driver, declared
// once, context-first like the graphdriver and the execdriver (docs/style.md 1);
// the bridge driver (network-driver.ts) implements it. Also the boundary as the
// instrument layer sees it: which methods are spans, and how the setup steps a
// call returns become its child spans.
import type { InstrumentOptions, TimedStep } from '../trace/instrument.js';
import type { Context } from '../trace/context.js';
import type { EtcRequest } from './etc-files.js';
import type { NetnsRef, SetupStep } from './netlink-ops.js';
import type { PortSpec } from './port-spec.js';

export interface NetworkRecord {
  id: string;
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
  /** MTU of the bridge and of every veth on it (traffic inside the network: containers, gateway, host). */
  mtu: number;
  /**
   * MTU on the containers' default route, i.e. for traffic that leaves the network
   * through the host; set when below mtu (absent: the link MTU everywhere).
   */
  externalMtu?: number;
  /** The default network (`bridge`): created by the driver, never removed by a user. */
  builtin: boolean;
  created: string;
}

export interface PortRecord extends PortSpec {
  via: 'iptables' | 'proxy';
}

export type EndpointMode = 'bridge' | 'none' | 'host' | 'container';

export interface EndpointRecord {
  containerId: string;
  mode: EndpointMode;
  networkId?: string;
  hostVeth?: string;
  address?: string;
  prefix?: number;
  gateway?: string;
  mac?: string;
  /** The namespace's inode, and the pid it was named by (absent for a path, which a mount holds). */
  netns?: { ino: number; pid?: number };
  ports: PortRecord[];
}

export interface AllocateInterfaceRequest {
  containerId: string;
  /** `bridge` (default), `none`, `host`, `container:<id>`, or a user-defined network's name or id. */
  network: string;
  /** The container's network namespace; for `container:<id>` the other container's. Not needed for host. */
  netns?: NetnsRef;
  hostname: string;
  /** Where hosts, hostname and resolv.conf are written; skipped when absent. */
  etcDir?: string;
  /** The container's DNS and hosts wishes (Dns, DnsSearch, DnsOptions, ExtraHosts, Domainname) for those files. */
  etc?: EtcRequest;
  /**
   * Whoever made the namespace brings its lo up (the execdriver's child does for a namespace
   * its clone creates): mode none then makes no netlink call at all.
   */
  loopbackUp?: boolean;
}

export interface InterfaceAllocation {
  containerId: string;
  mode: EndpointMode;
  network?: { id: string; name: string; bridge: string };
  /** eth0's address, its prefix length, the gateway and eth0's MAC (bridge modes). */
  address?: string;
  prefix?: number;
  gateway?: string;
  mac?: string;
  hostVeth?: string;
  mtu?: number;
  /** MTU on the default route (traffic leaving the network), when below mtu. */
  externalMtu?: number;
  /** Every setup step in order, timed (the instrument layer makes them spans, see networkDriverBoundary). */
  steps: SetupStep[];
}

export interface NetworkInspect extends NetworkRecord {
  containers: { containerId: string; address: string; mac: string; hostVeth: string }[];
}

export interface ReleaseInterfaceOptions {
  /**
   * The container's network namespace is gone or the caller removes it right
   * after (no `container:` sharer, nothing else holds it): the kernel deletes
   * both veth ends with it, so the host end is not deleted synchronously; the
   * reaper checks it after the grace period and deletes it if still present.
   */
  netnsGone?: boolean;
}

/** What releaseInterface did, as timed steps (none when the kernel and the reaper are left to it). */
export interface InterfaceRelease {
  steps: SetupStep[];
}

export interface RecoverReport {
  endpoints: string[];
  rules: number;
  addresses: string[];
  veths: string[];
}

/** A user-defined network's request: name, subnet, optional gateway and MTUs. */
export interface CreateNetworkRequest {
  name: string;
  subnet: string;
  gateway?: string;
  mtu?: number;
  externalMtu?: number;
}

export interface NetworkDriver {
  /**
   * Creates a user-defined network. ALREADY_EXISTS when the name is taken,
   * INVALID_ARGUMENT for a bad name, subnet or gateway or a subnet overlapping
   * another network or a host route. Undone on failure.
   */
  createNetwork(ctx: Context, req: CreateNetworkRequest): Promise<NetworkRecord>;
  /** Every network, the default one first. In memory: no kernel or disk work. */
  listNetworks(ctx: Context): NetworkRecord[];
  /** A network with its containers' endpoints. NOT_FOUND naming it. */
  inspectNetwork(ctx: Context, nameOrId: string): NetworkInspect;
  /**
   * Removes a user-defined network. CONFLICT naming the containers while any is
   * attached; FAILED_PRECONDITION for the default network; NOT_FOUND for an unknown one.
   */
  removeNetwork(ctx: Context, nameOrId: string): Promise<void>;
  /**
   * Gives a container its network per req.network (bridge or a user network, none,
   * host, container:<id>) and writes its etc files when req.etcDir is given.
   * Returns the addresses and every step, timed. ALREADY_EXISTS when the container
   * has an interface; NOT_FOUND for an unknown network or a missing namespace;
   * RESOURCE_EXHAUSTED when the subnet is full; a failing step names itself, and
   * the error's details carry the steps so far. Everything is undone on failure.
   */
  allocateInterface(ctx: Context, req: AllocateInterfaceRequest): Promise<InterfaceAllocation>;
  /**
   * Undoes allocateInterface: published ports, interface, address, record.
   * Idempotent: an unknown container is a no-op. opts.netnsGone: the namespace
   * dies right after, so its interfaces may be left to the kernel.
   */
  releaseInterface(ctx: Context, containerId: string, opts?: ReleaseInterfaceOptions): Promise<InterfaceRelease>;
  /** Host interfaces released to the kernel and not yet checked. */
  pendingVeths(ctx: Context): string[];
  /** The endpoint of a container, as persisted; undefined when it has none. */
  endpoint(ctx: Context, containerId: string): EndpointRecord | undefined;
  /**
   * Publishes `[hostIp:]hostPort:containerPort[/proto]` of a container.
   * INVALID_ARGUMENT for a bad spec, FAILED_PRECONDITION when the container has no
   * address, CONFLICT naming the port when it is taken. Undone on failure; the
   * same spec twice for one container is a no-op. opts.via picks the mechanism.
   */
  allocatePort(
    ctx: Context,
    containerId: string,
    spec: string,
    opts?: { via?: 'iptables' | 'proxy' },
  ): Promise<PortRecord>;
  /** Unpublishes one spec of the container, or all its ports. Idempotent. */
  releasePort(ctx: Context, containerId: string, spec?: string): Promise<void>;
  /**
   * Removes what belongs to containers not in liveContainerIds (endpoints, rules,
   * addresses, interfaces) and restarts what live ones need. Idempotent; call once
   * after opening the driver.
   */
  recover(ctx: Context, liveContainerIds: Iterable<string>): Promise<RecoverReport>;
  /** Frees the addresses of containers not in liveContainerIds; returns them. Idempotent. */
  reclaim(ctx: Context, liveContainerIds: Iterable<string>): Promise<string[]>;
  /** Stops background work and what serves ports in this process; state stays on disk. Idempotent. */
  close(ctx: Context): Promise<void>;
  /** Removes everything the driver made on the host. For tests and a full reset; a daemon never calls it. */
  reset(ctx: Context): Promise<void>;
}

/** A setup step as a child span: `networkdriver.<step>`, timed where it ran. */
export function stepSpan(step: SetupStep): TimedStep {
  return {
    module: 'networkdriver',
    method: step.name,
    startNs: step.startNs,
    endNs: step.endNs,
    attributes: { subject: step.subject, where: step.where },
    origin: step.origin ?? 'node',
    ...(step.error !== undefined ? { error: step.error } : {}),
  };
}

/** The steps a failed call carries in its error's details (see allocateInterface). */
export function errorStepSpans(error: unknown): TimedStep[] {
  const steps = (error as { details?: { steps?: unknown } } | undefined)?.details?.steps;
  return Array.isArray(steps) ? (steps as SetupStep[]).map(stepSpan) : [];
}

/**
 * The boundary as instrument('networkdriver', driver, networkDriverBoundary) wraps
 * it: the methods the engine's jobs call are spans `networkdriver.<method>`, with
 * the setup steps they return (or fail with) as child spans.
 */
export const networkDriverBoundary: InstrumentOptions<NetworkDriver> = {
  methods: [
    'createNetwork',
    'removeNetwork',
    'allocateInterface',
    'releaseInterface',
    'allocatePort',
    'releasePort',
    'reclaim',
    'recover',
  ],
  attributes: {
    allocateInterface: (_ctx, req) => ({ containerId: req.containerId, network: req.network }),
    releaseInterface: (_ctx, containerId, opts) => ({
      containerId,
      ...(opts?.netnsGone === true ? { netnsGone: true } : {}),
    }),
    allocatePort: (_ctx, containerId, spec, opts) => ({
      containerId,
      spec,
      ...(opts?.via !== undefined ? { via: opts.via } : {}),
    }),
    releasePort: (_ctx, containerId, spec) => ({ containerId, spec: spec ?? 'all' }),
    createNetwork: (_ctx, req) => ({ name: req.name, subnet: req.subnet }),
    removeNetwork: (_ctx, nameOrId) => ({ network: nameOrId }),
  },
  results: {
    allocateInterface: (r) => ({ mode: r.mode, ...(r.address ? { address: r.address } : {}), steps: r.steps.length }),
  },
  steps: {
    allocateInterface: (r) => r.steps.map(stepSpan),
    releaseInterface: (r) => r.steps.map(stepSpan),
  },
  errorSteps: errorStepSpans,
};
