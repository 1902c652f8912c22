// The networkdriver: networks (the default bridge and user-defined ones), each
// container's interface in its network namespace, published ports, and crash
// recovery. Kernel work goes through rtnetlink (netlink-ops.ts) and iptables.
//
// On disk, under `<root>/network/` (every file written atomically; the journal appended to):
//   networks/<id>.json     one NetworkRecord per network (the default one is `builtin`), fsynced
//   ipam/<id>.jsonl        the network's address journal (ipam.ts)          } runtime state:
//   endpoints/<cid>.json   the EndpointRecord of a container with ports       } not fsynced
// A bridge endpoint without ports has no file of its own: everything in its record
// follows from its network and its address (the veth's name from the container id, the
// MAC from the address), so load() rebuilds it from the IPAM allocations; only the
// namespace's identity is not kept (so the release of a rebuilt endpoint deletes its veth
// itself unless told the namespace is gone). A none or container:<id> endpoint owns
// nothing of the host's: it is kept in memory only.
// Runtime state describes kernel objects a reboot destroys, so it only has to
// outlive the engine's process (engine/fsutil/state-file.ts); a file an OS crash tore is
// older than the boot and reads as absent. Order on allocate: the address is
// decided (ipam, in memory, no one else gets it); then its write, the veth, the netns
// config and the etc files run together, and all are on disk before allocateInterface
// returns, so before the container runs. A crash in between leaves a veth that
// recover() deletes: by name when the address reached the disk, else as an unowned veth
// on the bridge (one not yet on it dies with its namespace). A published port is
// written to the endpoint's record once its rules are in place; recover() removes rules
// tagged with a container that has no endpoint.
// Release removes rules, veth (or leaves it to the kernel and the reaper when the
// namespace goes), the record if any, then frees the address in memory (the pool's
// next write takes it to the disk, ipam.ts): an address still on disk whose container
// is gone is what recover() frees. recover() finishes whatever a crash left half
// done, so every state on disk is one recover() can clean up.
// iptables rules carry the instance's owner (a hash of the root), so recovery and
// reset of one instance leave another instance's rules and chains alone.
import { createHash, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { access, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve as resolvePath } from 'node:path';
import {
  alreadyExists,
  conflict,
  failedPrecondition,
  invalidArgument,
  isBerthError,
  notFound,
  unavailable,
  wrap,
} from '../errdefs/errors.js';
import { nowNs, throwIfCancelled, type Context } from '../trace/index.js';
import { readJson, readRuntimeJson, removeFile, writeJsonAtomic } from '../fsutil/state-file.js';
import {
  etcFiles,
  ETC_FILES_STEP,
  ETC_FILES_SUBJECT,
  validateEtcRequest,
  validateHostname,
  type EtcRequest,
} from './etc-files.js';
import { hostRoutes, uplinkMtu } from './host-routes.js';
import { checkGateway, Ipam, type PoolSpec } from './ipam.js';
import { CHAIN_DNAT, Iptables, isRuleOfPort } from './iptables.js';
import { VethReaper } from './veth-reaper.js';
import { checkContainerId } from '../fsutil/container-id.js';
import { KeyedLock } from '../fsutil/keyed-lock.js';
import { bridgeInterfaceOps } from './interface-plan.js';
import { runSteps, type NetlinkOp, type NetnsRef, type SetupStep, type StepFiles } from './netlink-ops.js';
import type {
  AllocateInterfaceRequest,
  CreateNetworkRequest,
  EndpointRecord,
  InterfaceAllocation,
  InterfaceRelease,
  NetworkDriver,
  NetworkInspect,
  NetworkRecord,
  PortRecord,
  RecoverReport,
  ReleaseInterfaceOptions,
} from './driver.js';
import { parseNetworkMode } from './network-mode.js';
import {
  formatPortSpec,
  parsePortRequest,
  parsePortSpec,
  portsCollide,
  type PortRequest,
  type PortSpec,
} from './port-spec.js';
import { formatIPv4, overlaps, parseIPv4, parseSubnet } from './subnet.js';
import { checkPortFree, startProxy, type PortProxy } from './userland-proxy.js';

export interface NetworkDriverOptions {
  /** berth's --root; state goes to `<root>/network/`. */
  root: string;
  /** The default network: bridge name, subnet, gateway (default berth0, 10.213.0.0/16, first address). */
  defaultNetwork?: { bridge?: string; subnet?: string; gateway?: string };
  /**
   * MTU of bridges and veths (default LOCAL_MTU, 65520): traffic between
   * containers and between host and containers never leaves this machine, so it
   * is sized like loopback's: at 1500 a veth path moves clearly less TCP throughput
   * than loopback, at 65520 about as much (the network suite measures both).
   */
  mtu?: number;
  /**
   * MTU of traffic leaving a network (set on each container's default route when
   * below mtu), so a container's packets and TCP MSS to the outside fit the host's
   * uplink. Default: the MTU of the host's default route (uplinkMtu()).
   */
  externalMtu?: number;
  /** How ports are published: iptables DNAT, the userland proxy, or iptables when present (default). */
  portDriver?: 'auto' | 'iptables' | 'proxy';
  /** Masquerade traffic leaving a bridge subnet for other interfaces (default true; tests pass false). */
  masquerade?: boolean;
  /** iptables binary (default `iptables`). */
  iptables?: string;
  /**
   * How long a host veth released with `netnsGone` may outlive its namespace
   * before the background reaper deletes it itself (default 2000 ms).
   */
  vethGraceMs?: number;
  /** Name servers for containers' resolv.conf (default: the host's non-loopback ones). */
  dns?: string[];
}

const DEFAULT_SUBNET = '10.213.0.0/16';
/** Endpoint records are runtime state: written without fsync (engine/fsutil/state-file.ts). */
const RUNTIME = { durable: false } as const;
/** Default link MTU of berth's bridges and veths (see NetworkDriverOptions.mtu). */
export const LOCAL_MTU = 65520;
const MIN_MTU = 68;
const MAX_MTU = 65535;

/** INVALID_ARGUMENT naming subject and field for an mtu or externalMtu outside what Linux links take. */
function checkMtus(subject: string, o: { mtu?: number; externalMtu?: number }): void {
  for (const [field, v] of [
    ['mtu', o.mtu],
    ['externalMtu', o.externalMtu],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < MIN_MTU || v > MAX_MTU))
      throw invalidArgument(`${subject}: ${field} ${v}: not an integer in ${MIN_MTU}–${MAX_MTU}`);
  }
}
const RESERVED_NAMES = new Set(['bridge', 'none', 'host', 'default']);

