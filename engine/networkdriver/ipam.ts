// IPAM: one persistent address allocator per network. Allocations of a network
// are serialised and written to `<dir>/<networkId>.json` (atomically) before an
// address is returned, so no address is handed out twice, neither to concurrent
// callers nor across a restart.
//
// File: {"subnet": "10.88.0.0/16", "gateway": "10.88.0.1", "last": "10.88.0.7",
//        "allocations": {"10.88.0.2": "<containerId>", …}}
// Allocation is next-fit after `last`, skipping network, gateway and broadcast
// addresses, so a released address is not reused at once.
// Writes are group-committed: decisions are made in memory under the pool's
// mutex, and one write carries every change made while the previous write was in
// flight; a caller's change is on disk when its commit resolves. A release is not
// written by itself: the file keeps listing the freed address until the pool's next
// write (an allocation's, a reclaim's) or flush(), so the file always holds every
// address in use and maybe some freed ones, whose owners no longer run: recover()
// frees those after a crash, as it frees the addresses of containers the crash ended.
// The file is
// runtime state (engine/fsutil/state-file.ts): not fsynced, since allocations only need to
// outlive the engine's process; after an OS crash no container holds its address
// any more, recover() frees what the file still lists, and a file torn by that
// crash reads as an empty pool.
import { join } from 'node:path';
import { invalidArgument, resourceExhausted } from '../errdefs/errors.js';
import { readRuntimeJson, removeFile, writeJsonAtomic } from '../fsutil/state-file.js';
import { KeyedLock } from '../fsutil/keyed-lock.js';
import { broadcastOf, contains, formatIPv4, parseIPv4, parseSubnet, type Subnet } from './subnet.js';

interface PoolFile {
  subnet: string;
  gateway: string;
  last?: string;
  allocations: Record<string, string>;
}

export interface PoolSpec {
  /** Network id (file name) and name (for messages). */
  id: string;
  name: string;
  subnet: string;
  gateway: string;
}

interface PoolWriter {
  /** The newest state not yet handed to a write. */
  latest?: PoolFile;
  waiters: { resolve: () => void; reject: (err: unknown) => void }[];
  /** The write in flight, if any. */
  running?: Promise<void>;
}

/** An address reserved in memory; durable resolves once it is on disk (rejects when that write failed). */
export interface Reservation {
  address: string;
  durable: Promise<void>;
}

export class Ipam {
  private readonly mutex = new KeyedLock();
  private readonly pools = new Map<string, PoolFile>();
  private readonly writers = new Map<string, PoolWriter>();
  /** Pools whose state in memory has releases no write has taken yet. */
  private readonly unwritten = new Set<string>();

  /** dir: `<root>/network/ipam`. */
  constructor(private readonly dir: string) {}

