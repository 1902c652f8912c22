// IPAM: one persistent address allocator per network. Allocations of a network
// are serialised and appended to the network's journal, `<dir>/<networkId>.jsonl`,
// before an address is returned, so no address is handed out twice, neither to
// concurrent callers nor across a restart.
//
// Journal: JSON lines. The first is the pool as a whole,
//   {"subnet": "10.88.0.0/16", "gateway": "10.88.0.1", "last": "10.88.0.7",
//    "allocations": {"10.88.0.2": "<containerId>", …}}
// and each further line one change: ["+", address, owner] (allocated) or
// ["-", address, owner] (freed; applied only while that owner holds it). One write(2)
// per change (no temp file, no rename): a journal is rewritten whole (temp + rename) only
// at its first write after a load that found a torn tail, a journal of the old format
// (`<id>.json`, the pool alone) or none, and when it has grown by COMPACT_AFTER changes.
// A last line without its newline is a record whose write a crash cut short: its
// change had not been reported, so it is ignored (and the next write compacts).
// Allocation is next-fit after `last` (the newest "+"), skipping network, gateway and
// broadcast addresses, so a released address is not reused at once.
// Writes are group-committed and ordered: decisions are made in memory under the pool's
// mutex, one write is in flight per pool, and it carries every change made meanwhile; a
// caller's change is on disk when its commit resolves. A release is not written by
// itself: the journal keeps listing the freed address until the pool's next write (an
// allocation's, a reclaim's) or flush(), so it always holds every address in use and
// maybe some freed ones, whose owners no longer run: recover() frees those after a
// crash, as it frees the addresses of containers the crash ended.
// The journal is runtime state (engine/fsutil/state-file.ts): not fsynced, since
// allocations only need to outlive the engine's process; after an OS crash no container
// holds its address any more, recover() frees what the journal still lists, and one
// torn by that crash (older than this boot) reads as an empty pool.
import { close, open, write } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dataLoss, invalidArgument, resourceExhausted, wrap } from '../errdefs/errors.js';
import { bootTimeMs, readRuntimeJson, readStateText, removeFile } from '../fsutil/state-file.js';
import { writeFileAtomic } from '../fsutil/atomic-write.js';
import { KeyedLock } from '../fsutil/keyed-lock.js';
import { broadcastOf, contains, formatIPv4, parseIPv4, parseSubnet, type Subnet } from './subnet.js';

const openFd = promisify(open);
const writeFd = promisify(write);
const closeFd = promisify(close);

/** A journal is rewritten whole once this many changes were appended to it since its last rewrite. */
export const COMPACT_AFTER = 512;

export interface PoolFile {
  subnet: string;
  gateway: string;
  last?: string;
  allocations: Record<string, string>;
}

type Change = ['+' | '-', string, string];

export interface PoolSpec {
  /** Network id (file name) and name (for messages). */
  id: string;
  name: string;
  subnet: string;
  gateway: string;
}

/** A pool in memory: its allocations indexed both ways, changed in place (O(1) per allocation and release). */
interface Pool {
  subnet: string;
  gateway: string;
  last?: string;
  /** address → owner */
  byAddress: Map<string, string>;
  /** owner → its addresses (one, unless a file written by hand gave it more) */
  byOwner: Map<string, Set<string>>;
}

function poolOfFile(f: PoolFile): Pool {
  const p: Pool = { subnet: f.subnet, gateway: f.gateway, byAddress: new Map(), byOwner: new Map() };
  if (f.last !== undefined) p.last = f.last;
  for (const [address, owner] of Object.entries(f.allocations)) assign(p, address, owner);
  return p;
}

function fileOfPool(p: Pool): PoolFile {
  return {
    subnet: p.subnet,
    gateway: p.gateway,
    ...(p.last !== undefined ? { last: p.last } : {}),
    allocations: Object.fromEntries(p.byAddress),
  };
}

function assign(p: Pool, address: string, owner: string): void {
  const before = p.byAddress.get(address);
  if (before !== undefined) unassign(p, address, before);
  p.byAddress.set(address, owner);
  let mine = p.byOwner.get(owner);
  if (mine === undefined) p.byOwner.set(owner, (mine = new Set()));
  mine.add(address);
}

