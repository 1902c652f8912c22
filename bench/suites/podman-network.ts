// A bridge network of its own for the private podman service: netavark as the network
// backend, one network file in the service's private network config folder (a unique
// name, a bridge named after this process, a /24 no host route uses, DNS off so no
// aardvark-dns runs), and the removal of everything netavark makes on the host for it —
// its firewall chains and rules, the bridge, the veths on it and the network namespace
// files of the containers — when podman's own teardown left any of it. The chains
// netavark shares between its networks (NETAVARK_FORWARD, NETAVARK-HOSTPORT-*) are
// removed only when they did not exist before the service started and no other netavark
// network uses them.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { unavailable } from '../../engine/errdefs/errors.js';
import { call, onPath } from '../peers/index.js';
import { deleteLinkIfPresent, Teardown } from '../teardown.js';

/** Where Debian's netavark package installs the binary podman looks for. */
const NETAVARK_PATHS = ['/usr/lib/podman/netavark', '/usr/libexec/podman/netavark'];

/** Why podman's bridge-network cases cannot run here, or undefined. */
export function netavarkMissing(): string | undefined {
  if (NETAVARK_PATHS.some((p) => existsSync(p))) return undefined;
  return 'podman bridge network left out: netavark not installed (apt-get install netavark)';
}

/** The chains netavark shares between all its networks on the host, per table. */
const SHARED_CHAINS: Record<string, readonly string[]> = {
  filter: ['NETAVARK_FORWARD'],
  nat: ['NETAVARK-HOSTPORT-DNAT', 'NETAVARK-HOSTPORT-MASQ', 'NETAVARK-HOSTPORT-SETMARK'],
};
/** Rules netavark puts in its shared chains whatever network uses them (port-forward masquerade marks). */
const STATIC_RULE = /mark 0x2000\/0x2000/;

export interface PodmanNetwork {
  /** Unique per process and start (`berth-podman-<pid>-<hex>`). */
  name: string;
  /** The bridge (at most 15 characters, unique per process). */
  bridge: string;
  /** `10.x.y.0/24`. */
  subnet: string;
  gateway: string;
  id: string;
}

/** A /24 from 10.230.0.0–10.254.255.0 that no host route uses yet (apart from berth's and docker's suite ranges). */
async function freeSubnet(bridge: string): Promise<{ subnet: string; gateway: string }> {
  const used = (await call(['ip', '-4', 'route', 'show', 'table', 'all'], { captureStdout: true })).stdout;
  for (let k = 0; k < 25; k++) {
    const prefix = `10.${230 + ((process.pid + 7 * k) % 25)}.${(process.pid >> 3) % 250}.`;
    if (!used.includes(prefix)) return { subnet: `${prefix}0/24`, gateway: `${prefix}1` };
  }
  throw unavailable(`podman bridge ${bridge}: no free 10.x.y.0/24 subnet`);
}

/** A network for this process: the bridge `bpm<pid>`, a free /24, a random id. */
export async function planNetwork(): Promise<PodmanNetwork> {
  const bridge = `bpm${process.pid}`.slice(0, 15);
  const id = randomBytes(32).toString('hex');
  return { name: `berth-podman-${process.pid}-${id.slice(0, 8)}`, bridge, id, ...(await freeSubnet(bridge)) };
}

/** The network's file as netavark-backed podman reads it from its network config folder. */
export function networkFile(n: PodmanNetwork): string {
  return `${JSON.stringify(
    {
      name: n.name,
      id: n.id,
      driver: 'bridge',
      network_interface: n.bridge,
      created: new Date().toISOString(),
      subnets: [{ subnet: n.subnet, gateway: n.gateway }],
      ipv6_enabled: false,
      internal: false,
      dns_enabled: false,
      ipam_options: { driver: 'host-local' },
    },
    null,
    2,
  )}\n`;
}

/** One table of `iptables-save`: its chains and its rules (`-A CHAIN …` lines as printed). */
interface Table {
  chains: Set<string>;
  rules: string[];
}

/** The tables of `iptables-save` (empty when iptables-save is missing). */
export function iptablesTables(): Map<string, Table> {
  const out = new Map<string, Table>();
  let text: string;
  try {
    text = execFileSync('iptables-save', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return out;
  }
  let current: Table | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) out.set(line.slice(1), (current = { chains: new Set(), rules: [] }));
    else if (line.startsWith(':')) current?.chains.add(line.slice(1).split(' ')[0]!);
    else if (line.startsWith('-A ')) current?.rules.push(line);
  }
  return out;
}

