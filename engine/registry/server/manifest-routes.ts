// Manifests by tag or digest: GET/HEAD, PUT (with blob and child checks, digest
// check for a PUT by digest, and the subject's OCI-Subject answer) and DELETE of
// a tag or a whole manifest: /v2/<name>/manifests/<reference> (end-3, end-7, end-9).
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { BerthError } from '../../errdefs/errors.js';
import { blobHolders, manifestHolders } from './blob-holders.js';
import { distributionError, multiError } from './distribution-errors.js';
import { readBody, sendEmpty } from './http-util.js';
import { checkManifest, type Descriptor, type Located } from './manifest-check.js';
import { checkTag, isValidTag, looksLikeDigest, parseDigest, type Digest } from './reference-grammar.js';
import { requireDelete, requireWritable, type RouteContext } from './route-context.js';

interface Reference {
  tag?: string;
  digest?: Digest;
}

function parseReference(rc: RouteContext): Reference {
  if (looksLikeDigest(rc.param)) return { digest: parseDigest(rc.param, `manifest in ${rc.name}`) };
  return { tag: checkTag(rc.param) };
}

/**
 * The reference of a read or delete. A name no tag can match names no manifest:
 * 404 like any unknown manifest (as distribution answers and the conformance
 * suite expects), while a push to it stays TAG_INVALID.
 */
async function lookupReference(rc: RouteContext): Promise<Reference> {
  if (!looksLikeDigest(rc.param) && !isValidTag(rc.param)) throw await unknownManifest(rc);
  return parseReference(rc);
}

async function unknownManifest(rc: RouteContext): Promise<BerthError> {
  if (!(await rc.store.exists(rc.name)))
    return distributionError('NAME_UNKNOWN', `repository ${rc.name}: repository name not known to registry`, {
      detail: { name: rc.name },
    });
  return distributionError('MANIFEST_UNKNOWN', `manifest ${rc.param} in ${rc.name}: manifest unknown to registry`, {
    detail: { reference: rc.param },
  });
}

/**
 * GET/HEAD: the manifest's exact bytes with its stored media type as Content-Type; 404 when unknown (a malformed tag
 * included).
 */
export async function getManifest(rc: RouteContext): Promise<void> {
  const ref = await lookupReference(rc);
  const found = await rc.store.resolve(rc.name, { tag: ref.tag, digest: ref.digest?.text });
  if (found === undefined) throw await unknownManifest(rc);
  const digest = parseDigest(found.digest);
  const size = await rc.store.blobSize(rc.name, digest);
  if (size === undefined) throw await unknownManifest(rc);
  const etag = `"${found.digest}"`;
  const headers = {
    'Content-Type': found.mediaType,
    'Docker-Content-Digest': found.digest,
    ETag: etag,
    'Content-Length': String(size),
  };
  if (rc.req.headers['if-none-match'] === etag) {
    rc.res.writeHead(304, headers);
    rc.res.end();
    return;
  }
  rc.res.writeHead(200, headers);
  if (rc.req.method === 'HEAD') rc.res.end();
  else await pipeline(rc.store.openBlob(rc.name, digest), rc.res);
}

/**
 * PUT: stores the manifest (exact bytes) after checking that its config and layers
 * are blobs of the repository and an index's children are manifests of it
 * (MANIFEST_BLOB_UNKNOWN, one error per missing descriptor), and that every
 * descriptor of content the repository holds (a subject included) states its true
 * size (MANIFEST_INVALID naming the descriptor). 201 with Location,
 * Docker-Content-Digest, and OCI-Subject when the manifest has a subject.
 */
