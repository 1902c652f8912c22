// The network bench's environment: one networkdriver with a bridge of the bench's
// own (name and subnet unique to this process), named network namespaces, and a
// cleanup that removes every link, namespace, iptables rule and directory it made.
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { isBerthError, wrap } from '../../engine/errdefs/errors.js';
import { Iptables } from '../../engine/networkdriver/iptables.js';
import type { NetworkRecord } from '../../engine/networkdriver/driver.js';
import { BridgeDriver, hostVethName } from '../../engine/networkdriver/network-driver.js';
import { runSteps } from '../../engine/networkdriver/netlink-ops.js';
import { background, type Context } from '../../engine/trace/index.js';
import { Teardown } from '../teardown.js';
import { CommandShell } from './command-shell.js';

/** Everything global the bench makes carries this prefix and the process id. */
export const NAME_PREFIX = `bnb${process.pid}`;
/** The bench's bridge (15 characters at most). */
export const BENCH_BRIDGE = NAME_PREFIX.slice(0, 15);
/** The bridge of the bench's second network, at Ethernet's MTU (see NetworkWorld's mtu). */
export const BENCH_ETHERNET_BRIDGE = `${NAME_PREFIX}e`.slice(0, 15);
/** Prefix of the bench's network namespaces (`ip netns list`). */
export const NETNS_PREFIX = `berthbench-${process.pid}-`;

/** A named network namespace the bench made (`ip netns add`). */
export interface BenchNetns {
  name: string;
  path: string;
}

let nsCounter = 0;

/** `ip -batch` of lines: through shell when given (no fork of this process), else as a child process. */
async function ipBatch(lines: readonly string[], force: boolean, shell?: CommandShell): Promise<string | undefined> {
  const flags = force ? ['-force', '-batch', '-'] : ['-batch', '-'];
  if (shell !== undefined) {
    const r = await shell.run(`ip ${flags.join(' ')} <<'BERTH_BATCH_END'\n${lines.join('\n')}\nBERTH_BATCH_END`);
    return r.exitCode === 0 ? undefined : r.output.trim() || `exit ${r.exitCode}`;
  }
  const r = await execa('ip', flags, { input: lines.map((l) => `${l}\n`).join(''), reject: false });
  return r.failed ? String(r.stderr).trim() || r.shortMessage : undefined;
}

/** Creates a fresh named network namespace. Cost: one `ip netns add`. */
export async function createNetns(): Promise<BenchNetns> {
  return (await createNetnsBatch(1))[0]!;
}

/**
 * Creates n fresh named network namespaces with one `ip -batch` process (run by
 * shell when given). On failure deletes the ones that were made and throws naming them.
 */
export async function createNetnsBatch(n: number, shell?: CommandShell): Promise<BenchNetns[]> {
  const made = Array.from({ length: n }, () => {
    const name = `${NETNS_PREFIX}${nsCounter++}`;
    return { name, path: `/run/netns/${name}` };
  });
  if (n === 0) return made;
  const failure = await ipBatch(
    made.map((ns) => `netns add ${ns.name}`),
    false,
    shell,
  ).catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
  if (failure !== undefined) {
    await deleteNetnsBatch(made);
    throw new Error(`netns ${made.map((ns) => ns.name).join(', ')}: ip netns add: ${failure}`);
  }
  return made;
}

/** Deletes a namespace made by createNetns (its veth peers go with it). Idempotent. */
export async function deleteNetns(ns: BenchNetns): Promise<void> {
  await deleteNetnsBatch([ns]);
}

/**
 * Deletes namespaces with one `ip -batch -force` process (going on past missing
 * ones), run by shell when given (falling back to a child process when the shell
 * fails). Idempotent.
 */
export async function deleteNetnsBatch(list: readonly BenchNetns[], shell?: CommandShell): Promise<void> {
  if (list.length === 0) return;
  const lines = list.map((ns) => `netns del ${ns.name}`);
  // a missing namespace is no failure (as without the shell); only a failed shell is retried without it
  if (
    shell !== undefined &&
    (await ipBatch(lines, true, shell).then(
      () => true,
      () => false,
    ))
  )
    return;
  await ipBatch(lines, true);
}