/** `table/chain` of every NETAVARK chain on the host now. */
export function netavarkChains(): Set<string> {
  const out = new Set<string>();
  for (const [name, t] of iptablesTables())
    for (const c of t.chains) if (c.startsWith('NETAVARK')) out.add(`${name}/${c}`);
  return out;
}

const chainOf = (rule: string) => rule.split(' ')[1]!;
const targetOf = (rule: string) => / -j (\S+)/.exec(rule)?.[1];

/**
 * The iptables-restore input per table that removes what netavark left for network `n`: the rules naming its subnet
 * or its network, its own chains (NETAVARK-<hash>, NETAVARK-DN-<hash>) with the jumps to them, and the shared chains
 * when none of them existed in `before` and no other network's rule is left in them. Exported for tests.
 */
export function leftoverScript(
  tables: ReadonlyMap<string, Table>,
  n: Pick<PodmanNetwork, 'name' | 'subnet'>,
  before: ReadonlySet<string>,
): Map<string, string> {
  const own = new Set<string>();
  for (const t of tables.values()) {
    for (const r of t.rules) {
      const target = targetOf(r);
      if (target === undefined || !target.startsWith('NETAVARK-')) continue;
      if (r.includes(` -s ${n.subnet} `) && chainOf(r) === 'POSTROUTING') own.add(target);
      if (r.includes(`dnat name: ${n.name} `)) own.add(target);
    }
  }
  // NETAVARK-<hash> and NETAVARK-DN-<hash> go together
  for (const c of [...own]) {
    const hash = c.startsWith('NETAVARK-DN-') ? c.slice('NETAVARK-DN-'.length) : c.slice('NETAVARK-'.length);
    own.add(`NETAVARK-${hash}`).add(`NETAVARK-DN-${hash}`);
  }
  const mine = (r: string) =>
    own.has(chainOf(r)) ||
    own.has(targetOf(r) ?? '') ||
    new RegExp(` -[sd] ${n.subnet.replace(/\./g, '\\.')}( |$)`).test(r) ||
    r.includes(`dnat name: ${n.name} `);
  // the shared chains go only when all were made during this run and nothing but ours and their fixed rules is in them
  const shared = Object.entries(SHARED_CHAINS).flatMap(([table, chains]) => chains.map((c) => `${table}/${c}`));
  const othersUse = [...tables].some(([name, t]) =>
    t.rules.some(
      (r) =>
        !mine(r) &&
        !STATIC_RULE.test(r) &&
        (shared.includes(`${name}/${chainOf(r)}`) ||
          (chainOf(r).startsWith('NETAVARK') && !shared.includes(`${name}/${chainOf(r)}`))),
    ),
  );
  const dropShared = !othersUse && shared.every((s) => !before.has(s));
  const out = new Map<string, string>();
  for (const [name, t] of tables) {
    const drop = new Set([...own].filter((c) => t.chains.has(c)));
    if (dropShared) for (const c of SHARED_CHAINS[name] ?? []) if (t.chains.has(c)) drop.add(c);
    const rules = t.rules.filter((r) => mine(r) || drop.has(chainOf(r)) || drop.has(targetOf(r) ?? ''));
    if (rules.length === 0 && drop.size === 0) continue;
    // rules first (jumps included), then the emptied chains
    const lines = [...rules.map((r) => `-D${r.slice(2)}`), ...[...drop].map((c) => `-X ${c}`)];
    out.set(name, `*${name}\n${lines.join('\n')}\nCOMMIT\n`);
  }
  return out;
}

/**
 * Removes what netavark left on the host for network `n` after podman's teardown: firewall rules and chains
 * (leftoverScript), the network namespace files among `sandboxes` still present, and the bridge with its veths.
 */
