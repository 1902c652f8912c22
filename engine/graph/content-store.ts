// The content store: immutable blobs addressed by digest (image configs, manifests,
// compressed layers), written through resumable ingests that only become blobs
// once their size and digest are verified.
//
// Layout under the data root:
//   content/blobs/<alg>/<hex>          one file per blob, never modified once renamed in
//   content/ingest/<sha256(ref)>/      one folder per ingest in progress:
//       meta.json   {ref, expected?, startedAt}   (written temp + rename)
//       data        the bytes received so far (its size is the offset)
//       lock        O_EXCL lock file holding the writer's pid
// A blob appears by one rename(2) of a fully written, fsynced `data` file, so a
// reader never sees a partial blob; a crash leaves at most an ingest folder,
// which a later writer on the same ref resumes or abortStale() removes.
//
// The ingest's small metadata syscalls (mkdir, the lock file, meta.json, stat,
// rename, unlink, rmdir) are synchronous: each is one short syscall on a local
// filesystem, while an fs.promises call is a threadpool round trip plus event-loop
// queueing, and a blob's life takes about thirty of them. Payload
// writes, reads and fsyncs stay asynchronous.
import { createHash, type Hash } from 'node:crypto';
import {
  closeSync,
  constants,
  createReadStream,
  fsync as fsyncCb,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { open, readdir, readFile, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { conflict, failedPrecondition, invalidArgument, isBerthError, notFound, wrap } from '../errdefs/errors.js';
import { nowNs } from '../trace/clock.js';
import { throwIfCancelled, type Context } from '../trace/context.js';
import type { TimedStep } from '../trace/instrument.js';
import { parseDigest, type Algorithm } from './digest.js';

export interface Descriptor {
  digest: string;
  size: number;
}

export interface BlobInfo {
  digest: string;
  size: number;
  /** When the blob was committed (ISO 8601). */
  createdAt: string;
}

export interface IngestStatus {
  ref: string;
  /** Bytes received so far; a resumed writer continues here. */
  offset: number;
  expected: Descriptor | undefined;
  startedAt: string;
  /** Last write (the data file's mtime), ISO 8601. */
  updatedAt: string;
  /** Whether a writer (in this process or a live other one) holds the ingest. */
  active: boolean;
}

export interface CommitResult {
  digest: string;
  size: number;
  /** False when the blob already existed: the same content committed twice is not an error. */
  created: boolean;
  /**
   * The commit's steps as data (`graph.content.ingest.verify`, `.fsync`, `.rename`): the size and digest check (the
   * bytes were hashed as they were written), the data's fsync, and the rename into the store with its folder's fsync.
   */
  steps: TimedStep[];
}

export interface WriterOptions {
  /** The blob this ingest must produce; checked at commit, size also on every write. */
  expected?: Descriptor;
  /** Start from zero even when the ingest holds data (a caller writing the whole blob, as put does). */
  restart?: boolean;
}

export interface ReadRange {
  /** First byte to read (default 0). */
  offset?: number;
  /** Bytes to read (default: to the end). */
  length?: number;
}

/** Ingest folders locked by any ContentStore of this process, by absolute path. */
const heldIngests = new Set<string>();

/**
 * Read chunk of blob readers: a layer applied from the store is read in 1 MiB pieces (64 KiB, the default, costs a
 * round trip each).
 */
const READ_CHUNK = 1 << 20;

interface IngestMeta {
  ref: string;
  expected?: Descriptor;
  startedAt: string;
}

export class ContentStore {
  readonly root: string;
  private readonly blobsDir: string;
  private readonly ingestDir: string;

  /** `dataRoot` is the engine's data root; the store lives in `<dataRoot>/content`. */
  constructor(dataRoot: string) {
    this.root = join(dataRoot, 'content');
    this.blobsDir = join(this.root, 'blobs');
    this.ingestDir = join(this.root, 'ingest');
  }

  /** Path of a blob's file (whether or not it exists). Validates the digest. */
  blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.blobsDir, algorithm, hex);
  }

  /**
   * Opens the ingest `ref` for writing, resuming it when data was already received
   * (the existing bytes are re-hashed, cost O(offset)). When `expected` differs from
   * what the ingest was started with, the ingest restarts from zero.
   * Fails CONFLICT while another writer (this process or a live other one) holds
   * `ref`; INVALID_ARGUMENT for an empty ref or a bad expected digest.
   */
  async writer(ctx: Context, ref: string, opts: WriterOptions = {}): Promise<ContentWriter> {
    throwIfCancelled(ctx, `ingest ${ref}`);
    if (typeof ref !== 'string' || ref === '') throw invalidArgument(`ingest ${JSON.stringify(ref)}: empty ref`);
    const expected = opts.expected;
    if (expected !== undefined) {
      parseDigest(expected.digest, `ingest ${ref}: expected digest`);
      if (!Number.isSafeInteger(expected.size) || expected.size < 0)
        throw invalidArgument(`ingest ${ref}: expected size ${expected.size} is not a byte count`);
    }
    const dir = this.ingestPath(ref);
    if (heldIngests.has(dir)) throw conflict(`ingest ${ref}: already being written`);
    heldIngests.add(dir);
    try {
      mkdirSync(dir, { recursive: true });
      takeLockFile(join(dir, 'lock'), ref);
    } catch (err) {
      heldIngests.delete(dir);
      throw isBerthError(err) ? err : wrap(err, `ingest ${ref}`);
    }
    try {
      const algorithm: Algorithm = expected === undefined ? 'sha256' : parseDigest(expected.digest).algorithm;
      let meta = readMeta(dir);
      const sameExpected =
        meta !== undefined && meta.expected?.digest === expected?.digest && meta.expected?.size === expected?.size;
      const reset = meta === undefined || opts.restart === true || (expected !== undefined && !sameExpected);
      if (reset) {
        meta = { ref, ...(expected ? { expected } : {}), startedAt: new Date().toISOString() };
        writeFileSync(join(dir, 'data'), new Uint8Array(0));
        // not fsynced: an ingest whose meta.json is lost or torn restarts from zero (readMeta)
        const tmp = join(dir, 'meta.json.tmp');
        writeFileSync(tmp, JSON.stringify(meta));
        renameSync(tmp, join(dir, 'meta.json'));
      }
      const hashAlgorithm: Algorithm = meta!.expected ? parseDigest(meta!.expected.digest).algorithm : algorithm;
      const hash = createHash(hashAlgorithm);
      const offset = reset ? 0 : await hashFile(join(dir, 'data'), hash);
      const fh = await open(join(dir, 'data'), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o644);
      return new ContentWriter(this, ref, dir, fh, hash, hashAlgorithm, offset, meta!);
    } catch (err) {
      try {
        releaseIngest(dir);
      } catch {
        // the writer's error is the one to report
      }
      throw isBerthError(err) ? err : wrap(err, `ingest ${ref}`);
    }
  }

  /**
   * Writes a whole blob in one call through an ingest named `ref` (default:
   * `put-<expected digest or random>`); see ContentWriter.commit for the checks.
   * A put of an expected blob that another writer of this process is putting
   * meanwhile (concurrent pulls of images that share it) waits for that writer,
   * then finds the blob there ({created: false}) or writes it itself. An ingest of the
   * same name left by a crash (even holding every byte) is restarted.
   */
  async put(ctx: Context, data: Uint8Array | string, expected?: Descriptor, ref?: string): Promise<CommitResult> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const name =
      ref ??
      `put-${
        expected?.digest ??
        createHash('sha256')
          .update(String(Math.random()) + process.hrtime.bigint())
          .digest('hex')
      }`;
    let w: ContentWriter;
    for (;;) {
      if (expected !== undefined && ref === undefined && (await this.has(ctx, expected.digest)))
        return { digest: expected.digest, size: expected.size, created: false, steps: [] };
      try {
        // an ingest of the same name left by a crash is written again whole, not appended to
        w = await this.writer(ctx, name, { ...(expected ? { expected } : {}), restart: true });
        break;
      } catch (err) {
        if (
          expected === undefined ||
          ref !== undefined ||
          !isBerthError(err, 'CONFLICT') ||
          !heldIngests.has(this.ingestPath(name))
        )
          throw err;
        await delay(20);
        throwIfCancelled(ctx, `ingest ${name}`);
      }
    }
    try {
      await w.write(bytes);
      return await w.commit(ctx, expected?.size ?? bytes.length, expected?.digest);
    } catch (err) {
      await w.abort();
      throw err;
    }
  }

  /**
   * A stream of the blob's bytes, optionally a range of them. Fails NOT_FOUND for an
   * unknown blob, INVALID_ARGUMENT for a range outside the blob.
   */
  async reader(ctx: Context, digest: string, range: ReadRange = {}): Promise<Readable> {
    throwIfCancelled(ctx, `blob ${digest}`);
    const path = this.blobPath(digest);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw blobError(err, digest);
    }
    try {
      const size = (await fh.stat()).size;
      const start = range.offset ?? 0;
      const length = range.length ?? size - start;
      if (
        !Number.isSafeInteger(start) ||
        start < 0 ||
        start > size ||
        !Number.isSafeInteger(length) ||
        length < 0 ||
        start + length > size
      ) {
        throw invalidArgument(`blob ${digest}: range ${start}+${length} outside the blob's ${size} bytes`);
      }
      if (length === 0) {
        await fh.close();
        return Readable.from([]);
      }
      return fh.createReadStream({ start, end: start + length - 1, autoClose: true, highWaterMark: READ_CHUNK });
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  /** The whole blob in memory (for configs and manifests). Fails NOT_FOUND. */
  async readBlob(ctx: Context, digest: string): Promise<Buffer> {
    throwIfCancelled(ctx, `blob ${digest}`);
    try {
      return await readFile(this.blobPath(digest));
    } catch (err) {
      throw blobError(err, digest);
    }
  }

  /** Size and commit time of a blob. Fails NOT_FOUND. Cost: one stat. */
  async info(ctx: Context, digest: string): Promise<BlobInfo> {
    throwIfCancelled(ctx, `blob ${digest}`);
    try {
      const st = await stat(this.blobPath(digest));
      return { digest, size: st.size, createdAt: st.mtime.toISOString() };
    } catch (err) {
      throw blobError(err, digest);
    }
  }

  /** Whether the blob exists. Fails only for a malformed digest. */
  async has(ctx: Context, digest: string): Promise<boolean> {
    try {
      await this.info(ctx, digest);
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === 'NOT_FOUND') return false;
      throw err;
    }
  }

  /** Calls `fn` for every blob (order unspecified). Cost: a readdir and a stat per blob. */
  async walk(ctx: Context, fn: (info: BlobInfo) => void | Promise<void>): Promise<void> {
    for (const algorithm of ['sha256', 'sha512'] as const) {
      const dir = join(this.blobsDir, algorithm);
      for (const hex of await listDir(dir)) {
        throwIfCancelled(ctx, 'content walk');
        const digest = `${algorithm}:${hex}`;
        try {
          parseDigest(digest);
        } catch {
          continue; // not a blob (a stray file); left for an operator to look at
        }
        let st;
        try {
          st = await stat(join(dir, hex));
        } catch {
          continue; // deleted meanwhile
        }
        await fn({ digest, size: st.size, createdAt: st.mtime.toISOString() });
      }
    }
  }

  /** Every blob, sorted by digest. */
  async list(ctx: Context): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    await this.walk(ctx, (i) => void out.push(i));
    return out.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  }

  /** Removes a blob. Fails NOT_FOUND when it does not exist (not idempotent, so callers see double deletes). */
  async delete(ctx: Context, digest: string): Promise<void> {
    throwIfCancelled(ctx, `blob ${digest}`);
    try {
      await unlink(this.blobPath(digest));
    } catch (err) {
      throw blobError(err, digest);
    }
  }

  /** Bytes held in blobs (not ingests). Cost: a stat per blob. */
  async totalSize(ctx: Context): Promise<number> {
    let total = 0;
    await this.walk(ctx, (i) => void (total += i.size));
    return total;
  }

  /** Every ingest folder, in progress or abandoned, sorted by ref. No locks taken. */
  async ingests(ctx: Context): Promise<IngestStatus[]> {
    const out: IngestStatus[] = [];
    for (const name of await listDir(this.ingestDir)) {
      throwIfCancelled(ctx, 'content ingests');
      const dir = join(this.ingestDir, name);
      const meta = readMetaQuiet(dir);
      let st;
      try {
        st = await stat(join(dir, 'data'));
      } catch {
        st = undefined;
      }
      const startedAt = meta?.startedAt ?? new Date(0).toISOString();
      out.push({
        ref: meta?.ref ?? name,
        offset: st?.size ?? 0,
        expected: meta?.expected,
        startedAt,
        updatedAt: st?.mtime.toISOString() ?? startedAt,
        active: heldIngests.has(dir) || (await lockHeldByOther(join(dir, 'lock'))),
      });
    }
    return out.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  }

  /**
   * Removes ingests not written for `olderThanMs` milliseconds and not held by a
   * live writer (also folders left without metadata by a crash). Returns their refs.
   */
  async abortStale(ctx: Context, olderThanMs: number): Promise<string[]> {
    const cutoff = Date.now() - olderThanMs;
    const removed: string[] = [];
    for (const name of await listDir(this.ingestDir)) {
      throwIfCancelled(ctx, 'content abortStale');
      const dir = join(this.ingestDir, name);
      if (heldIngests.has(dir) || (await lockHeldByOther(join(dir, 'lock')))) continue;
      const meta = readMetaQuiet(dir);
      let updated = 0;
      try {
        updated = (await stat(join(dir, 'data'))).mtimeMs;
      } catch {
        updated = meta ? Date.parse(meta.startedAt) : 0;
      }
      if (updated > cutoff) continue;
      await rm(dir, { recursive: true, force: true });
      removed.push(meta?.ref ?? name);
    }
    return removed.sort();
  }

  /** The ingest folder of a ref (named by the ref's sha256, so any string is safe). */
  private ingestPath(ref: string): string {
    return join(this.ingestDir, createHash('sha256').update(ref).digest('hex'));
  }

  /** @internal used by ContentWriter.commit */
  async placeBlob(digest: string, dataPath: string): Promise<boolean> {
    const target = this.blobPath(digest);
    const dir = join(target, '..');
    mkdirSync(dir, { recursive: true });
    try {
      statSync(target);
      return false;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    renameSync(dataPath, target);
    await syncDir(dir);
    return true;
  }
}