  private file(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  private async load(pool: PoolSpec): Promise<PoolFile> {
    let state = this.pools.get(pool.id);
    if (state === undefined) {
      state = (await readRuntimeJson<PoolFile>(this.file(pool.id))) ?? {
        subnet: pool.subnet,
        gateway: pool.gateway,
        allocations: {},
      };
      this.pools.set(pool.id, state);
    }
    return state;
  }

  /** Makes next the pool's state now and returns when a write holding it (or a newer state) is on disk. */
  private commit(id: string, next: PoolFile): Promise<void> {
    this.pools.set(id, next);
    this.unwritten.delete(id);
    let w = this.writers.get(id);
    if (w === undefined) {
      w = { waiters: [] };
      this.writers.set(id, w);
    }
    w.latest = next;
    const done = new Promise<void>((resolve, reject) => w.waiters.push({ resolve, reject }));
    if (w.running === undefined) this.write(id, w);
    return done;
  }

  private write(id: string, w: PoolWriter): void {
    const state = w.latest!;
    const waiters = w.waiters.splice(0);
    w.latest = undefined;
    w.running = writeJsonAtomic(this.file(id), state, { durable: false }).then(
      () => waiters.forEach((x) => x.resolve()),
      (err: unknown) => waiters.forEach((x) => x.reject(err)),
    );
    void w.running.finally(() => {
      w.running = undefined;
      if (w.latest !== undefined) this.write(id, w);
      else if (this.writers.get(id) === w) this.writers.delete(id);
    });
  }

  /** Waits until no write of the pool is in flight or queued. */
  private async idle(id: string): Promise<void> {
    for (let w = this.writers.get(id); w?.running !== undefined; w = this.writers.get(id)) await w.running;
  }

  /**
   * The address of containerId in the pool, allocating one if it has none
   * (idempotent per container). Persisted before it returns. RESOURCE_EXHAUSTED
   * naming the network when every address is taken. Cost: one atomic file write
   * on a new allocation (shared with concurrent callers), a scan of at most the subnet's size.
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
      for (const [addr, owner] of Object.entries(state.allocations))
        if (owner === containerId) return { address: addr, durable: this.idle(pool.id) };
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
        if (state.allocations[text] !== undefined) continue;
        const durable = this.commit(pool.id, {
          ...state,
          last: text,
          allocations: { ...state.allocations, [text]: containerId },
        });
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
      const entries = Object.entries(state.allocations);
      const mine = entries.filter(([, owner]) => owner === containerId);
      if (mine.length === 0) return undefined;
      this.pools.set(pool.id, {
        ...state,
        allocations: Object.fromEntries(entries.filter(([, owner]) => owner !== containerId)),
      });
      this.unwritten.add(pool.id);
      return mine[0]![0];
    });
  }

  /** Writes every pool's releases not yet on disk, and returns when they are. */
  async flush(): Promise<void> {
    await Promise.all(
      [...this.unwritten].map((id) =>
        this.mutex.run(id, async () => {
          const state = this.pools.get(id);
          return state !== undefined && this.unwritten.has(id) ? { durable: this.commit(id, state) } : undefined;
        }),
      ),
    ).then((rs) => Promise.all(rs.map((r) => r?.durable)));
  }

  /** Frees every address whose container is not in live. Returns the addresses freed. */
  async reclaim(pool: PoolSpec, live: ReadonlySet<string>): Promise<string[]> {
    const r = await this.mutex.run(pool.id, async () => {
      const state = await this.load(pool);
      const entries = Object.entries(state.allocations);
      const dead = entries.filter(([, owner]) => !live.has(owner));
      if (dead.length === 0) return { freed: [], durable: Promise.resolve() };
      const durable = this.commit(pool.id, {
        ...state,
        allocations: Object.fromEntries(entries.filter(([, owner]) => live.has(owner))),
      });
      durable.catch(() => undefined);
      return { freed: dead.map(([addr]) => addr), durable };
    });
    await r.durable;
    return r.freed;
  }

  /** address → containerId of the pool, as persisted. */
  async allocations(pool: PoolSpec): Promise<Record<string, string>> {
    return this.mutex.run(pool.id, async () => ({ ...(await this.load(pool)).allocations }));
  }

  /** Deletes the pool's file (the network is being removed). Idempotent. */
  async drop(pool: PoolSpec): Promise<void> {
    await this.mutex.run(pool.id, async () => {
      this.unwritten.delete(pool.id);
      await this.idle(pool.id);
      await removeFile(this.file(pool.id));
      this.pools.delete(pool.id);
    });
  }
}

/** Validates that gateway lies inside subnet and is a host address. */
export function checkGateway(name: string, subnet: Subnet, gateway: string): void {
  const gw = parseIPv4(gateway);
  if (gw === undefined || !contains(subnet, gw) || gw === subnet.base || gw === broadcastOf(subnet)) {
    throw invalidArgument(`network ${name}: gateway ${gateway} is not a host address of ${subnet.cidr}`);
  }
}
