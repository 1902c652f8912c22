// IPAM: no address handed out twice (concurrently, across a re-open), release,
// reclaim, and exhaustion naming the network.
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { Ipam, type PoolSpec } from './ipam.js';

const pool: PoolSpec = { id: 'n1', name: 'testnet', subnet: '10.250.0.0/24', gateway: '10.250.0.1' };

describe('Ipam', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-ipam-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('never gives an address twice under 50 concurrent allocations nor after a re-open', async () => {
    const ipam = new Ipam(dir);
    const first = await Promise.all(Array.from({ length: 50 }, (_, i) => ipam.allocate(pool, `c${i}`)));
    expect(new Set(first).size).toBe(50);
    expect(first).not.toContain('10.250.0.1');
    expect(first).not.toContain('10.250.0.0');
    const reopened = new Ipam(dir);
    expect(await reopened.allocations(pool)).toEqual(Object.fromEntries(first.map((a, i) => [a, `c${i}`])));
    const more = await Promise.all(Array.from({ length: 50 }, (_, i) => reopened.allocate(pool, `d${i}`)));
    expect(new Set([...first, ...more]).size).toBe(100);
    expect(await reopened.allocate(pool, 'c7')).toBe(first[7]);
  });

  it('releases, reclaims the dead and does not reuse a freed address at once', async () => {
    const ipam = new Ipam(dir);
    const a = await ipam.allocate(pool, 'a');
    const b = await ipam.allocate(pool, 'b');
    await ipam.allocate(pool, 'c');
    expect(await ipam.release(pool, 'a')).toBe(a);
    expect(await ipam.release(pool, 'a')).toBeUndefined();
    expect(await ipam.allocate(pool, 'e')).not.toBe(a);
    expect(await ipam.reclaim(pool, new Set(['c', 'e']))).toEqual([b]);
    expect(Object.values(await new Ipam(dir).allocations(pool)).sort()).toEqual(['c', 'e']);
  });

  it('fails with RESOURCE_EXHAUSTED naming the network when the subnet is full', async () => {
    const small: PoolSpec = { id: 'n2', name: 'tiny', subnet: '10.250.1.0/30', gateway: '10.250.1.1' };
    const ipam = new Ipam(dir);
    expect(await ipam.allocate(small, 'x')).toBe('10.250.1.2');
    const err = await ipam.allocate(small, 'y').catch((e: unknown) => e);
    expect(isBerthError(err, 'RESOURCE_EXHAUSTED')).toBe(true);
    expect((err as Error).message).toMatch(/^network tiny: /);
    expect(await ipam.allocations(small)).toEqual({ '10.250.1.2': 'x' });
  });

  it('reserve decides at once; concurrent changes share writes and all reach the disk', async () => {
    const ipam = new Ipam(dir);
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => ipam.reserve(pool, `r${i}`)));
    expect(new Set(rs.map((r) => r.address)).size).toBe(20);
    await Promise.all(rs.map((r) => r.durable));
    const onDisk = JSON.parse(await readFile(join(dir, 'n1.json'), 'utf8')).allocations as Record<string, string>;
    expect(Object.keys(onDisk).sort()).toEqual(rs.map((r) => r.address).sort());
    // A reservation of a container that has one is the same address.
    expect((await ipam.reserve(pool, 'r3')).address).toBe(rs[3]!.address);
    await Promise.all([ipam.release(pool, 'r0'), ipam.release(pool, 'r1'), ipam.allocate(pool, 'late')]);
    const after = Object.values(await new Ipam(dir).allocations(pool));
    expect(after).not.toContain('r0');
    expect(after).not.toContain('r1');
    expect(after).toContain('late');
  });

  it("a release is written with the pool's next write or by flush(), not by itself", async () => {
    const ipam = new Ipam(dir);
    const a = await ipam.allocate(pool, 'a');
    const b = await ipam.allocate(pool, 'b');
    const onDisk = async () => JSON.parse(await readFile(join(dir, 'n1.json'), 'utf8')).allocations as object;
    expect(await ipam.release(pool, 'a')).toBe(a);
    expect(await ipam.allocations(pool)).toEqual({ [b]: 'b' });
    expect(await onDisk()).toEqual({ [a]: 'a', [b]: 'b' });
    const c = await ipam.allocate(pool, 'c');
    expect(await onDisk()).toEqual({ [b]: 'b', [c]: 'c' });
    await ipam.release(pool, 'b');
    await ipam.flush();
    expect(await onDisk()).toEqual({ [c]: 'c' });
    await ipam.release(pool, 'c');
    await ipam.drop(pool);
    await ipam.flush();
    await expect(access(join(dir, 'n1.json'))).rejects.toThrow(/ENOENT/);
  });

  it('drop waits for writes in flight, so the file is not re-created', async () => {
    const ipam = new Ipam(dir);
    const r = await ipam.reserve(pool, 'x');
    await ipam.drop(pool);
    await r.durable;
    await expect(access(join(dir, 'n1.json'))).rejects.toThrow(/ENOENT/);
  });
});