/**
 * One ingest being written. Writes are applied in call order; commit waits for
 * them. After commit, abort or close, write and commit fail FAILED_PRECONDITION.
 */
export class ContentWriter {
  private closed = false;
  private failed: unknown;
  /** Writes run one after another, in call order. */
  private writing: Promise<unknown> = Promise.resolve();

  /** @internal made by ContentStore.writer */
  constructor(
    private readonly store: ContentStore,
    readonly ref: string,
    private readonly dir: string,
    private fh: FileHandle,
    private readonly hash: Hash,
    private readonly algorithm: Algorithm,
    private offset: number,
    private readonly meta: IngestMeta,
  ) {}

  /** Where the ingest stands: the offset a resumed download continues from. */
  status(): { ref: string; offset: number; expected: Descriptor | undefined; startedAt: string } {
    return { ref: this.ref, offset: this.offset, expected: this.meta.expected, startedAt: this.meta.startedAt };
  }

  /**
   * Appends bytes; concurrent calls are queued and applied in call order. Fails
   * INVALID_ARGUMENT when they would exceed the expected size (nothing is written
   * then); I/O errors name the ingest and make later writes fail.
   */
  write(chunk: Uint8Array | string): Promise<void> {
    const next = this.writing.then(() => this.writeNow(chunk));
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async writeNow(chunk: Uint8Array | string): Promise<void> {
    this.assertOpen('write');
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const limit = this.meta.expected?.size;
    if (limit !== undefined && this.offset + bytes.length > limit) {
      throw invalidArgument(
        `ingest ${this.ref}: ${this.offset + bytes.length} bytes exceed the expected size ${limit} of ${this.meta.expected!.digest}`,
      );
    }
    let done = 0;
    try {
      while (done < bytes.length) {
        const { bytesWritten } = await this.fh.write(bytes, done, bytes.length - done);
        done += bytesWritten;
      }
    } catch (err) {
      this.failed = err;
      throw wrap(err, `ingest ${this.ref}: write`);
    }
    this.hash.update(bytes);
    this.offset += bytes.length;
  }

  /** A Node Writable feeding this writer, for stream.pipeline(). It does not commit. */
  writable(): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.write(chunk).then(() => cb(), cb);
      },
    });
  }

  /**
   * Verifies and publishes the blob: the byte count must equal `size` and the hash
   * `digest` (each defaulting to the expected descriptor; when neither is known the
   * check is skipped). Then the data is fsynced and renamed into place atomically.
   * Committing content that already exists as a blob (twice, or by two refs) is
   * not an error: the ingest is discarded and `created` is false.
   * Fails FAILED_PRECONDITION `blob <digest>: size mismatch …` (the ingest is kept
   * for resuming when short, discarded when long) or `blob <digest>: digest mismatch
   * (got …)` (the ingest is discarded). The writer is finished after a commit
   * attempt that got past the checks, or a digest mismatch.
   */
  async commit(ctx: Context, size?: number, digest?: string): Promise<CommitResult> {
    await this.writing;
    this.assertOpen('commit');
    throwIfCancelled(ctx, `ingest ${this.ref}: commit`);
    const tVerify = nowNs();
    const wantDigest = digest ?? this.meta.expected?.digest;
    const wantSize = size ?? this.meta.expected?.size;
    const subject = `blob ${wantDigest ?? `(ingest ${this.ref})`}`;
    if (wantDigest !== undefined) parseDigest(wantDigest, `${subject}: commit digest`);
    if (wantSize !== undefined && wantSize !== this.offset) {
      if (this.offset > wantSize) await this.abort();
      throw failedPrecondition(`${subject}: size mismatch: expected ${wantSize} bytes, got ${this.offset}`, {
        details: { expected: wantSize, got: this.offset },
      });
    }
    const algorithm: Algorithm = wantDigest === undefined ? 'sha256' : parseDigest(wantDigest).algorithm;
    const hex =
      algorithm === this.algorithm
        ? this.hash.copy().digest('hex')
        : await hashWhole(join(this.dir, 'data'), algorithm);
    const actual = `${algorithm}:${hex}`;
    if (wantDigest !== undefined && actual !== wantDigest) {
      await this.abort();
      throw failedPrecondition(`${subject}: digest mismatch (got ${actual})`, {
        details: { expected: wantDigest, got: actual },
      });
    }
    this.closed = true;
    const tSync = nowNs();
    try {
      await this.fh.sync();
      await this.fh.close();
      const tRename = nowNs();
      const created = await this.store.placeBlob(actual, join(this.dir, 'data'));
      releaseIngest(this.dir, true);
      const tEnd = nowNs();
      const step = (method: string, startNs: number, endNs: number): TimedStep => ({
        module: 'graph.content.ingest',
        method,
        startNs,
        endNs,
        attributes: { digest: actual },
      });
      return {
        digest: actual,
        size: this.offset,
        created,
        steps: [step('verify', tVerify, tSync), step('fsync', tSync, tRename), step('rename', tRename, tEnd)],
      };
    } catch (err) {
      await this.fh.close().catch(() => {});
      try {
        releaseIngest(this.dir);
      } catch {
        // the commit's error is the one to report
      }
      throw wrap(err, `blob ${actual}: commit`);
    }
  }

  /** Discards the ingest and its data. Idempotent; a no-op after commit or close. */
  async abort(): Promise<void> {
    if (this.closed && !heldIngests.has(this.dir)) return;
    this.closed = true;
    await this.fh.close().catch(() => {});
    releaseIngest(this.dir, true);
  }

  /**
   * Stops writing but keeps the ingest, so a later writer() on the same ref resumes
   * at this offset. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close().catch(() => {});
    releaseIngest(this.dir);
  }

  private assertOpen(op: string): void {
    if (this.closed) throw failedPrecondition(`ingest ${this.ref}: ${op} after the writer was finished`);
    if (this.failed !== undefined)
      throw failedPrecondition(`ingest ${this.ref}: ${op} after a failed write`, { cause: this.failed });
  }
}

function blobError(err: unknown, digest: string): Error {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return notFound(`blob ${digest}: not found`, { cause: err });
  return wrap(err, `blob ${digest}`);
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw wrap(err, `content ${dir}: readdir`);
  }
}

/** readMeta for listings: an I/O error reads as no meta too. */
function readMetaQuiet(dir: string): IngestMeta | undefined {
  try {
    return readMeta(dir);
  } catch {
    return undefined;
  }
}

