// Port publishing and bridge NAT through iptables (run as commands, `-w` so
// concurrent callers wait for the xtables lock). berth keeps its rules in its own
// chains, every rule tagged `-m comment --comment berth:<tag>`, so removal and
// crash recovery find them by tag:
//   nat    BERTH              ← PREROUTING, OUTPUT (-m addrtype --dst-type LOCAL): DNAT per port
//   nat    BERTH-POSTROUTING  ← POSTROUTING: loopback hairpin MASQUERADE, outbound MASQUERADE
//   filter BERTH-FORWARD      ← FORWARD: accept on berth's bridges and to published ports
// Tags: `berth:<owner>:<containerId>` for a container's ports, `berth:<owner>:net:<networkId>`
// for a bridge's; <owner> (12 hex) names the driver instance (its data root), so
// two berth instances on one host never remove each other's rules. An Iptables
// without owner writes and sees the unowned form `berth:<tag>` and lists every rule.
// A port's rules are added, and tagged rules deleted, in one `iptables-restore
// --noflush` run each: within a table all of them or none (each table commits alone).
import { BerthError, ErrorCode, unavailable } from '../errdefs/errors.js';
import { runCommand } from '../fsutil/run-command.js';
import type { PortSpec } from './port-spec.js';

type Table = 'nat' | 'filter';

export const CHAIN_DNAT = 'BERTH';
export const CHAIN_POSTROUTING = 'BERTH-POSTROUTING';
export const CHAIN_FORWARD = 'BERTH-FORWARD';