/** The bench's namespaces still present (for cleanup checks). */
export async function leftoverNetns(): Promise<string[]> {
  const r = await execa('ip', ['netns', 'list'], { reject: false });
  return String(r.stdout)
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(NETNS_PREFIX));
}

/** Host end names of the veths the bench's bare plans (not the driver) create. */
export function planVethName(slot: number): string {
  return hostVethName(`${NAME_PREFIX}-plan-${slot}`);
}

/** The bench's bridge and every veth attached to it, as host links still present. */
export async function leftoverLinks(): Promise<string[]> {
  const r = await execa('ip', ['-o', 'link', 'show'], { reject: false });
  const names = String(r.stdout)
    .split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
    .filter((n) => n !== '');
  const mine = new Set([BENCH_BRIDGE, BENCH_ETHERNET_BRIDGE, ...Array.from({ length: 16 }, (_, i) => planVethName(i))]);
  const attached = new Set<string>();
  for (const bridge of [BENCH_BRIDGE, BENCH_ETHERNET_BRIDGE]) {
    const br = await execa('ip', ['-o', 'link', 'show', 'master', bridge], { reject: false });
    if (br.exitCode === 0)
      for (const l of String(br.stdout).split('\n'))
        if (l.includes(': ')) attached.add(l.split(': ')[1]!.split('@')[0]!);
  }
  return names.filter((n) => mine.has(n) || attached.has(n)).sort();
}

/** iptables rules tagged by berth (`--comment berth:…`), one string each, sorted. */
export async function berthTaggedRules(): Promise<string[]> {
  const out: string[] = [];
  for (const table of ['nat', 'filter']) {
    const r = await execa('iptables', ['-w', '-t', table, '-S'], { reject: false });
    if (r.exitCode !== 0) continue;
    for (const line of String(r.stdout).split('\n')) if (line.includes('berth:')) out.push(`${table} ${line}`);
  }
  return out.sort();
}

/** The subnets tried for the bench's bridge, in order; one that overlaps a host route is skipped. */
function candidateSubnets(variant: number): string[] {
  const pid = process.pid;
  return Array.from({ length: 8 }, (_, k) => `10.${150 + ((pid + 7 * k) % 50)}.${((pid >> 3) + variant) % 250}.0/24`);
}

export interface NetworkWorldOptions {
  /**
   * Link MTU of the bench's network (default: the driver's, LOCAL_MTU). With a
   * value the world is the bench's second one: bridge BENCH_ETHERNET_BRIDGE, its
   * own subnets and container ids, so both can be open at once.
   */
  mtu?: number;
}

/**
 * The driver and bridge the network bench measures. acquire() opens it on first
 * use (a bridge `bnb<pid>`, a /24 subnet no host route uses, iptables port
 * publishing when iptables works); release() tears it all down when the last
 * user is done. Not re-entrant across processes: names carry the pid.
 */
export class NetworkWorld {
  private users = 0;
  private opening: Promise<BridgeDriver> | undefined;
  private driver_: BridgeDriver | undefined;
  private root: string | undefined;
  private chainsBefore = false;
  private readonly containers = new Set<string>();
  private counter = 0;
  /**
   * Runs the helper commands of the setup cases (namespaces, the floor program), so
   * this process does not fork between their samples (see command-shell.ts).
   */
  readonly shell = new CommandShell('network bench shell');
  private readonly bridge: string;
  private readonly idPrefix: string;
  private readonly variant: number;

  constructor(
    private readonly dataRoot: string,
    private readonly options: NetworkWorldOptions = {},
  ) {
    const second = options.mtu !== undefined;
    this.bridge = second ? BENCH_ETHERNET_BRIDGE : BENCH_BRIDGE;
    this.idPrefix = second ? `${NAME_PREFIX}e` : NAME_PREFIX;
    this.variant = second ? 1 : 0;
  }

  /** The open driver; throws when acquire() has not completed. */
  get driver(): BridgeDriver {
    if (this.driver_ === undefined) throw new Error('network bench: driver not open');
    return this.driver_;
  }

  /** The bench's network (bridge, subnet, gateway). */
  get network(): NetworkRecord {
    return this.driver.listNetworks(background())[0]!;
  }

  /** A container id unique to this process and run (`bnb<pid>-<n>`). */
  nextContainerId(): string {
    const id = `${this.idPrefix}-${this.counter++}`;
    this.containers.add(id);
    return id;
  }