/**
 * The ingest's meta.json; undefined when absent or unreadable as such (a torn one after a crash: the ingest restarts).
 */
function readMeta(dir: string): IngestMeta | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, 'meta.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let meta: IngestMeta;
  try {
    meta = JSON.parse(text) as IngestMeta;
  } catch {
    return undefined;
  }
  if (meta === null || typeof meta !== 'object' || typeof meta.ref !== 'string' || typeof meta.startedAt !== 'string')
    return undefined;
  return meta;
}

/** fsync of a directory (makes a rename in it durable): the fsync on the threadpool, open and close synchronous. */
async function syncDir(dir: string): Promise<void> {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await new Promise<void>((resolve, reject) => fsyncCb(fd, (err) => (err ? reject(err) : resolve())));
  } finally {
    closeSync(fd);
  }
}

async function hashFile(path: string, hash: Hash): Promise<number> {
  let n = 0;
  try {
    for await (const chunk of createReadStream(path)) {
      hash.update(chunk as Buffer);
      n += (chunk as Buffer).length;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  return n;
}

async function hashWhole(path: string, algorithm: Algorithm): Promise<string> {
  const h = createHash(algorithm);
  await hashFile(path, h);
  return h.digest('hex');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockOwner(lockPath: string): string {
  try {
    return readFileSync(lockPath, 'utf8').trim();
  } catch {
    return '';
  }
}

function lockHeldByOther(lockPath: string): boolean {
  const pid = Number.parseInt(lockOwner(lockPath), 10);
  return Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid);
}

/** Creates the lock file with O_EXCL; a lock left by a dead process (or by this one, unheld) is taken over. */
function takeLockFile(lockPath: string, ref: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, String(process.pid), { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (lockHeldByOther(lockPath)) throw conflict(`ingest ${ref}: locked by process ${lockOwner(lockPath) || '?'}`);
    unlinkQuiet(lockPath);
  }
  throw conflict(`ingest ${ref}: lock file ${lockPath} keeps reappearing`);
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Drops the in-process lock and the lock file; with `remove`, the whole ingest
 * folder (its known files, then the folder; anything else in it makes it fall
 * back to a recursive removal).
 */
function releaseIngest(dir: string, remove = false): void {
  try {
    if (!remove) {
      unlinkQuiet(join(dir, 'lock'));
      return;
    }
    for (const name of ['data', 'meta.json', 'meta.json.tmp', 'lock']) unlinkQuiet(join(dir, name));
    try {
      rmdirSync(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') rmSync(dir, { recursive: true, force: true });
      else if (code !== 'ENOENT') throw err;
    }
  } finally {
    heldIngests.delete(dir);
  }
}