export async function putManifest(rc: RouteContext): Promise<void> {
  requireWritable(rc, `push manifest ${rc.param} to ${rc.name}`);
  const ref = parseReference(rc);
  const subject = `manifest ${rc.param} in ${rc.name}`;
  const body = await readBody(rc.req, rc.settings.maxManifestBytes, subject);
  const contentType = (rc.req.headers['content-type'] ?? '').split(';')[0]!.trim();
  const checked = checkManifest(body, contentType, subject);
  const algorithm = ref.digest?.algorithm ?? 'sha256';
  const hex = createHash(algorithm).update(body).digest('hex');
  if (ref.digest !== undefined && ref.digest.hex !== hex) {
    throw distributionError('DIGEST_INVALID', `${subject}: digest mismatch: got ${algorithm}:${hex}`, {
      detail: { expected: ref.digest.text, actual: `${algorithm}:${hex}` },
    });
  }
  const digest: Digest = { algorithm, hex, text: `${algorithm}:${hex}` };
  const referrer = checked.subject
    ? {
        subject: checked.subject.digest,
        descriptor: {
          mediaType: checked.mediaType,
          digest: digest.text,
          size: body.length,
          ...(checked.artifactType === undefined ? {} : { artifactType: checked.artifactType }),
          ...(checked.annotations === undefined ? {} : { annotations: checked.annotations }),
        } satisfies Descriptor,
      }
    : undefined;
  await rc.store.putManifest(
    rc.name,
    { digest, mediaType: checked.mediaType, bytes: body },
    ref.tag,
    referrer,
    async () => {
      const problems: BerthError[] = [];
      const wrongSize = (l: Located, actual: number) =>
        distributionError(
          'MANIFEST_INVALID',
          `${subject}: ${l.where} ${l.descriptor.digest}: size ${l.descriptor.size} differs from the ${actual} bytes stored`,
          {
            detail: { descriptor: l.where, digest: l.descriptor.digest, size: l.descriptor.size, actual },
          },
        );
      for (const l of checked.blobs) {
        const size = await rc.store.blobSize(rc.name, parseDigest(l.descriptor.digest));
        if (size === undefined) {
          if (!l.foreign)
            problems.push(
              distributionError(
                'MANIFEST_BLOB_UNKNOWN',
                `${subject}: blob ${l.descriptor.digest} unknown to repository`,
                { detail: { digest: l.descriptor.digest } },
              ),
            );
        } else if (size !== l.descriptor.size) {
          problems.push(wrongSize(l, size));
        }
      }
      if (checked.children.length > 0 || checked.subject !== undefined) {
        const sizes = new Map((await rc.store.readIndex(rc.name)).manifests.map((m) => [m.digest, m.size]));
        for (const l of checked.children) {
          const size = sizes.get(l.descriptor.digest);
          if (size === undefined) {
            problems.push(
              distributionError(
                'MANIFEST_BLOB_UNKNOWN',
                `${subject}: manifest ${l.descriptor.digest} unknown to repository`,
                { detail: { digest: l.descriptor.digest } },
              ),
            );
          } else if (size !== l.descriptor.size) {
            problems.push(wrongSize(l, size));
          }
        }
        // A subject may be absent (referrers may come first); when present its size must match.
        const subjectSize = checked.subject && sizes.get(checked.subject.digest);
        if (checked.subject && subjectSize !== undefined && subjectSize !== checked.subject.size) {
          problems.push(wrongSize({ where: 'subject', descriptor: checked.subject, foreign: false }, subjectSize));
        }
      }
      if (problems.length > 0) throw multiError(problems);
    },
  );
  rc.ctx.logger.debug('registry: manifest stored', { repository: rc.name, reference: rc.param, digest: digest.text });
  sendEmpty(rc.res, 201, {
    Location: `/v2/${rc.name}/manifests/${digest.text}`,
    'Docker-Content-Digest': digest.text,
    ...(checked.subject ? { 'OCI-Subject': checked.subject.digest } : {}),
  });
}

/**
 * DELETE by tag removes the tag only; by digest the manifest and all its tags (202;
 * 404 when unknown). A manifest an index of the repository lists is refused with 409
 * DENIED naming the indexes (reason `referenced` in the detail), as a blob a manifest
 * names is: an index never points at a manifest that is gone.
 */
export async function deleteManifest(rc: RouteContext): Promise<void> {
  requireDelete(rc, `delete manifest ${rc.param} in ${rc.name}`);
  const ref = await lookupReference(rc);
  const digest = ref.digest;
  const done =
    digest !== undefined
      ? await rc.store.deleteManifest(rc.name, digest, {
          check: async () => {
            const holders = await manifestHolders(rc.store, rc.name, digest.text);
            if (holders.length === 0) return;
            const named = holders
              .map((h) => (h.tags.length > 0 ? `${h.digest} (${h.tags.join(', ')})` : h.digest))
              .join(', ');
            throw distributionError(
              'DENIED',
              `manifest ${digest.text} in ${rc.name}: listed by index ${named}; delete the index first`,
              {
                status: 409,
                detail: { digest: digest.text, reason: 'referenced', manifests: holders },
              },
            );
          },
          // The same bytes may be a blob another manifest names: then the file stays.
          keepFile: async () => (await blobHolders(rc.store, rc.name, digest.text)).length > 0,
        })
      : await rc.store.deleteTag(rc.name, ref.tag as string);
  if (!done) throw await unknownManifest(rc);
  sendEmpty(rc.res, 202);
}