function shortHash(text: string, n: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, n);
}

/** Host end of a container's veth: `berth` + 10 hex of its id's hash (15 chars, IFNAMSIZ-1). */
export function hostVethName(containerId: string): string {
  return `berth${shortHash(containerId, 10)}`;
}

/** Docker-style locally administered MAC derived from the address: 02:42:a:b:c:d. */
export function macFor(address: string): string {
  const v = parseIPv4(address)!;
  const bytes = [0x02, 0x42, v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function netnsPath(ns: NetnsRef): string {
  return 'pid' in ns ? `/proc/${ns.pid}/ns/net` : ns.path;
}

function poolOf(net: NetworkRecord): PoolSpec {
  return { id: net.id, name: net.name, subnet: net.subnet, gateway: net.gateway };
}

/** The bridge driver: berth's NetworkDriver (driver.ts), on Linux bridges, veths and iptables. */
export class BridgeDriver implements NetworkDriver {
  private readonly dir: string;
  private readonly ipam: Ipam;
  private readonly iptables: Iptables;
  private readonly networks = new Map<string, NetworkRecord>();
  private readonly endpoints = new Map<string, EndpointRecord>();
  /** Containers whose endpoint has a record file (one with ports, or read at load). */
  private readonly recordFiles = new Set<string>();
  /** Endpoints load() rebuilt from the IPAM allocations (no record file). */
  private readonly rebuilt = new Set<string>();
  private readonly proxies = new Map<string, PortProxy>();
  /** host port key (`ip:port/proto`) → containerId, reserved synchronously before any await. */
  private readonly reservedPorts = new Map<string, { spec: PortSpec; containerId: string }>();
  private readonly containerLock = new KeyedLock();
  private readonly networkLock = new KeyedLock();
  private useIptables = false;
  private readonly reaper: VethReaper;
  /** This instance's iptables owner: 12 hex of the hash of its resolved root. */
  readonly owner: string;

  private constructor(private readonly options: NetworkDriverOptions) {
    this.dir = join(options.root, 'network');
    this.ipam = new Ipam(join(this.dir, 'ipam'));
    this.owner = shortHash(resolvePath(options.root), 12);
    this.iptables = new Iptables(options.iptables, this.owner);
    this.reaper = new VethReaper({
      graceMs: options.vethGraceMs ?? 2000,
      // The container's lock: the reaper never races an allocation reusing the name.
      lock: (containerId, fn) => this.containerLock.run(containerId, fn),
      owned: (veth) => [...this.endpoints.values()].some((e) => e.hostVeth === veth),
    });
  }

  /**
   * Loads the state under `<root>/network/`, creates the default network's record
   * if missing, and makes sure every network's bridge exists, is addressed and up
   * (and its iptables rules are in place). Idempotent across restarts. Fails when
   * the default subnet overlaps a host route (INVALID_ARGUMENT) or iptables is
   * required but absent (UNAVAILABLE). Call recover() next.
   */
  static async open(ctx: Context, options: NetworkDriverOptions): Promise<BridgeDriver> {
    checkMtus('networkdriver', options);
    const d = new BridgeDriver(options);
    await d.load(ctx);
    return d;
  }

  private get mtu(): number {
    return this.options.mtu ?? LOCAL_MTU;
  }

  /** The externalMtu a new network records: set only when below its link MTU. */
  private async externalMtuFor(mtu: number, requested: number | undefined): Promise<number | undefined> {
    const external = requested ?? this.options.externalMtu ?? (await uplinkMtu());
    return external < mtu ? external : undefined;
  }

  private async load(ctx: Context): Promise<void> {
    for (const name of await this.listDir('networks')) {
      const rec = await readJson<NetworkRecord>(join(this.dir, 'networks', name));
      if (rec !== undefined) this.networks.set(rec.id, rec);
    }
    for (const name of await this.listDir('endpoints')) {
      const rec = await readRuntimeJson<EndpointRecord>(join(this.dir, 'endpoints', name));
      if (rec === undefined) continue;
      this.endpoints.set(rec.containerId, rec);
      this.recordFiles.add(rec.containerId);
      for (const p of rec.ports) this.reservedPorts.set(formatPortSpec(p), { spec: p, containerId: rec.containerId });
    }
    const driver = this.options.portDriver ?? 'auto';
    if (driver !== 'proxy') {
      this.useIptables = await this.iptables.available();
      if (!this.useIptables && driver === 'iptables')
        throw unavailable(
          `networkdriver: iptables (${this.options.iptables ?? 'iptables'}) not usable; use portDriver "proxy"`,
        );
      if (this.useIptables) await this.iptables.ensureChains();
    }
    const def = this.options.defaultNetwork ?? {};
    const bridge = def.bridge ?? 'berth0';
    const subnet = parseSubnet(def.subnet ?? DEFAULT_SUBNET);
    const gateway = def.gateway ?? formatIPv4(subnet.base + 1);
    let builtin = [...this.networks.values()].find((n) => n.builtin);
    if (builtin !== undefined && this.options.mtu !== undefined && builtin.mtu !== this.options.mtu) {
      throw failedPrecondition(
        `network bridge: configured with mtu ${this.options.mtu} but ${this.dir} holds mtu ${builtin.mtu}; remove its state to change it`,
      );
    }
    if (
      builtin !== undefined &&
      (builtin.bridge !== bridge || builtin.subnet !== subnet.cidr || builtin.gateway !== gateway)
    ) {
      throw failedPrecondition(
        `network bridge: configured as ${bridge} ${subnet.cidr} via ${gateway} but ${this.dir} holds ${builtin.bridge} ${builtin.subnet} via ${builtin.gateway}; remove its state to change it`,
      );
    }
    if (builtin === undefined) {
      checkGateway('bridge', subnet, gateway);
      await this.checkSubnetFree('bridge', subnet.cidr);
      const externalMtu = await this.externalMtuFor(this.mtu, undefined);
      builtin = {
        id: randomBytes(32).toString('hex'),
        name: 'bridge',
        bridge,
        subnet: subnet.cidr,
        gateway,
        mtu: this.mtu,
        ...(externalMtu !== undefined ? { externalMtu } : {}),
        builtin: true,
        created: new Date().toISOString(),
      };
      await writeJsonAtomic(this.networkFile(builtin.id), builtin);
      this.networks.set(builtin.id, builtin);
    }
    for (const net of this.networks.values()) await this.ensureBridge(ctx, net);
    for (const net of this.networks.values()) {
      const prefix = parseSubnet(net.subnet).prefix;
      for (const [address, cid] of Object.entries(await this.ipam.allocations(poolOf(net)))) {
        if (this.endpoints.has(cid)) continue;
        this.endpoints.set(cid, {
          containerId: cid,
          mode: 'bridge',
          networkId: net.id,
          hostVeth: hostVethName(cid),
          address,
          prefix,
          gateway: net.gateway,
          mac: macFor(address),
          ports: [],
        });
        this.rebuilt.add(cid);
      }
    }
  }

  private async listDir(sub: string): Promise<string[]> {
    try {
      return (await readdir(join(this.dir, sub))).filter((n) => n.endsWith('.json'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw wrap(err, `networkdriver state ${join(this.dir, sub)}`);
    }
  }

  private networkFile(id: string): string {
    return join(this.dir, 'networks', `${id}.json`);
  }

  private endpointFile(containerId: string): string {
    return join(this.dir, 'endpoints', `${containerId}.json`);
  }

  /** Bridge exists, has the gateway address, is up; hairpin and forward rules. Idempotent. */
  private async ensureBridge(ctx: Context, net: NetworkRecord): Promise<SetupStep[]> {
    const prefix = parseSubnet(net.subnet).prefix;
    const steps = await runSteps(ctx, [
      { op: 'bridge.create', name: net.bridge, mtu: net.mtu, ifExistsOk: true },
      // A bridge left by an earlier run keeps its MTU: set the record's (a bridge with an explicit MTU keeps it as
      // ports join).
      { op: 'link.mtu', name: net.bridge, mtu: net.mtu },
      { op: 'addr.add', name: net.bridge, address: net.gateway, prefix, ifExistsOk: true },
      { op: 'link.up', name: net.bridge },
    ]);
    if (this.useIptables) {
      await writeFile(`/proc/sys/net/ipv4/conf/${net.bridge}/route_localnet`, '1').catch((err: unknown) => {
        throw wrap(err, `bridge ${net.bridge}: route_localnet`);
      });
      const masquerade = this.options.masquerade ?? true;
      await this.iptables.addBridgeRules(net.id, net.bridge, net.subnet, masquerade);
      if (masquerade)
        await writeFile('/proc/sys/net/ipv4/ip_forward', '1').catch((err: unknown) =>
          ctx.logger.warn('networkdriver: cannot enable ip_forward', { error: err }),
        );
    }
    return steps;
  }

  /** INVALID_ARGUMENT when subnet overlaps another berth network or a host route not on berth's bridges. */
  private async checkSubnetFree(name: string, cidr: string): Promise<void> {
    const subnet = parseSubnet(cidr);
    for (const other of this.networks.values()) {
      if (overlaps(subnet, parseSubnet(other.subnet))) {
        throw invalidArgument(`network ${name}: subnet ${cidr} overlaps network ${other.name} (${other.subnet})`);
      }
    }
    const ours = new Set([...this.networks.values()].map((n) => n.bridge));
    for (const route of await hostRoutes()) {
      if (!ours.has(route.iface) && overlaps(subnet, route.subnet)) {
        throw invalidArgument(
          `network ${name}: subnet ${cidr} overlaps the host route ${route.subnet.cidr} on ${route.iface}`,
        );
      }
    }
  }

  /** The network named or with this id (or unique id prefix); NOT_FOUND naming it. `bridge` is the default. */
  private resolve(nameOrId: string): NetworkRecord {
    const all = [...this.networks.values()];
    const exact = all.find((n) => n.name === nameOrId || n.id === nameOrId);
    if (exact !== undefined) return exact;
    const byPrefix = nameOrId.length >= 6 ? all.filter((n) => n.id.startsWith(nameOrId)) : [];
    if (byPrefix.length === 1) return byPrefix[0]!;
    throw notFound(`network ${nameOrId}: not found`);
  }

  // ---- networks --------------------------------------------------------------

  /**
   * Creates a user-defined network with its own bridge `br-<id12>`. ALREADY_EXISTS
   * when the name is taken, INVALID_ARGUMENT for a bad name, subnet or gateway or a
   * subnet overlapping another network or a host route. Undone on failure.
   */
  async createNetwork(ctx: Context, req: CreateNetworkRequest): Promise<NetworkRecord> {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(req.name) || RESERVED_NAMES.has(req.name)) {
      throw invalidArgument(`network ${JSON.stringify(req.name)}: invalid or reserved name`);
    }
    checkMtus(`network ${req.name}`, req);
    const subnet = parseSubnet(req.subnet);
    const gateway = req.gateway ?? formatIPv4(subnet.base + 1);
    checkGateway(req.name, subnet, gateway);
    return this.networkLock.run('networks', async () => {
      throwIfCancelled(ctx, `network ${req.name}`);
      if ([...this.networks.values()].some((n) => n.name === req.name))
        throw alreadyExists(`network ${req.name}: already exists`);
      await this.checkSubnetFree(req.name, subnet.cidr);
      const id = randomBytes(32).toString('hex');
      const mtu = req.mtu ?? this.mtu;
      const externalMtu = await this.externalMtuFor(mtu, req.externalMtu);
      const net: NetworkRecord = {
        id,
        name: req.name,
        bridge: `br-${id.slice(0, 12)}`,
        subnet: subnet.cidr,
        gateway,
        mtu,
        ...(externalMtu !== undefined ? { externalMtu } : {}),
        builtin: false,
        created: new Date().toISOString(),
      };
      await writeJsonAtomic(this.networkFile(id), net);
      this.networks.set(id, net);
      try {
        await this.ensureBridge(ctx, net);
      } catch (err) {
        this.networks.delete(id);
        await this.destroyBridge(ctx, net).catch((e: unknown) =>
          this.undoFailed(ctx, `network ${req.name}: remove bridge`, e),
        );
        await removeFile(this.networkFile(id));
        throw wrap(err, `network ${req.name}`);
      }
      return net;
    });
  }

  /** Every network, the default one first. Cheap (in memory). */
  listNetworks(_ctx: Context): NetworkRecord[] {
    return [...this.networks.values()].sort(
      (a, b) => Number(b.builtin) - Number(a.builtin) || a.name.localeCompare(b.name),
    );
  }

  /** A network with its containers' endpoints. NOT_FOUND naming it. */
  inspectNetwork(_ctx: Context, nameOrId: string): NetworkInspect {
    const net = this.resolve(nameOrId);
    const containers = [...this.endpoints.values()]
      .filter((e) => e.networkId === net.id && e.address !== undefined)
      .map((e) => ({ containerId: e.containerId, address: e.address!, mac: e.mac!, hostVeth: e.hostVeth! }));
    return { ...net, containers };
  }

  /**
   * Removes a user-defined network: its rules, bridge, allocations and record.
   * CONFLICT naming the containers while any is attached; FAILED_PRECONDITION for
   * the default network; NOT_FOUND for an unknown one.
   */
  async removeNetwork(ctx: Context, nameOrId: string): Promise<void> {
    await this.networkLock.run('networks', async () => {
      const net = this.resolve(nameOrId);
      if (net.builtin) throw failedPrecondition(`network ${net.name}: the default network cannot be removed`);
      const users = [...this.endpoints.values()].filter((e) => e.networkId === net.id).map((e) => e.containerId);
      if (users.length > 0)
        throw conflict(`network ${net.name}: in use by container(s) ${users.join(', ')}`, {
          details: { containers: users },
        });
      this.networks.delete(net.id);
      try {
        await this.destroyBridge(ctx, net);
      } catch (err) {
        this.networks.set(net.id, net);
        throw wrap(err, `network ${net.name}: remove`);
      }
      await this.ipam.drop(poolOf(net));
      await removeFile(this.networkFile(net.id));
    });
  }

  private async destroyBridge(ctx: Context, net: NetworkRecord): Promise<void> {
    if (this.useIptables) await this.iptables.removeTagged((tag) => tag === `net:${net.id}`);
    await runSteps(ctx, [{ op: 'link.delete', name: net.bridge, ifMissingOk: true }]);
  }

  // ---- interfaces ------------------------------------------------------------

  /**
   * Gives containerId its network per req.network:
   * - bridge / a user network: address from IPAM; from one cloned child inside
   *   req.netns, over one netlink socket: veth pair `berth…` ↔ `eth0` with the host
   *   end created back in the host's namespace, on the bridge and up, and the peer
   *   born in req.netns under its final name (no rename, no move); then in one
   *   batch lo up, eth0 address and up, default route via the gateway;
   * - none: lo up in req.netns; host: nothing (the host's namespace);
   * - container:<id>: req.netns is that container's namespace, only checked.
   * Writes hosts/hostname/resolv.conf to req.etcDir when given. Returns the
   * addresses and every step, timed. ALREADY_EXISTS when the container has an
   * interface; NOT_FOUND for an unknown network or a missing namespace;
   * RESOURCE_EXHAUSTED when the subnet is full; a failing step names itself
   * (`veth berth1a2b3c4d5e: RTM_NEWLINK: EEXIST`). Everything is undone on failure.
   * Cost: one cloned child with two netlink batches (on the addon's netlink threads,
   * whose thread rewrites the etc files in place meanwhile), overlapped with one
   * runtime-state write (the address: one append to the pool's journal, group-committed
   * with concurrent callers, not fsynced; it is the endpoint's record too; one threadpool
   * job). Both are on
   * disk before it returns. none, host and container:<id>: the etc files alone (with
   * none's lo up when asked) in one call on the netlink threads.
   */
  async allocateInterface(ctx: Context, req: AllocateInterfaceRequest): Promise<InterfaceAllocation> {
    checkContainerId(req.containerId);
    validateHostname(req.hostname);
    if (req.etc !== undefined) validateEtcRequest(req.etc);
    const mode = parseNetworkMode(req.network);
    const cid = req.containerId;
    return this.containerLock.run(cid, async () => {
      throwIfCancelled(ctx, `container ${cid}: allocate interface`);
      const existing = this.endpoints.get(cid);
      if (existing !== undefined) throw alreadyExists(`container ${cid}: already has a ${existing.mode} interface`);
      if (mode.kind === 'host') {
        const steps = await this.prefixed(
          `container ${cid}`,
          this.runWithEtc(ctx, [], undefined, req, undefined, true),
        );
        return { containerId: cid, mode: 'host', steps };
      }
      if (req.netns === undefined)
        throw invalidArgument(`container ${cid}: network ${req.network} needs the container's netns (pid or path)`);
      const ns = req.netns;
      // A namespace file is on nsfs, procfs or tmpfs: stat never waits for a disk, so it is done
      // synchronously rather than as a threadpool round trip, which a busy host makes dear.
      let nsStat: { ino: number };
      try {
        nsStat = statSync(netnsPath(ns));
      } catch (err) {
        throw notFound(`container ${cid}: netns ${netnsPath(ns)}: not found`, { cause: err });
      }
      const netns = { ino: nsStat.ino, ...('pid' in ns ? { pid: ns.pid } : {}) };
      if (mode.kind === 'container' || mode.kind === 'none') {
        // lo up in a cloned child and the etc files meanwhile, in one call; the files alone when nothing is to be done
        // in the namespace (no namespace is entered then)
        const loUp = mode.kind === 'none' && req.loopbackUp !== true;
        const steps = await this.prefixed(
          `container ${cid}`,
          this.runWithEtc(
            ctx,
            loUp ? [{ op: 'link.up', name: 'lo' }] : [],
            loUp ? ns : undefined,
            req,
            undefined,
            false,
          ),
        );
        // Kept in memory only: such an endpoint holds nothing of the host's (no veth, address
        // or port) for recover() to release after a crash, and its namespace dies with the process.
        this.endpoints.set(cid, { containerId: cid, mode: mode.kind, netns, ports: [] });
        return { containerId: cid, mode: mode.kind, steps };
      }
      const net = this.resolve(mode.kind === 'bridge' ? 'bridge' : mode.name);
      return this.allocateBridge(ctx, req, net, ns, netns);
    });
  }

  private async allocateBridge(
    ctx: Context,
    req: AllocateInterfaceRequest,
    net: NetworkRecord,
    ns: NetnsRef,
    netns: EndpointRecord['netns'],
  ): Promise<InterfaceAllocation> {
    const cid = req.containerId;
    const hostVeth = hostVethName(cid);
    const prefix = parseSubnet(net.subnet).prefix;
    // Registered at once (synchronously after resolve) so removeNetwork sees the container.
    const record: EndpointRecord = {
      containerId: cid,
      mode: 'bridge',
      networkId: net.id,
      hostVeth,
      prefix,
      gateway: net.gateway,
      netns,
      ports: [],
    };
    this.endpoints.set(cid, record);
    const steps: SetupStep[] = [];
    let vethMade = false;
    try {
      let durable: Promise<void> = Promise.resolve();
      steps.push(
        ...(await this.timed('ipam.allocate', 'host', async () => {
          const r = await this.ipam.reserve(poolOf(net), cid);
          record.address = r.address;
          record.mac = macFor(r.address);
          durable = r.durable;
        })),
      );
      // A veth of the same name released with netnsGone and not yet reaped: deleted now.
      await this.reaper.take(ctx, hostVeth);
      const ops = bridgeInterfaceOps({
        hostVeth,
        bridge: net.bridge,
        netns: ns,
        address: record.address!,
        prefix,
        gateway: net.gateway,
        mac: record.mac!,
        mtu: net.mtu,
        ...(net.externalMtu !== undefined ? { routeMtu: net.externalMtu } : {}),
      });
      vethMade = true;
      // The address's append (a threadpool job) and the etc files (written by the netlink
      // thread while its child works in the namespace) overlap the netlink work; all are
      // done before the container can use the address. A failing link step comes first:
      // its error (e.g. veth.create EEXIST) decides the undo.
      const [links, state] = await settled([
        this.runWithEtc(ctx, ops, ns, req, record.address, false),
        // the address on disk is the endpoint's whole record (load() rebuilds it from there)
        this.timed('state.write', 'host', () => durable),
      ] as const);
      steps.push(...links, ...state);
    } catch (err) {
      const e = wrap(err, `container ${cid}: network ${net.name}`);
      const failed = isBerthError(err) && Array.isArray(err.details?.steps) ? (err.details.steps as SetupStep[]) : [];
      (e as { details: Record<string, unknown> | undefined }).details = { ...e.details, steps: [...steps, ...failed] };
      // A veth.create that failed (EEXIST: the name is someone else's) made nothing to delete.
      const undo = (what: string) => (x: unknown) => this.undoFailed(ctx, `container ${cid}: ${what}`, x);
      if (vethMade && !(isBerthError(err) && err.details?.step === 'veth.create')) {
        await runSteps(ctx, [{ op: 'link.delete', name: hostVeth, ifMissingOk: true }]).catch(undo('delete veth'));
      }
      await this.ipam.release(poolOf(net), cid).catch(undo('release address'));
      this.endpoints.delete(cid);
      throw e;
    }
    return {
      containerId: cid,
      mode: 'bridge',
      network: { id: net.id, name: net.name, bridge: net.bridge },
      address: record.address!,
      prefix,
      gateway: net.gateway,
      mac: record.mac!,
      hostVeth,
      mtu: net.mtu,
      ...(net.externalMtu !== undefined ? { externalMtu: net.externalMtu } : {}),
      steps,
    };
  }

  /** An undo step that failed: logged (recover() finishes it later), the original error is what the caller sees. */
  private undoFailed(ctx: Context, what: string, err: unknown): void {
    ctx.logger.warn(`${what}: undo failed`, { error: err instanceof Error ? err.message : String(err) });
  }

  private async prefixed<T>(subject: string, p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      throw wrap(err, subject);
    }
  }

  /**
   * runSteps with req's etc files (when it has an etcDir) written in place by the same
   * native call: ops in netns (none: the files alone, on the addon's netlink thread).
   */
  private async runWithEtc(
    ctx: Context,
    ops: readonly NetlinkOp[],
    netns: NetnsRef | undefined,
    req: AllocateInterfaceRequest,
    address: string | undefined,
    hostFiles: boolean,
  ): Promise<SetupStep[]> {
    const files = this.etcFilesOf(req, address, hostFiles);
    if (ops.length === 0 && files === undefined) return [];
    return runSteps(ctx, ops, netns, files);
  }

  private etcFilesOf(
    req: AllocateInterfaceRequest,
    address: string | undefined,
    hostFiles: boolean,
  ): StepFiles | undefined {
    if (req.etcDir === undefined) return undefined;
    const etc = req.etc ?? {};
    const list = etcFiles(req.etcDir, {
      ...etc,
      hostname: req.hostname,
      ...(address ? { address } : {}),
      ...(etc.dns?.length ? {} : this.options.dns ? { dns: this.options.dns } : {}),
      hostFiles,
      hostGateway: this.hostGateway(),
    });
    return { step: ETC_FILES_STEP, subject: ETC_FILES_SUBJECT, list };
  }

  /** The address `host-gateway` stands for in ExtraHosts: the default bridge's gateway (Docker's docker0 address). */
  hostGateway(): string {
    return this.resolve('bridge').gateway;
  }

  /** Runs fn as one named step timed in this process (the instrument layer makes it a span). */
  private async timed(name: string, subject: string, fn: () => Promise<unknown>): Promise<SetupStep[]> {
    const startNs = nowNs();
    await fn();
    const endNs = nowNs();
    return [{ name, subject, startNs, endNs, durationNs: endNs - startNs, where: 'host', origin: 'node' }];
  }

  /**
   * Undoes allocateInterface: published ports, the host veth (its peer goes with
   * it), the endpoint record if it has one, the address (in memory: the pool's next
   * write takes it to the disk). Idempotent: an unknown container is a
   * no-op. With opts.netnsGone the host veth is left to the kernel (it dies with
   * the namespace) and to the reaper, which deletes it after the grace period if
   * it is still there. The same happens without it when the namespace was named
   * by a pid whose process has exited (or now has another namespace) and no
   * other endpoint shares that namespace. Cost: without netnsGone a synchronous RTM_DELLINK (its
   * dearest part: the kernel waits for RCU grace periods); with ports, their iptables runs or
   * proxies and the record's unlink; without either, no system call.
   */
  async releaseInterface(
    ctx: Context,
    containerId: string,
    opts: ReleaseInterfaceOptions = {},
  ): Promise<InterfaceRelease> {
    return this.containerLock.run(containerId, async () => {
      const steps: SetupStep[] = [];
      const rec = this.endpoints.get(containerId);
      if (rec === undefined) return { steps };
      await this.removePorts(containerId, [], rec.ports);
      if (rec.hostVeth !== undefined) {
        if (opts.netnsGone === true || (await this.netnsAbandoned(rec))) this.reaper.add(containerId, rec.hostVeth);
        else
          steps.push(
            ...(await this.prefixed(
              `container ${containerId}: release`,
              runSteps(ctx, [{ op: 'link.delete', name: rec.hostVeth, ifMissingOk: true }]),
            )),
          );
      }
      const net = rec.networkId !== undefined ? this.networks.get(rec.networkId) : undefined;
      // Either order leaves a state recover() cleans: an address (the endpoint rebuilt from it) or a record without a
      // live container.
      if (this.recordFiles.has(containerId)) {
        await removeFile(this.endpointFile(containerId));
        this.recordFiles.delete(containerId);
      }
      if (net !== undefined) await this.ipam.release(poolOf(net), containerId);
      this.endpoints.delete(containerId);
      this.rebuilt.delete(containerId);
      return { steps };
    });
  }

  /**
   * True when rec's namespace was named by a pid that no longer holds it and no
   * other endpoint shares it: nothing berth knows keeps it alive. A guess the
   * reaper makes safe (a veth that outlives it is deleted after the grace period).
   * Cost: one stat.
   */
  private async netnsAbandoned(rec: EndpointRecord): Promise<boolean> {
    const ns = rec.netns;
    if (ns?.pid === undefined) return false;
    const now = await stat(`/proc/${ns.pid}/ns/net`).then(
      (s) => s.ino,
      () => undefined,
    );
    if (now === ns.ino) return false;
    return ![...this.endpoints.values()].some((e) => e !== rec && e.netns?.ino === ns.ino);
  }

  /** Host veths released to the kernel and the reaper, not yet checked. */
  pendingVeths(_ctx: Context): string[] {
    return this.reaper.list();
  }

  /** The endpoint of a container, as persisted; undefined when it has none. */
  endpoint(_ctx: Context, containerId: string): EndpointRecord | undefined {
    const rec = this.endpoints.get(containerId);
    return rec === undefined ? undefined : { ...rec, ports: [...rec.ports] };
  }

  // ---- ports -----------------------------------------------------------------

  /**
   * Publishes `[hostIp:]hostPort:containerPort[/proto]` of a container on the
   * bridge: iptables DNAT (BERTH chain) or the userland proxy. The host port may be
   * a range `LOW-HIGH` (the first free one in it) or 0 (a free one from the
   * ephemeral range, as Docker does for `-P` and an empty HostPort). INVALID_ARGUMENT for
   * a bad spec, FAILED_PRECONDITION when the container has no bridge address,
   * CONFLICT naming the port when berth or another program holds it (for a range:
   * every port of it). Undone on failure. Publishing the same spec twice for one
   * container is a no-op. opts.via overrides the driver's portDriver for this port
   * (the bench compares both); `iptables` without a usable iptables is UNAVAILABLE.
   * Cost: one bind test per host port tried, then the rules or the proxy.
   */
  async allocatePort(
    ctx: Context,
    containerId: string,
    spec: string,
    opts: { via?: 'iptables' | 'proxy' } = {},
  ): Promise<PortRecord> {
    const req = parsePortRequest(spec);
    return this.containerLock.run(containerId, async () => {
      throwIfCancelled(ctx, `container ${containerId}: publish ${spec}`);
      const rec = this.endpoints.get(containerId);
      if (rec === undefined || rec.address === undefined)
        throw failedPrecondition(`container ${containerId}: publish ${spec}: no bridge interface`);
      const same = rec.ports.find(
        (q) =>
          q.hostIp === req.hostIp &&
          q.proto === req.proto &&
          q.containerPort === req.containerPort &&
          q.hostPort >= req.hostPorts[0] &&
          q.hostPort <= req.hostPorts[1],
      );
      if (same !== undefined) return { ...same };
      if (opts.via === 'iptables' && !this.useIptables)
        throw unavailable(
          `container ${containerId}: publish ${spec}: iptables publishing is not in use by this driver`,
        );
      const p = await this.reserveHostPort(containerId, req, spec);
      const key = formatPortSpec(p);
      const net = this.networks.get(rec.networkId!)!;
      const port: PortRecord = { ...p, via: opts.via ?? (this.useIptables ? 'iptables' : 'proxy') };
      try {
        if (port.via === 'iptables') {
          if (req.hostPorts[0] === req.hostPorts[1]) await checkPortFree(p);
          const forwardExists = rec.ports.some(
            (q) => q.via === 'iptables' && q.proto === p.proto && q.containerPort === p.containerPort,
          );
          await this.iptables.addPortRules(containerId, net.bridge, rec.address, p, !forwardExists);
        } else {
          this.proxies.set(`${containerId} ${key}`, await startProxy(p, rec.address));
        }
        const next: EndpointRecord = { ...rec, ports: [...rec.ports, port] };
        await writeJsonAtomic(this.endpointFile(containerId), next, RUNTIME);
        this.recordFiles.add(containerId);
        this.endpoints.set(containerId, next);
      } catch (err) {
        await this.removePorts(containerId, rec.ports, [port]).catch((x: unknown) =>
          this.undoFailed(ctx, `container ${containerId}: unpublish ${spec}`, x),
        );
        throw wrap(err, `container ${containerId}: publish ${spec}`);
      }
      return { ...port };
    });
  }

  /**
   * Picks and reserves the host port of req: the one given, or the first of its
   * range (the ephemeral range from a random point, so parallel engines seldom
   * try the same ports) that no container holds and that binds on the host. The
   * reservation is made before the bind test, so two allocations never pick the same one.
   */
  private async reserveHostPort(containerId: string, req: PortRequest, spec: string): Promise<PortSpec> {
    const [lo, hi] = req.hostPorts;
    const { hostPorts: _range, ephemeral: _eph, ...base } = req;
    const count = hi - lo + 1;
    const start = req.ephemeral ? Math.floor(Math.random() * count) : 0;
    for (let i = 0; i < count; i++) {
      const p: PortSpec = { ...base, hostPort: lo + ((start + i) % count) };
      const held = [...this.reservedPorts.values()].find((h) => portsCollide(h.spec, p));
      if (held !== undefined) {
        if (count === 1)
          throw conflict(
            `port ${p.hostIp}:${p.hostPort}/${p.proto}: already published by container ${held.containerId}`,
          );
        continue;
      }
      const key = formatPortSpec(p);
      this.reservedPorts.set(key, { spec: p, containerId });
      if (count === 1) return p;
      try {
        await checkPortFree(p);
        return p;
      } catch (err) {
        this.reservedPorts.delete(key);
        if (!isBerthError(err, 'CONFLICT')) throw wrap(err, `container ${containerId}: publish ${spec}`);
      }
    }
    throw conflict(
      `container ${containerId}: publish ${spec}: no free host port in ${req.ephemeral ? 'the ephemeral range ' : ''}${lo}-${hi} on ${req.hostIp}/${req.proto}`,
    );
  }

  /** Unpublishes one spec of the container, or all its ports. Idempotent. */
  async releasePort(ctx: Context, containerId: string, spec?: string): Promise<void> {
    const key = spec === undefined ? undefined : formatPortSpec(parsePortSpec(spec));
    await this.containerLock.run(containerId, async () => {
      throwIfCancelled(ctx, `container ${containerId}: unpublish`);
      const rec = this.endpoints.get(containerId);
      if (rec === undefined) return;
      const gone = rec.ports.filter((q) => key === undefined || formatPortSpec(q) === key);
      if (gone.length === 0) return;
      const next: EndpointRecord = { ...rec, ports: rec.ports.filter((q) => !gone.includes(q)) };
      await this.removePorts(containerId, next.ports, gone);
      if (next.ports.length > 0) {
        await writeJsonAtomic(this.endpointFile(containerId), next, RUNTIME);
      } else {
        // without ports the address is the record again (load() rebuilds the endpoint from it)
        await removeFile(this.endpointFile(containerId));
        this.recordFiles.delete(containerId);
      }
      this.endpoints.set(containerId, next);
    });
  }

  /** Removes the rules and proxies of `gone`; `staying` are the container's ports that remain. */
  private async removePorts(cid: string, staying: readonly PortRecord[], gone: readonly PortRecord[]): Promise<void> {
    const viaIptables = gone.filter((p) => p.via === 'iptables');
    if (viaIptables.length > 0 && this.useIptables) {
      // The forward accept is per container port: it stays while a staying port uses it.
      const shared = (p: PortSpec) =>
        staying.some((q) => q.via === 'iptables' && q.proto === p.proto && q.containerPort === p.containerPort);
      const rec = this.endpoints.get(cid);
      const net = rec?.networkId !== undefined ? this.networks.get(rec.networkId) : undefined;
      if (rec?.address !== undefined && net !== undefined) {
        // The rules are known exactly: deleted in one transaction; each forward accept once.
        const forwards = new Set<string>();
        const ports = viaIptables.map((p) => {
          const key = `${p.proto}/${p.containerPort}`;
          const forward = !shared(p) && !forwards.has(key);
          forwards.add(key);
          return { p, forward };
        });
        await this.iptables.removePortRules(cid, net.bridge, rec.address, ports);
      } else {
        await this.iptables.removeTagged(
          (tag) => tag === cid,
          (rule) => viaIptables.some((p) => isRuleOfPort(rule, p) && (rule.chain === CHAIN_DNAT || !shared(p))),
        );
      }
    }
    for (const p of gone) {
      const key = formatPortSpec(p);
      const proxy = this.proxies.get(`${cid} ${key}`);
      if (proxy !== undefined) {
        await proxy.close();
        this.proxies.delete(`${cid} ${key}`);
      }
      if (this.reservedPorts.get(key)?.containerId === cid) this.reservedPorts.delete(key);
    }
  }

  // ---- recovery --------------------------------------------------------------

  /**
   * Removes what belongs to containers that no longer run (not in liveContainerIds):
   * endpoints (veth, ports, address), iptables rules tagged for them, addresses in
   * every pool, and veths on berth's bridges that no live endpoint owns. Restarts
   * the userland proxies of live containers. Only this instance's rules (its
   * owner tag) are touched: another berth root's rules on the host stay. Host
   * veths released with netnsGone and still present are deleted now.
   * Idempotent; call once after open().
   */
  async recover(ctx: Context, liveContainerIds: Iterable<string>): Promise<RecoverReport> {
    const live = new Set(liveContainerIds);
    const report: RecoverReport = { endpoints: [], rules: 0, addresses: [], veths: [] };
    report.veths.push(...(await this.reaper.reapAll(ctx)));
    // An endpoint rebuilt from an address whose container never got its record to the disk may have a veth not yet
    // on the bridge; one of its name on a bridge that is not this instance's belongs to someone else and stays.
    const bridges = new Set([...this.networks.values()].map((n) => n.bridge));
    for (const cid of [...this.endpoints.keys()]) {
      if (live.has(cid)) continue;
      const { hostVeth: veth, address } = this.endpoints.get(cid)!;
      if (this.rebuilt.has(cid) && veth !== undefined) {
        const present = await access(`/sys/class/net/${veth}`).then(
          () => true,
          () => false,
        );
        const master = present ? await readlink(`/sys/class/net/${veth}/master`).catch(() => undefined) : undefined;
        if (master !== undefined && !bridges.has(basename(master))) {
          // the address stays in the pool: reclaim() below frees it
          this.endpoints.delete(cid);
          this.rebuilt.delete(cid);
        } else {
          await this.releaseInterface(ctx, cid);
          if (present) report.veths.push(veth);
          // an endpoint that was only an address: reported with the addresses freed
          if (address !== undefined) report.addresses.push(address);
        }
      } else {
        await this.releaseInterface(ctx, cid);
      }
      report.endpoints.push(cid);
    }
    if (this.useIptables) {
      const nets = new Set([...this.networks.keys()].map((id) => `net:${id}`));
      report.rules = await this.iptables.removeTagged((tag) =>
        tag.startsWith('net:') ? !nets.has(tag) : !this.endpoints.has(tag),
      );
    }
    report.addresses.push(...(await this.reclaim(ctx, live)));
    await this.ipam.flush();
    const owned = new Set([...this.endpoints.values()].map((e) => e.hostVeth));
    for (const net of this.networks.values()) {
      let ports: string[] = [];
      try {
        ports = await readdir(`/sys/class/net/${net.bridge}/brif`);
      } catch {
        continue;
      }
      for (const veth of ports) {
        if (owned.has(veth) || !/^berth[0-9a-f]{10}$/.test(veth) || report.veths.includes(veth)) continue;
        await runSteps(ctx, [{ op: 'link.delete', name: veth, ifMissingOk: true }]);
        report.veths.push(veth);
      }
    }
    for (const rec of this.endpoints.values()) {
      for (const p of rec.ports) {
        const key = `${rec.containerId} ${formatPortSpec(p)}`;
        if (p.via === 'proxy' && !this.proxies.has(key) && rec.address !== undefined)
          this.proxies.set(key, await startProxy(p, rec.address));
      }
    }
    if (report.endpoints.length + report.rules + report.addresses.length + report.veths.length > 0) {
      ctx.logger.info('networkdriver recover: removed leftovers of stopped containers', { ...report });
    }
    return report;
  }

  /**
   * Frees, in every network, the addresses whose container is not in
   * liveContainerIds (their endpoints are left to recover()). Containers being
   * set up at the time must be in liveContainerIds. Idempotent; returns the
   * addresses freed. Cost: one file write per network that changed.
   */
  async reclaim(ctx: Context, liveContainerIds: Iterable<string>): Promise<string[]> {
    throwIfCancelled(ctx, 'networkdriver reclaim');
    const live = new Set(liveContainerIds);
    const freed: string[] = [];
    for (const net of this.networks.values()) freed.push(...(await this.ipam.reclaim(poolOf(net), live)));
    return freed;
  }

  /**
   * Stops the veth reaper (waiting for a round in progress; veths still pending
   * are left to recover()) and the userland proxies this process runs, and writes
   * the releases of addresses not yet on disk; state stays on disk. Idempotent.
   */
  async close(_ctx: Context): Promise<void> {
    await this.reaper.stop();
    await this.ipam.flush();
    await this.ipam.close();
    for (const [key, proxy] of [...this.proxies]) {
      await proxy.close();
      this.proxies.delete(key);
    }
  }

  /**
   * Removes everything the driver made on the host: every endpoint, every network
   * (the default one included), and berth's iptables chains when no other
   * instance's rule remains in them. For tests and a full reset; a daemon never calls it.
   */
  async reset(ctx: Context): Promise<void> {
    await this.recover(ctx, []);
    await this.close(ctx);
    for (const net of [...this.networks.values()]) {
      await this.destroyBridge(ctx, net);
      await this.ipam.drop(poolOf(net));
      await removeFile(this.networkFile(net.id));
      this.networks.delete(net.id);
    }
    if (this.useIptables) await this.iptables.removeChainsIfUnused();
  }
}

/**
 * Awaits every promise (so an undo never races work still running) and returns
 * their values in order, or throws the first failure.
 */
async function settled<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