function unassign(p: Pool, address: string, owner: string): void {
  if (p.byAddress.get(address) !== owner) return;
  p.byAddress.delete(address);
  const mine = p.byOwner.get(owner)!;
  mine.delete(address);
  if (mine.size === 0) p.byOwner.delete(owner);
}

interface PoolWriter {
  /** The changes not yet handed to a write (none: nothing is queued). */
  changes: Change[];
  queued: boolean;
  waiters: { resolve: () => void; reject: (err: unknown) => void }[];
  /** The write in flight, if any. */
  running?: Promise<void>;
}

/** A pool's journal on disk, as this process knows it. */
interface Journal {
  /** Open for appending (O_APPEND); undefined until the first append after a rewrite. */
  fd?: number;
  /** Changes appended since the last rewrite; undefined: the next write rewrites it (see the top). */
  appended?: number;
}

/** An address reserved in memory; durable resolves once it is on disk (rejects when that write failed). */
export interface Reservation {
  address: string;
  durable: Promise<void>;
}

function isChange(v: unknown): v is Change {
  return (
    Array.isArray(v) &&
    v.length === 3 &&
    (v[0] === '+' || v[0] === '-') &&
    typeof v[1] === 'string' &&
    typeof v[2] === 'string'
  );
}

function isPool(v: unknown): v is PoolFile {
  const p = v as PoolFile | null;
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof p.subnet === 'string' &&
    typeof p.gateway === 'string' &&
    typeof p.allocations === 'object' &&
    p.allocations !== null
  );
}

/**
 * Reads a pool's journal (see the top of this file): the pool it describes, whether its
 * last line was torn (ignored) and how many changes follow its first line; undefined when
 * it does not exist or is damaged and older than this boot. DATA_LOSS naming the file and
 * line for damage written during this boot.
 */
export async function readJournal(
  path: string,
): Promise<{ pool: PoolFile; torn: boolean; changes: number } | undefined> {
  const text = await readStateText(path);
  if (text === undefined) return undefined;
  const end = text.lastIndexOf('\n') + 1;
  const lines = text.slice(0, end).split('\n');
  lines.pop();
  const corrupt = async (line: number): Promise<undefined> => {
    const st = await stat(path).catch(() => undefined);
    if (st !== undefined && st.mtimeMs < bootTimeMs()) return undefined;
    throw dataLoss(`state ${path}: corrupt (line ${line})`);
  };
  const parse = (line: string): unknown => {
    try {
      return JSON.parse(line);
    } catch {
      return undefined;
    }
  };
  const head = lines.length > 0 ? parse(lines[0]!) : undefined;
  if (!isPool(head)) return corrupt(1);
  const pool: PoolFile = { ...head, allocations: { ...head.allocations } };
  for (let i = 1; i < lines.length; i++) {
    const c = parse(lines[i]!);
    if (!isChange(c)) return corrupt(i + 1);
    const [kind, address, owner] = c;
    if (kind === '+') {
      pool.allocations[address] = owner;
      pool.last = address;
    } else if (pool.allocations[address] === owner) {
      delete pool.allocations[address];
    }
  }
  return { pool, torn: end < text.length, changes: lines.length - 1 };
}

export class Ipam {
  private readonly mutex = new KeyedLock();
  private readonly pools = new Map<string, Pool>();
  private readonly writers = new Map<string, PoolWriter>();
  private readonly journals = new Map<string, Journal>();
  /** Per pool, the releases made in memory that no write has taken yet. */
  private readonly unwritten = new Map<string, Change[]>();

  /** dir: `<root>/network/ipam`. */
  constructor(private readonly dir: string) {}

  /** The journal of a pool. */
  file(id: string): string {
    return join(this.dir, `${id}.jsonl`);
  }

