// IPAM: no address handed out twice (concurrently, across a re-open), release,
// reclaim, exhaustion naming the network, and the journal: appended to in place, a torn
// last record ignored, damage named, compaction, the format before it.
import { access, appendFile, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { bootTimeMs } from '../fsutil/state-file.js';
import { COMPACT_AFTER, Ipam, readJournal, type PoolSpec } from './ipam.js';

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
    const onDisk = (await readJournal(join(dir, 'n1.jsonl')))!.pool.allocations;
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
    const onDisk = async () => (await readJournal(join(dir, 'n1.jsonl')))!.pool.allocations;
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
    await expect(access(join(dir, 'n1.jsonl'))).rejects.toThrow(/ENOENT/);
  });

  it('drop waits for writes in flight, so the file is not re-created', async () => {
    const ipam = new Ipam(dir);
    const r = await ipam.reserve(pool, 'x');
    await ipam.drop(pool);
    await r.durable;
    await expect(access(join(dir, 'n1.jsonl'))).rejects.toThrow(/ENOENT/);
  });

  it('appends each change to the journal in place: after its first write no file is renamed over it', async () => {
    const ipam = new Ipam(dir);
    const file = join(dir, 'n1.jsonl');
    const a = await ipam.allocate(pool, 'a');
    const ino = (await stat(file)).ino;
    await ipam.release(pool, 'a');
    const b = await ipam.allocate(pool, 'b');
    await ipam.reclaim(pool, new Set());
    const c = await ipam.allocate(pool, 'c');
    expect((await stat(file)).ino).toBe(ino);
    const changes = (await readFile(file, 'utf8')).trimEnd().split('\n').slice(1);
    expect(changes.map((l) => JSON.parse(l) as unknown)).toEqual([
      ['-', a, 'a'],
      ['+', b, 'b'],
      ['-', b, 'b'],
      ['+', c, 'c'],
    ]);
    await ipam.close();
    expect(await new Ipam(dir).allocations(pool)).toEqual({ [c]: 'c' });
  });

  it('ignores a torn last record (a write a crash cut short) and rewrites the journal at its next write', async () => {
    const ipam = new Ipam(dir);
    const a = await ipam.allocate(pool, 'a');
    await ipam.allocate(pool, 'b');
    await ipam.close();
    const file = join(dir, 'n1.jsonl');
    await appendFile(file, '["+","10.250.0.9","to');
    const reopened = new Ipam(dir);
    expect(Object.values(await reopened.allocations(pool)).sort()).toEqual(['a', 'b']);
    const c = await reopened.allocate(pool, 'c');
    await reopened.release(pool, 'a');
    await reopened.flush();
    await reopened.close();
    expect((await readFile(file, 'utf8')).endsWith('\n')).toBe(true);
    const again = await readJournal(file);
    expect(again!.torn).toBe(false);
    expect(Object.keys(again!.pool.allocations)).not.toContain(a);
    expect(again!.pool.allocations[c]).toBe('c');
    expect(Object.values(again!.pool.allocations).sort()).toEqual(['b', 'c']);
  });

  it('names a damaged record written during this boot (DATA_LOSS, file and line); one older than the boot is an empty pool', async () => {
    const ipam = new Ipam(dir);
    await ipam.allocate(pool, 'a');
    await ipam.allocate(pool, 'b');
    await ipam.close();
    const file = join(dir, 'n1.jsonl');
    await appendFile(file, 'garbage\n["+","10.250.0.9","c"]\n');
    const err = await new Ipam(dir).allocations(pool).catch((e: unknown) => e);
    expect(isBerthError(err, 'DATA_LOSS')).toBe(true);
    expect((err as Error).message).toMatch(/n1\.jsonl: corrupt \(line 3\)/);
    const beforeBoot = new Date(bootTimeMs() - 60_000);
    await utimes(file, beforeBoot, beforeBoot);
    expect(await new Ipam(dir).allocations(pool)).toEqual({});
  });

  it(`rewrites the journal once ${COMPACT_AFTER} changes were appended, so it stays small`, async () => {
    const ipam = new Ipam(dir);
    const file = join(dir, 'n1.jsonl');
    const inodes = new Set<number>();
    for (let i = 0; i < COMPACT_AFTER; i++) {
      await ipam.allocate(pool, `x${i}`);
      await ipam.release(pool, `x${i}`);
      expect((await readFile(file, 'utf8')).trimEnd().split('\n').length).toBeLessThanOrEqual(COMPACT_AFTER + 1);
      inodes.add((await stat(file)).ino);
    }
    expect(inodes.size).toBe(2);
    const kept = await ipam.allocate(pool, 'kept');
    await ipam.close();
    expect(await new Ipam(dir).allocations(pool)).toEqual({ [kept]: 'kept' });
  });

  it('reads a pool in the format before the journal, and replaces it with a journal at its next write', async () => {
    const legacy = join(dir, 'n1.json');
    await writeFile(
      legacy,
      JSON.stringify({
        subnet: pool.subnet,
        gateway: pool.gateway,
        last: '10.250.0.5',
        allocations: { '10.250.0.5': 'old' },
      }),
    );
    const ipam = new Ipam(dir);
    expect(await ipam.allocations(pool)).toEqual({ '10.250.0.5': 'old' });
    expect(await ipam.allocate(pool, 'new')).toBe('10.250.0.6');
    await ipam.close();
    await expect(access(legacy)).rejects.toThrow(/ENOENT/);
    expect((await readJournal(join(dir, 'n1.jsonl')))!.pool.allocations).toEqual({
      '10.250.0.5': 'old',
      '10.250.0.6': 'new',
    });
  });
});
