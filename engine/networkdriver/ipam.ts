// IPAM: one persistent address allocator per network. Allocations of a network
// are serialised and written to `<dir>/<networkId>.json` (atomically) before an
// address is returned, so no address is handed out twice, neither to concurrent
// callers nor across a restart.
//
// File: {"subnet": "10.88.0.0/16", "gateway": "10.88.0.1", "last": "10.88.0.7",
//        "allocations": {"10.88.0.2": "<containerId>", …}}
// Allocation is next-fit after `last`, skipping network, gateway and broadcast
// addresses, so a released address is not reused at once.
import { join } from 'node:path';
import { invalidArgument, resourceExhausted } from '../errdefs/errors.js';
import { readJson, removeFile, writeJsonAtomic } from './atomic-file.js';
import { KeyedMutex } from './keyed-mutex.js';
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

export class Ipam {
  private readonly mutex = new KeyedMutex();
  private readonly pools = new Map<string, PoolFile>();

  /** dir: `<root>/network/ipam`. */
  constructor(private readonly dir: string) {}

  private file(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  private async load(pool: PoolSpec): Promise<PoolFile> {
    let state = this.pools.get(pool.id);
    if (state === undefined) {
      state = (await readJson<PoolFile>(this.file(pool.id))) ?? { subnet: pool.subnet, gateway: pool.gateway, allocations: {} };
      this.pools.set(pool.id, state);
    }
    return state;
  }

  private async save(pool: PoolSpec, next: PoolFile): Promise<void> {
    await writeJsonAtomic(this.file(pool.id), next);
    this.pools.set(pool.id, next);
  }

  /**
   * The address of containerId in the pool, allocating one if it has none
   * (idempotent per container). Persisted before it returns. RESOURCE_EXHAUSTED
   * naming the network when every address is taken. Cost: one atomic file write
   * on a new allocation, a scan of at most the subnet's size.
   */
  async allocate(pool: PoolSpec, containerId: string): Promise<string> {
    return this.mutex.run(pool.id, async () => {
      const state = await this.load(pool);
      for (const [addr, owner] of Object.entries(state.allocations)) if (owner === containerId) return addr;
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
        await this.save(pool, { ...state, last: text, allocations: { ...state.allocations, [text]: containerId } });
        return text;
      }
      throw resourceExhausted(`network ${pool.name}: no free address in ${pool.subnet}`, { details: { network: pool.name } });
    });
  }

  /** Frees containerId's address in the pool. Idempotent; returns the address freed, if any. */
  async release(pool: PoolSpec, containerId: string): Promise<string | undefined> {
    return this.mutex.run(pool.id, async () => {
      const state = await this.load(pool);
      const entries = Object.entries(state.allocations);
      const mine = entries.filter(([, owner]) => owner === containerId);
      if (mine.length === 0) return undefined;
      await this.save(pool, { ...state, allocations: Object.fromEntries(entries.filter(([, owner]) => owner !== containerId)) });
      return mine[0]![0];
    });
  }

  /** Frees every address whose container is not in live. Returns the addresses freed. */
  async reclaim(pool: PoolSpec, live: ReadonlySet<string>): Promise<string[]> {
    return this.mutex.run(pool.id, async () => {
      const state = await this.load(pool);
      const entries = Object.entries(state.allocations);
      const dead = entries.filter(([, owner]) => !live.has(owner));
      if (dead.length === 0) return [];
      await this.save(pool, { ...state, allocations: Object.fromEntries(entries.filter(([, owner]) => live.has(owner))) });
      return dead.map(([addr]) => addr);
    });
  }

  /** address → containerId of the pool, as persisted. */
  async allocations(pool: PoolSpec): Promise<Record<string, string>> {
    return this.mutex.run(pool.id, async () => ({ ...(await this.load(pool)).allocations }));
  }

  /** Deletes the pool's file (the network is being removed). Idempotent. */
  async drop(pool: PoolSpec): Promise<void> {
    await this.mutex.run(pool.id, async () => {
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
