// Blob reads (GET/HEAD with single byte ranges and ETag revalidation) and blob
// deletes: /v2/<name>/blobs/<digest> (end-2, end-10).
import { pipeline } from 'node:stream/promises';
import { blobHolders } from './blob-holders.js';
import { distributionError } from './distribution-errors.js';
import { parseByteRange, sendEmpty } from './http-util.js';
import { parseDigest } from './reference-grammar.js';
import { requireDelete, type RouteContext } from './route-context.js';

/** GET/HEAD: 200 with the whole blob, 206 for a satisfiable Range, 416 otherwise, 404 BLOB_UNKNOWN. */
export async function getBlob(rc: RouteContext): Promise<void> {
  const digest = parseDigest(rc.param, `blob in ${rc.name}`);
  const size = await rc.store.blobSize(rc.name, digest);
  if (size === undefined)
    throw distributionError('BLOB_UNKNOWN', `blob ${digest.text} in ${rc.name}: blob unknown to registry`, {
      detail: { digest: digest.text },
    });
  const etag = `"${digest.text}"`;
  const headers: Record<string, string> = {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest.text,
    ETag: etag,
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'max-age=31536000',
  };
  if (rc.req.headers['if-none-match'] === etag) {
    rc.res.writeHead(304, headers);
    rc.res.end();
    return;
  }
  const range = parseByteRange(rc.req.headers.range, size);
  if (range === 'unsatisfiable') {
    sendEmpty(rc.res, 416, { ...headers, 'Content-Range': `bytes */${size}` });
    return;
  }
  const head = rc.req.method === 'HEAD';
  if (range === undefined) {
    rc.res.writeHead(200, { ...headers, 'Content-Length': String(size) });
    if (head || size === 0) rc.res.end();
    else await pipeline(rc.store.openBlob(rc.name, digest), rc.res);
    return;
  }
  rc.res.writeHead(206, {
    ...headers,
    'Content-Length': String(range.end - range.start + 1),
    'Content-Range': `bytes ${range.start}-${range.end}/${size}`,
  });
  if (head) rc.res.end();
  else await pipeline(rc.store.openBlob(rc.name, digest, range.start, range.end), rc.res);
}

/**
 * DELETE: 202 when the blob was removed from the repository, 404 BLOB_UNKNOWN when
 * absent. Refused with 409 DENIED (the reason and the manifests in the detail) while
 * a manifest of the repository names the blob, and for a manifest's own bytes,
 * which go only through the manifests endpoint: a tag never loses what it needs.
 */
export async function deleteBlob(rc: RouteContext): Promise<void> {
  requireDelete(rc, `delete blob ${rc.param} in ${rc.name}`);
  const digest = parseDigest(rc.param, `blob in ${rc.name}`);
  const subject = `blob ${digest.text} in ${rc.name}`;
  const deleted = await rc.store.deleteBlob(rc.name, digest, async () => {
    if ((await rc.store.resolve(rc.name, { digest: digest.text })) !== undefined) {
      throw distributionError(
        'DENIED',
        `${subject}: is a manifest; delete it with DELETE /v2/${rc.name}/manifests/${digest.text}`,
        {
          status: 409,
          detail: { digest: digest.text, reason: 'manifest' },
        },
      );
    }
    const holders = await blobHolders(rc.store, rc.name, digest.text);
    if (holders.length > 0) {
      const named = holders
        .map((h) => (h.tags.length > 0 ? `${h.digest} (${h.tags.join(', ')})` : h.digest))
        .join(', ');
      throw distributionError('DENIED', `${subject}: referenced by manifest ${named}; delete the manifest first`, {
        status: 409,
        detail: { digest: digest.text, reason: 'referenced', manifests: holders },
      });
    }
  });
  if (!deleted)
    throw distributionError('BLOB_UNKNOWN', `${subject}: blob unknown to registry`, {
      detail: { digest: digest.text },
    });
  sendEmpty(rc.res, 202, { 'Docker-Content-Digest': digest.text });
}