export async function removeNetworkLeftovers(
  n: PodmanNetwork,
  chainsBefore: ReadonlySet<string>,
  sandboxes: Iterable<string>,
): Promise<void> {
  const t = new Teardown();
  for (const [table, script] of leftoverScript(iptablesTables(), n, chainsBefore)) {
    await t.attempt(`iptables ${table}`, async () => {
      execFileSync('iptables-restore', ['--noflush'], { input: script, stdio: ['pipe', 'ignore', 'pipe'] });
    });
  }
  for (const key of sandboxes) {
    if (!key.startsWith('/run/netns/') || !existsSync(key)) continue;
    await t.attempt(`netns ${key}`, async () => {
      const r = await call(['ip', 'netns', 'del', basename(key)]);
      if (r.code !== 0) throw new Error(r.stderr.trim());
    });
  }
  await t.attempt(`bridge ${n.bridge}`, async () => {
    const failure = await deleteLinkIfPresent(n.bridge);
    if (failure !== undefined) throw new Error(failure);
  });
  t.finish(`podman network ${n.name} leftovers`);
}

/** Interfaces enslaved to `bridge` (its veths), from sysfs. */
export function linksOn(bridge: string): string[] {
  try {
    return readdirSync(join('/sys/class/net', bridge, 'brif'));
  } catch {
    return [];
  }
}

/** What netavark and podman could leave on the host, listed the ways an operator would (for before/after checks). */
export interface HostListing {
  iptables: string[];
  nft: string[];
  links: string[];
  netns: string[];
  mounts: string[];
}

function outputLines(argv: string[]): string[] {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .filter((l) => l.trim() !== '');
  } catch {
    return [];
  }
}

/** NETAVARK firewall lines, netavark-style veths (vethN), podman's netns files, and mounts naming `words`. */
export function hostTraces(words: readonly string[]): HostListing {
  return {
    iptables: outputLines(['iptables-save']).filter((l) => /NETAVARK/.test(l) && !l.startsWith('#')),
    nft: onPath('nft') === undefined ? [] : outputLines(['nft', 'list', 'ruleset']).filter((l) => /NETAVARK/.test(l)),
    links: outputLines(['ip', '-br', 'link'])
      .map((l) => l.split(/\s+/)[0]!.split('@')[0]!)
      .filter((n) => /^veth\d{1,4}$/.test(n) || words.some((w) => n.includes(w))),
    netns: outputLines(['ip', 'netns'])
      .map((l) => l.split(' ')[0]!)
      .filter((n) => /^netns-[0-9a-f-]{36}$/.test(n)),
    mounts: readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => words.some((w) => l.includes(w)) || l.includes('/run/netns/netns-')),
  };
}

/**
 * Two iptables listings (hostTraces) reduced to what this process's networks can account for: lines of its subnets
 * (10.230–254.<(pid >> 3) % 250>.0/24) and of their chains; the shared chains' lines too when no other process's
 * netavark network is in either listing (another's network legitimately keeps them); and whether there was one (then
 * netavark veths and podman netns files on the host may be another's too).
 */
export function ownNetavarkLines(before: readonly string[], after: readonly string[]): [string[], string[], boolean] {
  const ours = new RegExp(`10\\.(23\\d|24\\d|25[0-4])\\.${(process.pid >> 3) % 250}\\.0/24`);
  const network = / -s (\S+) -j (NETAVARK-[0-9A-F]+)$/;
  const all = [...before, ...after];
  const others = all.some((l) => network.test(l) && !ours.test(l));
  const hashes = new Set(all.filter((l) => ours.test(l)).map((l) => network.exec(l)?.[2] ?? ''));
  hashes.delete('');
  const keep = (l: string) => !others || ours.test(l) || [...hashes].some((h) => l.includes(h));
  return [before.filter(keep), after.filter(keep), others];
}

/**
 * The host's listings from before and after a podman run, as a test compares them: this process's NETAVARK lines
 * (`was`, `is`: equal when the run removed what it made), and the rest (`before`, `after`: equal when nothing was
 * left), leaving out what another process's podman network may change meanwhile (its veths, netns files and their
 * mounts) when there is one.
 */
export function comparableHostTraces(
  before: HostListing,
  after: HostListing,
): { was: string[]; is: string[]; before: HostListing; after: HostListing } {
  const [was, is, others] = ownNetavarkLines(before.iptables, after.iptables);
  const mine = (t: HostListing): HostListing =>
    others
      ? {
          ...t,
          iptables: [],
          links: t.links.filter((l) => !l.startsWith('veth')),
          netns: [],
          mounts: t.mounts.filter((m) => !m.includes('/run/netns/')),
        }
      : { ...t, iptables: [] };
  return { was, is, before: mine(before), after: mine(after) };
}
