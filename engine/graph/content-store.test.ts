// Conformance tests for the content store: verified commits, resumable ingests,
// locking, ranges, listing and cleanup of stale ingests.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { background } from '../trace/context.js';
import { ContentStore } from './content-store.js';
import { digestOf } from './digest.js';

const ctx = background();
let root: string;
let store: ContentStore;
const children: ChildProcess[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), `berth-content-${process.pid}-`));
  store = new ContentStore(root);
});
afterEach(async () => {
  try {
    for (const c of children.splice(0))
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

async function codeOf(p: Promise<unknown>): Promise<[string | undefined, string]> {
  try {
    await p;
  } catch (err) {
    return [isBerthError(err) ? err.code : 'NOT_BERTH', (err as Error).message];
  }
  return [undefined, ''];
}

function ingestDir(ref: string): string {
  return join(root, 'content', 'ingest', createHash('sha256').update(ref).digest('hex'));
}

describe('ContentStore', () => {
  it('commits a verified blob atomically and reads it back', async () => {
    const data = 'hello, berth';
    const d = digestOf(data);
    const w = await store.writer(ctx, 'r1', { expected: { digest: d, size: data.length } });
    await w.write('hello, ');
    expect(existsSync(store.blobPath(d))).toBe(false);
    await w.write('berth');
    const res = await w.commit(ctx);
    expect(res).toMatchObject({ digest: d, size: data.length, created: true });
    expect(store.blobPath(d)).toBe(join(root, 'content', 'blobs', 'sha256', d.slice(7)));
    expect((await store.readBlob(ctx, d)).toString()).toBe(data);
    expect(await text(await store.reader(ctx, d))).toBe(data);
    expect(await text(await store.reader(ctx, d, { offset: 7, length: 3 }))).toBe('ber');
    expect(await text(await store.reader(ctx, d, { offset: data.length }))).toBe('');
    const info = await store.info(ctx, d);
    expect(info.size).toBe(data.length);
    expect(Number.isNaN(Date.parse(info.createdAt))).toBe(false);
    expect(await store.ingests(ctx)).toEqual([]);
    expect(await readdir(join(root, 'content', 'ingest'))).toEqual([]);
  });

  it('treats committing the same content twice as success with created=false', async () => {
    const a = await store.put(ctx, 'same');
    const b = await store.put(ctx, 'same', { digest: digestOf('same'), size: 4 });
    expect(a.created).toBe(true);
    expect(b).toMatchObject({ digest: digestOf('same'), size: 4, created: false });
    expect((await store.list(ctx)).map((i) => i.digest)).toEqual([digestOf('same')]);
  });

  it('commits without an expected descriptor, hashing what was written', async () => {
    const w = await store.writer(ctx, 'free');
    await w.write('abc');
    expect(await w.commit(ctx)).toMatchObject({ digest: digestOf('abc'), size: 3, created: true });
  });

  it('rejects a digest mismatch, names both digests and leaves nothing', async () => {
    const wrong = digestOf('other');
    const w = await store.writer(ctx, 'bad');
    await w.write('data');
    const [code, msg] = await codeOf(w.commit(ctx, 4, wrong));
    expect(code).toBe('FAILED_PRECONDITION');
    expect(msg).toBe(`blob ${wrong}: digest mismatch (got ${digestOf('data')})`);
    expect(await store.list(ctx)).toEqual([]);
    expect(await store.ingests(ctx)).toEqual([]);
  });

  it('rejects a short commit but keeps the ingest for resuming', async () => {
    const d = digestOf('0123456789');
    const w = await store.writer(ctx, 'short', { expected: { digest: d, size: 10 } });
    await w.write('01234');
    const [code, msg] = await codeOf(w.commit(ctx));
    expect(code).toBe('FAILED_PRECONDITION');
    expect(msg).toMatch(/^blob sha256:[0-9a-f]{64}: size mismatch: expected 10 bytes, got 5$/);
    await w.write('56789');
    expect((await w.commit(ctx)).digest).toBe(d);
  });

  it('refuses writes beyond the expected size', async () => {
    const w = await store.writer(ctx, 'big', { expected: { digest: digestOf('ab'), size: 2 } });
    const [code, msg] = await codeOf(w.write('abc'));
    expect(code).toBe('INVALID_ARGUMENT');
    expect(msg).toMatch(/^ingest big: 3 bytes exceed the expected size 2/);
    expect(w.status().offset).toBe(0);
    await w.abort();
  });

  it('put restarts an ingest of its name left whole by a crash (written, never committed)', async () => {
    const data = Buffer.from('a manifest written before the kill, never committed');
    const expected = { digest: digestOf(data), size: data.length };
    const left = await store.writer(ctx, `put-${expected.digest}`, { expected });
    await left.write(data);
    await left.close();
    const r = await store.put(ctx, data, expected);
    expect(r).toMatchObject({ digest: expected.digest, created: true });
    expect(await store.readBlob(ctx, expected.digest)).toEqual(data);
    expect(await store.ingests(ctx)).toEqual([]);
  });

  it('resumes a closed ingest at its offset with the hash continued', async () => {
    const data = Buffer.from('x'.repeat(100_000) + 'tail');
    const d = digestOf(data);
    const w1 = await store.writer(ctx, 'resume', { expected: { digest: d, size: data.length } });
    await w1.write(data.subarray(0, 60_000));
    await w1.close();
    const [st] = await store.ingests(ctx);
    expect(st).toMatchObject({
      ref: 'resume',
      offset: 60_000,
      expected: { digest: d, size: data.length },
      active: false,
    });
    // a fresh store object (as after a restart) resumes the same ingest
    const w2 = await new ContentStore(root).writer(ctx, 'resume', { expected: { digest: d, size: data.length } });
    expect(w2.status().offset).toBe(60_000);
    await w2.write(data.subarray(60_000));
    expect(await w2.commit(ctx)).toMatchObject({ digest: d, size: data.length, created: true });
  });

  it('restarts an ingest opened with a different expected blob', async () => {
    const w1 = await store.writer(ctx, 'swap', { expected: { digest: digestOf('aaaa'), size: 4 } });
    await w1.write('aa');
    await w1.close();
    const w2 = await store.writer(ctx, 'swap', { expected: { digest: digestOf('bb'), size: 2 } });
    expect(w2.status().offset).toBe(0);
    await w2.write('bb');
    expect((await w2.commit(ctx)).digest).toBe(digestOf('bb'));
  });

  it('restarts an ingest whose meta.json was torn by a crash, and leaves no ingest folder after commit', async () => {
    const d = digestOf('abcd');
    const w1 = await store.writer(ctx, 'torn', { expected: { digest: d, size: 4 } });
    await w1.write('ab');
    await w1.close();
    const ingests = join(root, 'content', 'ingest');
    const [dir] = await readdir(ingests);
    await writeFile(join(ingests, dir!, 'meta.json'), '{"ref": "tor');
    const w2 = await store.writer(ctx, 'torn', { expected: { digest: d, size: 4 } });
    expect(w2.status().offset).toBe(0);
    await w2.write('abcd');
    expect(await w2.commit(ctx)).toMatchObject({ digest: d, size: 4, created: true });
    expect(await readdir(ingests)).toEqual([]);
  });

  it('allows one writer per ref: CONFLICT for the second, free again after close', async () => {
    const w1 = await store.writer(ctx, 'one');
    const [code, msg] = await codeOf(store.writer(ctx, 'one'));
    expect(code).toBe('CONFLICT');
    expect(msg).toBe('ingest one: already being written');
    // a second store object in the same process shares the lock
    expect((await codeOf(new ContentStore(root).writer(ctx, 'one')))[0]).toBe('CONFLICT');
    await w1.close();
    const w2 = await store.writer(ctx, 'one');
    await w2.abort();
    await w2.abort(); // idempotent
    expect(await store.ingests(ctx)).toEqual([]);
  });

  it('respects a lock file of a live process and takes over a dead one', async () => {
    const w = await store.writer(ctx, 'locked');
    await w.write('abc');
    await w.close();
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(sleeper);
    await writeFile(join(ingestDir('locked'), 'lock'), String(sleeper.pid));
    const [code, msg] = await codeOf(store.writer(ctx, 'locked'));
    expect(code).toBe('CONFLICT');
    expect(msg).toBe(`ingest locked: locked by process ${sleeper.pid}`);
    expect((await store.ingests(ctx))[0]!.active).toBe(true);
    expect(await store.abortStale(ctx, 0)).toEqual([]);
    const exited = new Promise((r) => sleeper.once('exit', r));
    process.kill(sleeper.pid!, 'SIGKILL');
    await exited;
    const w2 = await store.writer(ctx, 'locked');
    expect(w2.status().offset).toBe(3);
    await w2.abort();
  });

  it('lists ingests and aborts only the stale, unlocked ones', async () => {
    const active = await store.writer(ctx, 'active');
    await active.write('1');
    const idle = await store.writer(ctx, 'idle');
    await idle.write('22');
    await idle.close();
    const list = await store.ingests(ctx);
    expect(list.map((i) => [i.ref, i.offset, i.active])).toEqual([
      ['active', 1, true],
      ['idle', 2, false],
    ]);
    expect(await store.abortStale(ctx, 60_000)).toEqual([]);
    expect(await store.abortStale(ctx, 0)).toEqual(['idle']);
    expect((await store.ingests(ctx)).map((i) => i.ref)).toEqual(['active']);
    await active.abort();
  });

  it('validates digests, naming the bad value', async () => {
    for (const bad of ['sha256:abc', 'md5:' + 'a'.repeat(32), 'sha256:' + 'A'.repeat(64), 'nope']) {
      const [code, msg] = await codeOf(store.info(ctx, bad));
      expect(code).toBe('INVALID_ARGUMENT');
      expect(msg).toContain(JSON.stringify(bad));
    }
    const [code] = await codeOf(store.writer(ctx, 'x', { expected: { digest: 'sha256:zz', size: 1 } }));
    expect(code).toBe('INVALID_ARGUMENT');
  });

  it('reports NOT_FOUND for missing blobs and bad ranges as INVALID_ARGUMENT', async () => {
    const d = digestOf('missing');
    expect(await codeOf(store.reader(ctx, d))).toEqual(['NOT_FOUND', `blob ${d}: not found`]);
    expect((await codeOf(store.info(ctx, d)))[0]).toBe('NOT_FOUND');
    expect((await codeOf(store.delete(ctx, d)))[0]).toBe('NOT_FOUND');
    expect(await store.has(ctx, d)).toBe(false);
    const { digest } = await store.put(ctx, 'abc');
    expect((await codeOf(store.reader(ctx, digest, { offset: 2, length: 5 })))[0]).toBe('INVALID_ARGUMENT');
  });

  it('accepts sha512 digests', async () => {
    const d = digestOf('five', 'sha512');
    const res = await store.put(ctx, 'five', { digest: d, size: 4 });
    expect(res.digest).toBe(d);
    expect(store.blobPath(d)).toContain(join('blobs', 'sha512'));
    expect((await store.list(ctx)).map((i) => i.digest)).toEqual([d]);
  });

  it('takes a stream through writable(), lists, sums and deletes', async () => {
    const w = await store.writer(ctx, 'stream');
    await pipeline(Readable.from([Buffer.from('a'.repeat(1000)), Buffer.from('b'.repeat(24))]), w.writable());
    const { digest } = await w.commit(ctx, 1024);
    await store.put(ctx, 'tiny');
    expect(await store.totalSize(ctx)).toBe(1028);
    expect((await store.list(ctx)).length).toBe(2);
    await store.delete(ctx, digest);
    expect(await store.has(ctx, digest)).toBe(false);
    expect(await store.totalSize(ctx)).toBe(4);
  });

  it('applies concurrent writes in call order', async () => {
    const parts = Array.from({ length: 50 }, (_, i) => `part${i};`);
    const w = await store.writer(ctx, 'order');
    void Promise.all(parts.map((p) => w.write(p)));
    const res = await w.commit(ctx); // waits for the queued writes
    expect((await store.readBlob(ctx, res.digest)).toString()).toBe(parts.join(''));
  });

  it('fails a write after commit with FAILED_PRECONDITION', async () => {
    const w = await store.writer(ctx, 'done');
    await w.write('z');
    await w.commit(ctx);
    expect((await codeOf(w.write('more')))[0]).toBe('FAILED_PRECONDITION');
  });
});

describe('concurrent puts', () => {
  it('puts of the same expected blob at once all succeed, one creating it', async () => {
    const data = Buffer.from('a config two pulls share');
    const expected = { digest: digestOf(data), size: data.length };
    const results = await Promise.all(Array.from({ length: 8 }, () => store.put(ctx, data, expected)));
    expect(results.every((r) => r.digest === expected.digest && r.size === data.length)).toBe(true);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await text(await store.reader(ctx, expected.digest))).toBe(data.toString());
    expect(await store.ingests(ctx)).toEqual([]);
  });
});