const JUMPS: [Table, string, string[]][] = [
  ['nat', 'PREROUTING', ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', CHAIN_DNAT]],
  ['nat', 'OUTPUT', ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', CHAIN_DNAT]],
  ['nat', 'POSTROUTING', ['-j', CHAIN_POSTROUTING]],
  ['filter', 'FORWARD', ['-j', CHAIN_FORWARD]],
];
const CHAINS: [Table, string][] = [
  ['nat', CHAIN_DNAT],
  ['nat', CHAIN_POSTROUTING],
  ['filter', CHAIN_FORWARD],
];

export interface TaggedRule {
  table: Table;
  chain: string;
  /** The tag without the owner: `<containerId>` or `net:<networkId>`. */
  tag: string;
  /** The owning instance (12 hex), undefined for an unowned rule. */
  owner?: string;
  /** The rule's arguments after `-A CHAIN`. */
  args: string[];
}

const OWNER = /^[0-9a-f]{12}$/;

/** One line of an iptables-restore transaction: `-A|-D|-X CHAIN …` in table. */
interface RuleLine {
  table: Table;
  args: string[];
}

/** A transaction waiting for its iptables-restore run. */
interface Pending {
  lines: RuleLine[];
  subject: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The order a transaction's tables are written (and committed) in. */
const TABLES_IN_ORDER = ['nat', 'filter'] as const;

function comment(tag: string, owner?: string): string[] {
  return ['-m', 'comment', '--comment', owner === undefined ? `berth:${tag}` : `berth:${owner}:${tag}`];
}

/** Splits a comment's text after `berth:` into owner and tag (container ids hold no `:`). */
export function parseTag(text: string): { owner?: string; tag: string } {
  const i = text.indexOf(':');
  const head = i > 0 ? text.slice(0, i) : '';
  return OWNER.test(head) && i < text.length - 1 ? { owner: head, tag: text.slice(i + 1) } : { tag: text };
}

/** Splits an `iptables -S` line into arguments (double quotes group). */
function splitRule(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) out.push(m[1] !== undefined ? m[1] : m[2]!);
  return out;
}

export class Iptables {
  private readonly restoreBin: string;

  /**
   * bin: the iptables binary; its `-restore` sibling applies batches. owner: the
   * instance (12 hex) whose rules this object adds, lists and removes; without it,
   * rules are unowned and list()/removeTagged() see every berth rule.
   */
  constructor(
    private readonly bin = 'iptables',
    readonly owner?: string,
  ) {
    if (owner !== undefined && !OWNER.test(owner))
      throw new BerthError(ErrorCode.INVALID_ARGUMENT, `iptables owner ${JSON.stringify(owner)}: not 12 hex digits`);
    this.restoreBin = `${bin}-restore`;
  }

  /** Transactions asked for while a restore runs: the next runs apply them together. */
  private pending: Pending[] = [];
  private draining = false;

  /**
   * Applies rule lines (`-A CHAIN …`, `-D CHAIN …`) as one transaction, nat's lines then filter's. Within a table
   * every line applies or none does; iptables-restore commits each table at its COMMIT, so when filter's lines fail
   * nat's stay applied (legacy and nft alike) and the transaction fails. Transactions asked for while a restore runs
   * (containers published or released at once) go together in the next runs (restoreJoint), with the same outcome
   * for each as when it runs alone.
   */
  private restore(lines: RuleLine[], subject: string): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pending.push({ lines, subject, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        if (batch.length === 1)
          await this.restoreNow(batch[0].lines, batch[0].subject).then(batch[0].resolve, batch[0].reject);
        else await this.restoreJoint(batch);
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * Several transactions in one iptables-restore run per table (two processes for any number of them, not one
   * each). A joint run holds one table only, so a failed one applied nothing: each transaction's lines of that table
   * are then run again alone, and only those that fail again fail. A transaction whose lines failed in nat gets no
   * filter run, as when it runs alone.
   */
  private async restoreJoint(batch: Pending[]): Promise<void> {
    const failed = new Map<Pending, unknown>();
    for (const table of TABLES_IN_ORDER) {
      const linesOf = (t: Pending) => t.lines.filter((l) => l.table === table);
      const live = batch.filter((t) => !failed.has(t) && linesOf(t).length > 0);
      if (live.length === 0) continue;
      if (live.length > 1) {
        const joint = await this.restoreNow(live.flatMap(linesOf), live.map((t) => t.subject).join('; ')).then(
          () => true,
          () => false,
        );
        if (joint) continue;
      }
      for (const t of live) await this.restoreNow(linesOf(t), t.subject).catch((err: unknown) => failed.set(t, err));
    }
    for (const t of batch) {
      if (failed.has(t)) t.reject(failed.get(t));
      else t.resolve();
    }
  }

  /** One `iptables-restore -w --noflush` run of lines, grouped by table (a line keeps its order within its table). */
  private async restoreNow(lines: RuleLine[], subject: string): Promise<void> {
    let input = '';
    for (const table of TABLES_IN_ORDER) {
      const mine = lines.filter((l) => l.table === table);
      if (mine.length === 0) continue;
      input += `*${table}\n${mine.map((l) => l.args.join(' ')).join('\n')}\nCOMMIT\n`;
    }
    const r = await runCommand(this.restoreBin, ['-w', '--noflush'], { input });
    if (r.failed) {
      const why = r.reason;
      throw new BerthError(
        r.code === 'ENOENT' ? ErrorCode.UNAVAILABLE : ErrorCode.INTERNAL,
        `${subject}: ${this.restoreBin}: ${why}`,
        { cause: r },
      );
    }
  }

  /** True when the iptables binary runs and can read the nat table. */
  async available(): Promise<boolean> {
    const r = await runCommand(this.bin, ['-w', '-t', 'nat', '-S', 'OUTPUT']);
    return r.exitCode === 0;
  }

  private async run(table: Table, args: string[], subject: string): Promise<string> {
    const r = await runCommand(this.bin, ['-w', '-t', table, ...args]);
    if (r.failed) {
      const why = r.reason;
      const code = r.code === 'ENOENT' ? ErrorCode.UNAVAILABLE : ErrorCode.INTERNAL;
      throw new BerthError(code, `${subject}: iptables -t ${table} ${args.join(' ')}: ${why}`, { cause: r });
    }
    return String(r.stdout);
  }

  private async has(table: Table, chain: string, args: string[]): Promise<boolean> {
    const r = await runCommand(this.bin, ['-w', '-t', table, '-C', chain, ...args]);
    return r.exitCode === 0;
  }

  private ensuring: Promise<void> | undefined;

  /**
   * Creates berth's chains and the jumps to them. Idempotent; a few iptables runs. Calls made while one runs share
   * it: two at once would both find a jump missing and insert it twice.
   */
  ensureChains(): Promise<void> {
    this.ensuring ??= this.ensureChainsNow().finally(() => {
      this.ensuring = undefined;
    });
    return this.ensuring;
  }

  private async ensureChainsNow(): Promise<void> {
    // Another berth instance's removeChainsIfUnused() may drop an empty chain between
    // its creation here and the jump to it: then the whole sequence runs again.
    for (let attempt = 1; ; attempt++) {
      try {
        for (const [table, chain] of CHAINS) {
          const r = await runCommand(this.bin, ['-w', '-t', table, '-N', chain]);
          if (r.exitCode !== 0 && !/exists/i.test(String(r.stderr))) {
            throw unavailable(`iptables chain ${table}/${chain}: ${String(r.stderr).trim()}`);
          }
        }
        for (const [table, chain, args] of JUMPS) {
          if (!(await this.has(table, chain, args)))
            await this.run(table, ['-I', chain, '1', ...args], `iptables jump ${chain}`);
        }
        return;
      } catch (err) {
        if (attempt >= 3 || !chainVanished(err)) throw err;
      }
    }
  }

  /**
   * Removes the jumps and berth's chains, but only when no rule at all is left in
   * them (another berth instance on the host may still use them). Per table, the
   * jumps and the chains go in one iptables-restore transaction, which the kernel
   * refuses as a whole when a chain holds a rule: a rule another instance adds at
   * the same time is never flushed, and its chain never loses its jump. Returns
   * whether every chain is gone. Idempotent; one `-S` and one restore per table.
   */
  async removeChainsIfUnused(): Promise<boolean> {
    let gone = true;
    for (const table of ['nat', 'filter'] as const) {
      const r = await runCommand(this.bin, ['-w', '-t', table, '-S']);
      if (r.exitCode !== 0) continue;
      const rules = String(r.stdout).split('\n');
      const chains = CHAINS.filter(([t, chain]) => t === table && rules.includes(`-N ${chain}`)).map(([, c]) => c);
      if (chains.some((chain) => rules.some((l) => l.startsWith(`-A ${chain} `)))) {
        gone = false;
        continue;
      }
      const lines: RuleLine[] = [];
      for (const [t, chain, args] of JUMPS) {
        if (t !== table) continue;
        const jump = `-A ${chain} ${args.join(' ')}`;
        for (const l of rules) if (l === jump) lines.push({ table, args: ['-D', chain, ...args] });
      }
      for (const chain of chains) lines.push({ table, args: ['-X', chain] });
      try {
        await this.restore(lines, `iptables ${table}: remove berth's chains`);
      } catch {
        gone = false; // a rule arrived meanwhile (or a jump went): the chains stay, whole
      }
    }
    return gone;
  }

  /**
   * Removes the jumps and berth's chains, with whatever rules they still hold,
   * other instances' included. For a whole host's reset; prefer
   * removeChainsIfUnused(). Idempotent.
   */
  async removeChains(): Promise<void> {
    for (const [table, chain, args] of JUMPS) {
      while (await this.has(table, chain, args))
        await this.run(table, ['-D', chain, ...args], `iptables jump ${chain}`);
    }
    for (const [table, chain] of CHAINS) {
      await runCommand(this.bin, ['-w', '-t', table, '-F', chain]);
      await runCommand(this.bin, ['-w', '-t', table, '-X', chain]);
    }
  }

  private async add(table: Table, chain: string, tag: string, args: string[], subject: string): Promise<void> {
    const rule = [...args, ...comment(tag, this.owner)];
    if (await this.has(table, chain, rule)) return;
    try {
      await this.run(table, ['-A', chain, ...rule], subject);
    } catch (err) {
      // the chain was empty and another instance removed it since ensureChains(): once more
      if (!chainVanished(err)) throw err;
      await this.ensureChains();
      await this.run(table, ['-A', chain, ...rule], subject);
    }
  }

  /**
   * Rules of one bridge: loopback hairpin masquerade (127.0.0.0/8 → bridge, needs
   * route_localnet on the bridge), forwarding within the bridge, and optionally
   * outbound masquerade of the subnet. Idempotent.
   */
  async addBridgeRules(networkId: string, bridge: string, subnet: string, masquerade: boolean): Promise<void> {
    const tag = `net:${networkId}`;
    const subject = `bridge ${bridge}`;
    await this.add('nat', CHAIN_POSTROUTING, tag, ['-s', '127.0.0.0/8', '-o', bridge, '-j', 'MASQUERADE'], subject);
    await this.add('filter', CHAIN_FORWARD, tag, ['-i', bridge, '-o', bridge, '-j', 'ACCEPT'], subject);
    if (masquerade) {
      await this.add('nat', CHAIN_POSTROUTING, tag, ['-s', subnet, '!', '-o', bridge, '-j', 'MASQUERADE'], subject);
      await this.add('filter', CHAIN_FORWARD, tag, ['-i', bridge, '!', '-o', bridge, '-j', 'ACCEPT'], subject);
      await this.add(
        'filter',
        CHAIN_FORWARD,
        tag,
        ['-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
        subject,
      );
    }
  }

  /**
   * DNAT of one published port to containerIp and, with forward, the accept of
   * forwarded traffic to that container port; both in one transaction. Not
   * idempotent: the caller adds each port once (the driver's state says which).
   * When a chain vanished (another instance removed it while empty), the chains
   * are made again and only the rules not yet in are sent again: iptables-restore
   * commits per table, so nat's rule may be in though filter's part failed.
   */
  async addPortRules(
    containerId: string,
    bridge: string,
    containerIp: string,
    p: PortSpec,
    forward = true,
  ): Promise<void> {
    const lines = portRules(containerId, bridge, containerIp, p, forward, this.owner).map((r) => ({
      table: r.table,
      args: ['-A', r.chain, ...r.args],
    }));
    const subject = `port ${p.hostIp}:${p.hostPort}/${p.proto}`;
    // the chains were empty and another instance removed them since ensureChains(): make them again
    let todo = lines;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.restore(todo, subject);
      } catch (err) {
        if (attempt >= 3 || !chainVanished(err)) throw err;
        await this.ensureChains();
        todo = await this.notIn(todo);
      }
    }
  }

  /** The `-A CHAIN …` lines whose rule the table does not hold (`iptables -C` each, at once). */
  private async notIn(lines: RuleLine[]): Promise<RuleLine[]> {
    const held = await Promise.all(lines.map((l) => this.has(l.table, l.args[1]!, l.args.slice(2))));
    return lines.filter((_, i) => !held[i]);
  }

  /**
   * Deletes the rules addPortRules added for these ports of one container (the
   * forward accept only where `forward` is set) in one transaction, without
   * listing first. When that fails (a rule is already gone), falls back to
   * removeTagged for the same rules. Idempotent. Cost: one iptables-restore run.
   */
  async removePortRules(
    containerId: string,
    bridge: string,
    containerIp: string,
    ports: readonly { p: PortSpec; forward: boolean }[],
  ): Promise<void> {
    const lines = ports.flatMap(({ p, forward }) =>
      portRules(containerId, bridge, containerIp, p, forward, this.owner),
    );
    try {
      await this.restore(
        lines.map((r) => ({ table: r.table, args: ['-D', r.chain, ...r.args] })),
        `container ${containerId}: unpublish`,
      );
    } catch {
      await this.removeTagged(
        (tag) => tag === containerId,
        (rule) => ports.some(({ p, forward }) => isRuleOfPort(rule, p) && (rule.chain === CHAIN_DNAT || forward)),
      );
    }
  }

  /**
   * Every rule in berth's chains that carries a berth tag: with an owner, only
   * that owner's; without, every instance's. Cost: three iptables -S runs, in parallel.
   */
  async list(): Promise<TaggedRule[]> {
    const rules: TaggedRule[] = [];
    const outputs = await Promise.all(
      CHAINS.map(([table, chain]) => runCommand(this.bin, ['-w', '-t', table, '-S', chain])),
    );
    for (const [i, [table, chain]] of CHAINS.entries()) {
      const r = outputs[i]!;
      if (r.exitCode !== 0) continue;
      for (const line of String(r.stdout).split('\n')) {
        const args = splitRule(line);
        if (args[0] !== '-A' || args[1] !== chain) continue;
        const i = args.indexOf('--comment');
        const text = i >= 0 ? args[i + 1] : undefined;
        if (text === undefined || !text.startsWith('berth:')) continue;
        const { owner, tag } = parseTag(text.slice('berth:'.length));
        if (this.owner !== undefined && owner !== this.owner) continue;
        rules.push({ table, chain, tag, ...(owner !== undefined ? { owner } : {}), args: args.slice(2) });
      }
    }
    return rules;
  }

  /**
   * Deletes the rules whose tag matches (and that filter accepts) in one
   * transaction; with an owner, only that owner's rules are candidates. Idempotent; returns how many. Cost: three
   * parallel `-S` runs and one restore.
   */
  async removeTagged(match: (tag: string) => boolean, filter?: (rule: TaggedRule) => boolean): Promise<number> {
    const doomed = (await this.list()).filter((rule) => match(rule.tag) && (filter === undefined || filter(rule)));
    try {
      await this.restore(
        doomed.map((r) => ({ table: r.table, args: ['-D', r.chain, ...r.args] })),
        'iptables cleanup',
      );
    } catch {
      // A rule vanished meanwhile: the batch is all or nothing, so delete one by one.
      for (const r of doomed) await runCommand(this.bin, ['-w', '-t', r.table, '-D', r.chain, ...r.args]);
    }
    return doomed.length;
  }
}

/** The rules publishing one port, as `iptables -S` would print their arguments. */
function portRules(
  containerId: string,
  bridge: string,
  containerIp: string,
  p: PortSpec,
  forward: boolean,
  owner: string | undefined,
): Omit<TaggedRule, 'tag'>[] {
  const dst = p.hostIp === '0.0.0.0' ? [] : ['-d', `${p.hostIp}/32`];
  const rules: Omit<TaggedRule, 'tag'>[] = [
    {
      table: 'nat',
      chain: CHAIN_DNAT,
      args: [
        ...dst,
        '-p',
        p.proto,
        '-m',
        p.proto,
        '--dport',
        String(p.hostPort),
        ...comment(containerId, owner),
        '-j',
        'DNAT',
        '--to-destination',
        `${containerIp}:${p.containerPort}`,
      ],
    },
  ];
  if (forward) {
    rules.push({
      table: 'filter',
      chain: CHAIN_FORWARD,
      args: [
        '-d',
        `${containerIp}/32`,
        '-o',
        bridge,
        '-p',
        p.proto,
        '-m',
        p.proto,
        '--dport',
        String(p.containerPort),
        ...comment(containerId, owner),
        '-j',
        'ACCEPT',
      ],
    });
  }
  return rules;
}

/** The filter removeTagged needs to remove only one port's rules. */
export function isRuleOfPort(rule: TaggedRule, p: PortSpec, containerPort = p.containerPort): boolean {
  const a = rule.args;
  const at = (flag: string) => a[a.indexOf(flag) + 1];
  if (at('-p') !== p.proto) return false;
  if (rule.chain === CHAIN_DNAT) {
    const dst = a.includes('-d') ? at('-d')!.replace(/\/32$/, '') : '0.0.0.0';
    return at('--dport') === String(p.hostPort) && dst === p.hostIp;
  }
  return at('--dport') === String(containerPort);
}

/** An iptables failure because a chain does not exist (removed by another instance meanwhile). */
export function chainVanished(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const text = `${(e as Error).message ?? ''} ${String((e as { stderr?: unknown }).stderr ?? '')}`;
    if (/chain '?[\w-]+'? does not exist|no chain\/target\/match by that name/i.test(text)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