  /** The container's interface was released: cleanup need not release it again. */
  forget(containerId: string): void {
    this.containers.delete(containerId);
  }

  /** Opens the driver for one more user. Fails naming the bridge when no subnet could be set up. */
  async acquire(ctx: Context): Promise<BridgeDriver> {
    this.users++;
    try {
      this.opening ??= this.open(ctx);
      return await this.opening;
    } catch (err) {
      this.users--;
      this.opening = undefined;
      throw err;
    }
  }

  private async open(ctx: Context): Promise<BridgeDriver> {
    this.chainsBefore = (await execa('iptables', ['-w', '-t', 'nat', '-S', 'BERTH'], { reject: false })).exitCode === 0;
    this.root = await mkdtemp(join(this.dataRoot, 'berth-netbench-'));
    let last: unknown;
    for (const subnet of candidateSubnets(this.variant)) {
      try {
        this.driver_ = await BridgeDriver.open(ctx, {
          root: this.root,
          defaultNetwork: { bridge: this.bridge, subnet },
          masquerade: false,
          dns: ['127.0.0.1'],
          ...(this.options.mtu !== undefined ? { mtu: this.options.mtu } : {}),
        });
        return this.driver_;
      } catch (err) {
        last = err;
        if (!(isBerthError(err, 'INVALID_ARGUMENT') && /overlaps/.test((err as Error).message))) break;
      }
    }
    await this.cleanup(ctx);
    throw wrap(last, `network bench bridge ${this.bridge}`);
  }

  /** One user done; the last one removes everything (see cleanup). */
  async release(ctx: Context): Promise<void> {
    if (this.users === 0) return;
    this.users--;
    if (this.users > 0) return;
    const opening = this.opening;
    this.opening = undefined;
    await opening?.catch(() => undefined);
    await this.cleanup(ctx);
  }

  /**
   * Removes what the bench made: every container's interface and ports, the
   * bridge's iptables rules and the bridge, berth's chains when they were not
   * there before and hold no other rules, the state directory. Never calls the
   * driver's reset()/recover(): those would also remove other berth instances'
   * rules on this host. Idempotent; collects failures and throws one error after trying all.
   */
  async cleanup(ctx: Context): Promise<void> {
    const teardown = new Teardown();
    const attempt = (what: string, fn: () => Promise<unknown>) => teardown.attempt(what, fn);
    const driver = this.driver_;
    this.driver_ = undefined;
    if (driver !== undefined) {
      const net = driver.listNetworks(ctx)[0];
      for (const cid of [...this.containers])
        await attempt(`container ${cid}`, () => driver.releaseInterface(ctx, cid));
      await attempt('proxies', () => driver.close(ctx));
      const iptables = new Iptables();
      if (net !== undefined) {
        if (await iptables.available())
          await attempt(`bridge ${net.bridge} rules`, () => iptables.removeTagged((tag) => tag === `net:${net.id}`));
        await attempt(`bridge ${net.bridge}`, () =>
          runSteps(ctx, [{ op: 'link.delete', name: net.bridge, ifMissingOk: true }]),
        );
      }
      // only when no rule is left in them, in one transaction: another instance on the host (a test, another bench)
      // may be adding its rules or jumps right now, and must neither lose them nor find its chain gone mid-way
      if (!this.chainsBefore && (await iptables.available()))
        await attempt('iptables chains', () => iptables.removeChainsIfUnused());
    }
    this.containers.clear();
    for (let slot = 0; slot < 16; slot++) {
      const name = planVethName(slot);
      await attempt(`veth ${name}`, () => runSteps(ctx, [{ op: 'link.delete', name, ifMissingOk: true }]));
    }
    if (this.root !== undefined) {
      const root = this.root;
      this.root = undefined;
      await attempt(`state ${root}`, () => rm(root, { recursive: true, force: true }));
    }
    await attempt('bench shell', () => this.shell.close());
    teardown.finish('network bench cleanup');
  }

  /** Where a container's hosts/hostname/resolv.conf go. */
  etcDir(containerId: string): string {
    if (this.root === undefined) throw new Error('network bench: driver not open');
    return join(this.root, 'etc', containerId);
  }
}
