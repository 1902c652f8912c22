// Blob uploads: POST …/blobs/uploads/ (session start, single-request monolithic
// upload with ?digest=, cross-repository mount with ?mount=&from=), PATCH chunks,
// PUT to close, GET for progress and DELETE to cancel (end-4a … end-6, end-11, end-13, end-14).
import { distributionError } from './distribution-errors.js';
import { parseContentRange, requestBody, sendEmpty } from './http-util.js';
import { isValidName, parseDigest, type Digest } from './reference-grammar.js';
import { requireWritable, type RouteContext } from './route-context.js';
import { claim, rangeHeader, type UploadSession } from './upload-store.js';

function uploadHeaders(rc: RouteContext, session: UploadSession): Record<string, string> {
  return {
    Location: `/v2/${rc.name}/blobs/uploads/${session.id}`,
    Range: rangeHeader(session.size),
    'Docker-Upload-UUID': session.id,
    'Blob-Upload-Session-ID': session.id,
  };
}

function blobCreated(rc: RouteContext, digest: Digest): void {
  sendEmpty(rc.res, 201, { Location: `/v2/${rc.name}/blobs/${digest.text}`, 'Docker-Content-Digest': digest.text });
}

/** True when the request carries a body (a length above zero, or chunked encoding). */
function hasBody(rc: RouteContext): boolean {
  const length = rc.req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return rc.req.headers['transfer-encoding'] !== undefined;
}

function declaredLength(rc: RouteContext): number | undefined {
  const length = rc.req.headers['content-length'];
  return length === undefined ? undefined : Number(length);
}

/**
 * Verifies the session's bytes against every `digest` given and renames them into
 * the repository's blobs. On a mismatch the session is dropped (DIGEST_INVALID), so
 * nothing of it stays; on success the session is gone too.
 */
async function closeSession(rc: RouteContext, session: UploadSession, digests: Digest[]): Promise<Digest> {
  claim(session);
  try {
    for (const digest of digests) {
      const actual = await rc.uploads.digest(session, digest.algorithm);
      if (actual !== digest.hex) {
        await rc.uploads.remove(session);
        throw distributionError(
          'DIGEST_INVALID',
          `upload ${session.id} to ${rc.name}: digest mismatch: expected ${digest.text}, got ${digest.algorithm}:${actual}`,
          {
            detail: { expected: digest.text, actual: `${digest.algorithm}:${actual}` },
          },
        );
      }
    }
    const digest = digests[0] as Digest;
    await rc.store.commitBlob(rc.name, digest, session.dataPath);
    await rc.uploads.remove(session);
    return digest;
  } finally {
    session.busy = false;
  }
}

function digestParams(rc: RouteContext, subject: string): Digest[] {
  const values = rc.url.searchParams.getAll('digest');
  if (values.length === 0) throw distributionError('DIGEST_INVALID', `${subject}: digest parameter missing`);
  return values.map((v) => parseDigest(v, subject));
}

/** POST: 201 for a monolithic upload or a successful mount, 202 with a new session otherwise. */
export async function startUpload(rc: RouteContext): Promise<void> {
  if (rc.param !== '') throw distributionError('UNSUPPORTED', `POST ${rc.url.pathname}: method not allowed`);
  requireWritable(rc, `upload to ${rc.name}`);
  const mount = rc.url.searchParams.get('mount');
  if (mount !== null) {
    let digest: Digest | undefined;
    try {
      digest = parseDigest(mount);
    } catch {
      digest = undefined;
    }
    if (digest !== undefined) {
      const from = rc.url.searchParams.get('from');
      if (from !== null && isValidName(from) && from !== rc.name && (await rc.store.mountBlob(rc.name, digest, from))) {
        rc.ctx.logger.debug('registry: blob mounted', { repository: rc.name, from, digest: digest.text });
        return blobCreated(rc, digest);
      }
      if ((await rc.store.blobSize(rc.name, digest)) !== undefined) return blobCreated(rc, digest);
    }
    // Fall through: the spec asks for a plain upload session when the mount cannot be done.
  } else if (rc.url.searchParams.has('digest')) {
    const digests = digestParams(rc, `upload to ${rc.name}`);
    // A single-request upload leaves nothing behind when it fails at any step.
    const session = await rc.uploads.create(rc.name);
    let digest: Digest;
    try {
      await rc.uploads.append(session, requestBody(rc.req), declaredLength(rc));
      digest = await closeSession(rc, session, digests);
    } catch (err) {
      await rc.uploads.remove(session);
      throw err;
    }
    return blobCreated(rc, digest);
  }
  const session = await rc.uploads.create(rc.name);
  sendEmpty(rc.res, 202, uploadHeaders(rc, session));
}

/**
 * PATCH: appends a chunk. With Content-Range the chunk must start at the session's
 * offset (416 with the current Range otherwise); without it the body is streamed on.
 */
export async function patchUpload(rc: RouteContext): Promise<void> {
  requireWritable(rc, `upload to ${rc.name}`);
  const session = await rc.uploads.get(rc.name, rc.param);
  const expected = checkedChunk(rc, session);
  await rc.uploads.append(session, requestBody(rc.req), expected);
  sendEmpty(rc.res, 202, uploadHeaders(rc, session));
}

/** Validates a chunk's Content-Range against the session; returns the chunk's length when declared. */
function checkedChunk(rc: RouteContext, session: UploadSession): number | undefined {
  const subject = `upload ${session.id} to ${rc.name}`;
  const headers = uploadHeaders(rc, session);
  const range = parseContentRange(
    rc.req.headers['content-range'] as string | undefined,
    headers.Range as string,
    subject,
  );
  if (range === undefined) return declaredLength(rc);
  if (range.start !== session.size) {
    throw distributionError(
      'BLOB_UPLOAD_INVALID',
      `${subject}: chunk starts at ${range.start}, expected ${session.size}`,
      {
        status: 416,
        headers,
        detail: { offset: session.size },
      },
    );
  }
  const length = range.end - range.start + 1;
  const declared = declaredLength(rc);
  if (declared !== undefined && declared !== length) {
    throw distributionError(
      'SIZE_INVALID',
      `${subject}: Content-Length ${declared} differs from Content-Range ${range.start}-${range.end}`,
      { status: 416, headers },
    );
  }
  return length;
}

/** PUT ?digest=: appends an optional last chunk, verifies the whole blob and commits it (201). */
export async function closeUpload(rc: RouteContext): Promise<void> {
  requireWritable(rc, `upload to ${rc.name}`);
  const session = await rc.uploads.get(rc.name, rc.param);
  const digests = digestParams(rc, `upload ${session.id} to ${rc.name}`);
  if (hasBody(rc) || rc.req.headers['content-range'] !== undefined) {
    const expected = checkedChunk(rc, session);
    await rc.uploads.append(session, requestBody(rc.req), expected);
  }
  blobCreated(rc, await closeSession(rc, session, digests));
}

/** GET: 204 with the session's Range (the offset to resume from). */
export async function uploadStatus(rc: RouteContext): Promise<void> {
  const session = await rc.uploads.get(rc.name, rc.param);
  sendEmpty(rc.res, 204, uploadHeaders(rc, session));
}

/** DELETE: cancels the session and deletes its data (204). */
export async function cancelUpload(rc: RouteContext): Promise<void> {
  const session = await rc.uploads.get(rc.name, rc.param);
  await rc.uploads.remove(session);
  sendEmpty(rc.res, 204);
}
