// Blob upload sessions. Each session is a folder uploads/<id>/ holding `data` (the
// bytes received so far) and `info.json` (the repository it belongs to). The sha256
// of `data` is kept in memory while the server runs, so closing an upload costs no
// second read; after a restart a session is picked up from disk and hashed once at
// close. A chunk is all-or-nothing: a failed or aborted request truncates `data`
// back to where the chunk began and restores the hash, so the session's offset is
// always a byte count the client can resume from.
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { distributionError } from './distribution-errors.js';

export interface UploadSession {
  readonly id: string;
  readonly repository: string;
  readonly dataPath: string;
  /** Bytes received so far (the next chunk must start here). */
  size: number;
  /** sha256 of the bytes so far; undefined for a session resumed after a restart. */
  hash: Hash | undefined;
  /** True while a request is writing to the session. */
  busy: boolean;
  /** True once the session expired: every later use is BLOB_UPLOAD_UNKNOWN. */
  gone?: boolean;
}

const idRe = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class UploadStore {
  readonly #dir: string;
  readonly #sessions = new Map<string, UploadSession>();
  /** Ids being removed by purgeIdle: a concurrent get() must not bring them back. */
  readonly #expiring = new Set<string>();

  /** `dir` must be on the same filesystem as the blobs (closing renames `data`). */
  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Starts a session for `repository` with an empty `data` file. */
  async create(repository: string): Promise<UploadSession> {
    const id = randomUUID();
    const dir = join(this.#dir, id);
    await mkdir(dir, { recursive: true });
    const dataPath = join(dir, 'data');
    await writeFile(dataPath, '');
    await writeFile(join(dir, 'info.json'), JSON.stringify({ repository, started: new Date().toISOString() }));
    const session: UploadSession = { id, repository, dataPath, size: 0, hash: createHash('sha256'), busy: false };
    this.#sessions.set(id, session);
    return session;
  }

  /**
   * The session `id` of `repository`. Throws BLOB_UPLOAD_UNKNOWN when there is no
   * such session, or it belongs to another repository.
   */
  async get(repository: string, id: string): Promise<UploadSession> {
    const unknown = () =>
      distributionError('BLOB_UPLOAD_UNKNOWN', `upload ${id} of ${repository}: unknown upload session`, {
        detail: { uuid: id },
      });
    if (!idRe.test(id)) throw unknown();
    let session = this.#sessions.get(id);
    if (session === undefined) {
      const dir = join(this.#dir, id);
      let info: { repository?: string };
      let size: number;
      try {
        info = JSON.parse(await readFile(join(dir, 'info.json'), 'utf8')) as { repository?: string };
        size = (await stat(join(dir, 'data'))).size;
      } catch {
        throw unknown();
      }
      if (typeof info.repository !== 'string' || this.#expiring.has(id)) throw unknown();
      session = { id, repository: info.repository, dataPath: join(dir, 'data'), size, hash: undefined, busy: false };
      this.#sessions.set(id, session);
    }
    if (session.repository !== repository || session.gone) throw unknown();
    return session;
  }

  /**
   * Appends `body` to the session. With `expected` set, the body must be exactly
   * that long (SIZE_INVALID otherwise). All-or-nothing: on any failure, the abort of
   * the request included, the data and hash are rolled back and the error rethrown.
   * Streams: memory use is one chunk of the socket, whatever the body's size.
   */
  async append(session: UploadSession, body: Readable, expected?: number): Promise<void> {
    claim(session);
    const start = session.size;
    const saved = session.hash?.copy();
    const hash = session.hash;
    let written = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        written += chunk.length;
        if (expected !== undefined && written > expected) {
          callback(
            distributionError('SIZE_INVALID', `upload ${session.id}: chunk longer than its declared ${expected} bytes`),
          );
          return;
        }
        hash?.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(body, counter, createWriteStream(session.dataPath, { flags: 'a' }));
      if (expected !== undefined && written !== expected) {
        throw distributionError(
          'SIZE_INVALID',
          `upload ${session.id}: chunk of ${written} bytes, declared ${expected}`,
        );
      }
      session.size = start + written;
    } catch (err) {
      await truncate(session.dataPath, start).catch(() => undefined);
      session.hash = saved;
      // The session expired while this request looked it up.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw distributionError(
          'BLOB_UPLOAD_UNKNOWN',
          `upload ${session.id} of ${session.repository}: unknown upload session`,
          { detail: { uuid: session.id }, cause: err },
        );
      }
      throw err;
    } finally {
      session.busy = false;
    }
  }

  /**
   * The digest of everything received, in `algorithm`. sha256 of a session that
   * lived through no restart costs nothing; otherwise one read of `data`.
   */
  async digest(session: UploadSession, algorithm: 'sha256' | 'sha512'): Promise<string> {
    if (algorithm === 'sha256' && session.hash !== undefined) return session.hash.copy().digest('hex');
    const hash = createHash(algorithm);
    await pipeline(createReadStream(session.dataPath), hash);
    return hash.digest('hex');
  }

  /**
   * Removes sessions whose data was last written `idleMs` or more ago (abandoned
   * uploads, failed mounts' sessions, leftovers of a crash). A session a request is
   * using is kept; one removed here answers BLOB_UPLOAD_UNKNOWN from then on, also
   * to a request that looked it up just before. Returns how many were removed.
   * Cost: one stat per session on disk.
   */
  async purgeIdle(idleMs: number): Promise<number> {
    let removed = 0;
    for (const id of await readdir(this.#dir).catch(() => [] as string[])) {
      // A session being created has its folder before its data file.
      const mtime = await stat(join(this.#dir, id, 'data')).then(
        (st) => st.mtimeMs,
        () =>
          stat(join(this.#dir, id)).then(
            (st) => st.mtimeMs,
            () => 0,
          ),
      );
      if (Date.now() - mtime < idleMs) continue;
      // Checked again after the stat: a request may have claimed the session meanwhile.
      const session = this.#sessions.get(id);
      if (session?.busy) continue;
      if (session !== undefined) session.gone = true;
      this.#sessions.delete(id);
      this.#expiring.add(id);
      try {
        await rm(join(this.#dir, id), { recursive: true, force: true });
      } finally {
        this.#expiring.delete(id);
      }
      removed++;
    }
    return removed;
  }

  /** Ends the session and deletes what is left of it (after close, `data` was renamed away). Idempotent. */
  async remove(session: UploadSession): Promise<void> {
    this.#sessions.delete(session.id);
    await rm(join(this.#dir, session.id), { recursive: true, force: true });
  }
}

/**
 * Marks the session busy for one request, or throws a 416 BLOB_UPLOAD_INVALID with
 * the current Range when another request holds it (BLOB_UPLOAD_UNKNOWN when it
 * expired); the caller clears `busy`.
 */
export function claim(session: UploadSession): void {
  if (session.gone) {
    throw distributionError(
      'BLOB_UPLOAD_UNKNOWN',
      `upload ${session.id} of ${session.repository}: unknown upload session`,
      { detail: { uuid: session.id } },
    );
  }
  if (session.busy) {
    throw distributionError('BLOB_UPLOAD_INVALID', `upload ${session.id}: another request is using this session`, {
      status: 416,
      headers: { Range: rangeHeader(session.size) },
    });
  }
  session.busy = true;
}

/** The spec's upload progress header: `0-<last byte>` (`0-0` before the first byte, as distribution does). */
export function rangeHeader(size: number): string {
  return `0-${size > 0 ? size - 1 : 0}`;
}