  /** The pool's file in the format before the journal (read when there is no journal, removed by its first write). */
  private legacyFile(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  private async load(pool: PoolSpec): Promise<Pool> {
    let state = this.pools.get(pool.id);
    if (state === undefined) {
      const journal = await readJournal(this.file(pool.id));
      if (journal !== undefined) {
        state = poolOfFile(journal.pool);
        this.journals.set(pool.id, journal.torn ? {} : { appended: journal.changes });
      } else {
        const legacy = await readRuntimeJson<PoolFile>(this.legacyFile(pool.id));
        state = poolOfFile(legacy ?? { subnet: pool.subnet, gateway: pool.gateway, allocations: {} });
        this.journals.set(pool.id, {});
      }
      this.pools.set(pool.id, state);
    }
    return state;
  }

  /**
   * Queues changes, already made to the pool in memory (with the pool's unwritten releases
   * before them), for the next write, and returns when a write holding them is on disk.
   */
  private commit(id: string, changes: Change[]): Promise<void> {
    const released = this.unwritten.get(id) ?? [];
    this.unwritten.delete(id);
    let w = this.writers.get(id);
    if (w === undefined) {
      w = { waiters: [], changes: [], queued: false };
      this.writers.set(id, w);
    }
    w.queued = true;
    w.changes.push(...released, ...changes);
    const done = new Promise<void>((resolve, reject) => w.waiters.push({ resolve, reject }));
    if (w.running === undefined) this.write(id, w);
    return done;
  }

  private write(id: string, w: PoolWriter): void {
    const changes = w.changes.splice(0);
    const waiters = w.waiters.splice(0);
    w.queued = false;
    w.running = this.persist(id, changes).then(
      () => waiters.forEach((x) => x.resolve()),
      (err: unknown) => waiters.forEach((x) => x.reject(err)),
    );
    void w.running.finally(() => {
      w.running = undefined;
      if (w.queued) this.write(id, w);
      else if (this.writers.get(id) === w) this.writers.delete(id);
    });
  }

  /**
   * Appends changes to the pool's journal (one write), or, when due (see the top), rewrites
   * it as the pool is now in memory: that holds the changes, and maybe newer ones whose
   * own write then repeats them (a change applied twice is the same pool).
   */
  private async persist(id: string, changes: Change[]): Promise<void> {
    const path = this.file(id);
    let j = this.journals.get(id);
    if (j === undefined) {
      j = {};
      this.journals.set(id, j);
    }
    try {
      if (j.appended === undefined || j.appended + changes.length > COMPACT_AFTER) {
        await this.closeJournal(j);
        const state = this.pools.get(id);
        if (state === undefined) return; // dropped meanwhile
        await writeFileAtomic(path, `${JSON.stringify(fileOfPool(state))}\n`, { mode: 0o600, makeDirs: true });
        await removeFile(this.legacyFile(id));
        j.appended = 0;
        return;
      }
      j.fd ??= await openFd(path, 'a', 0o600);
      const data = Buffer.from(changes.map((c) => `${JSON.stringify(c)}\n`).join(''));
      const n = (await writeFd(j.fd, data, 0, data.length)).bytesWritten;
      if (n !== data.length) throw new Error(`short write (${n} of ${data.length} bytes)`);
      j.appended += changes.length;
    } catch (err) {
      // whatever part of it reached the file, the next write rewrites the journal from memory
      j.appended = undefined;
      throw wrap(err, `state ${path}: write`);
    }
  }

  private async closeJournal(j: Journal): Promise<void> {
    const fd = j.fd;
    j.fd = undefined;
    if (fd !== undefined) await closeFd(fd).catch(() => undefined);
  }

  /** Waits until no write of the pool is in flight or queued. */
  private async idle(id: string): Promise<void> {
    for (let w = this.writers.get(id); w?.running !== undefined; w = this.writers.get(id)) await w.running;
  }

  /**
   * The address of containerId in the pool, allocating one if it has none
   * (idempotent per container). Persisted before it returns. RESOURCE_EXHAUSTED
   * naming the network when every address is taken. Cost: one append to the pool's
   * journal on a new allocation (shared with concurrent callers), a scan of at most the subnet's size.
   */
  async allocate(pool: PoolSpec, containerId: string): Promise<string> {
    const r = await this.reserve(pool, containerId);
    await r.durable;
    return r.address;
  }

  /**
   * Like allocate, but returns as soon as the address is decided (no other
   * caller can get it); r.durable resolves once it is on disk. The caller must
   * await durable before the address is used by a running container, and call
   * release() when durable rejects. Failures as allocate().
   */
  async reserve(pool: PoolSpec, containerId: string): Promise<Reservation> {
    return this.mutex.run(pool.id, async () => {
      const state = await this.load(pool);
      const mine = state.byOwner.get(containerId);
      if (mine !== undefined) return { address: mine.values().next().value!, durable: this.idle(pool.id) };
      const subnet = parseSubnet(pool.subnet);
      const gateway = parseIPv4(pool.gateway);
      const first = subnet.base + 1;
      const last = broadcastOf(subnet) - 1;
      const count = last - first + 1;
      const from = state.last !== undefined ? parseIPv4(state.last) : undefined;
      const start = from !== undefined && from >= first && from <= last ? from - first + 1 : 0;
      for (let i = 0; i < count; i++) {
        const candidate = first + ((start + i) % count);
        if (candidate === gateway) continue;
        const text = formatIPv4(candidate);
        if (state.byAddress.has(text)) continue;
        assign(state, text, containerId);
        state.last = text;
        const durable = this.commit(pool.id, [['+', text, containerId]]);
        // Handled by the caller; never an unhandled rejection meanwhile.
        durable.catch(() => undefined);
        return { address: text, durable };
      }
      throw resourceExhausted(`network ${pool.name}: no free address in ${pool.subnet}`, {
        details: { network: pool.name },
      });
    });
  }

  /**
   * Frees containerId's address in the pool, in memory: no other caller holds it any
   * more, and the pool's next write or flush() takes the change to the disk (see the top
   * of this file). Idempotent; returns the address freed, if any. Cost: no file write.
   */
  async release(pool: PoolSpec, containerId: string): Promise<string | undefined> {
    return this.mutex.run(pool.id, async () => {
      const state = await this.load(pool);
      const mine = [...(state.byOwner.get(containerId) ?? [])];
      if (mine.length === 0) return undefined;
      for (const addr of mine) unassign(state, addr, containerId);
      const unwritten = this.unwritten.get(pool.id) ?? [];
      unwritten.push(...mine.map((addr): Change => ['-', addr, containerId]));
      this.unwritten.set(pool.id, unwritten);
      return mine[0];
    });
  }

  /** Writes every pool's releases not yet on disk, and returns when they are. */
  async flush(): Promise<void> {
    await Promise.all(
      [...this.unwritten.keys()].map((id) =>
        this.mutex.run(id, async () => {
          return this.pools.has(id) && this.unwritten.has(id) ? { durable: this.commit(id, []) } : undefined;
        }),
      ),
    ).then((rs) => Promise.all(rs.map((r) => r?.durable)));
  }

  /** Frees every address whose container is not in live. Returns the addresses freed. */
  async reclaim(pool: PoolSpec, live: ReadonlySet<string>): Promise<string[]> {
    const r = await this.mutex.run(pool.id, async () => {
      const state = await this.load(pool);
      const dead = [...state.byAddress].filter(([, owner]) => !live.has(owner));
      if (dead.length === 0) return { freed: [], durable: Promise.resolve() };
      for (const [addr, owner] of dead) unassign(state, addr, owner);
      const durable = this.commit(
        pool.id,
        dead.map(([addr, owner]): Change => ['-', addr, owner]),
      );
      durable.catch(() => undefined);
      return { freed: dead.map(([addr]) => addr), durable };
    });
    await r.durable;
    return r.freed;
  }

  /** address → containerId of the pool, as persisted. */
  async allocations(pool: PoolSpec): Promise<Record<string, string>> {
    return this.mutex.run(pool.id, async () => Object.fromEntries((await this.load(pool)).byAddress));
  }

  /** Deletes the pool's journal (the network is being removed). Idempotent. */
  async drop(pool: PoolSpec): Promise<void> {
    await this.mutex.run(pool.id, async () => {
      this.unwritten.delete(pool.id);
      await this.idle(pool.id);
      const j = this.journals.get(pool.id);
      if (j !== undefined) await this.closeJournal(j);
      this.journals.delete(pool.id);
      await removeFile(this.file(pool.id));
      await removeFile(this.legacyFile(pool.id));
      this.pools.delete(pool.id);
    });
  }

  /** Closes the journals' descriptors (after flush(), when releases should reach the disk). Idempotent. */
  async close(): Promise<void> {
    await Promise.all([...this.writers.keys()].map((id) => this.idle(id)));
    for (const j of this.journals.values()) await this.closeJournal(j);
  }
}

/** Validates that gateway lies inside subnet and is a host address. */
export function checkGateway(name: string, subnet: Subnet, gateway: string): void {
  const gw = parseIPv4(gateway);
  if (gw === undefined || !contains(subnet, gw) || gw === subnet.base || gw === broadcastOf(subnet)) {
    throw invalidArgument(`network ${name}: gateway ${gateway} is not a host address of ${subnet.cidr}`);
  }
}
