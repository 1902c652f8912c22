// Content discovery: the tag list with n/last pagination and a Link header
// (end-8a/b), and the referrers API with the artifactType filter (end-12a/b).
import { distributionError } from './distribution-errors.js';
import { sendJson } from './http-util.js';
import { MediaType } from './manifest-check.js';
import { parseDigest } from './reference-grammar.js';
import type { RouteContext } from './route-context.js';

/**
 * GET tags/list: tags in ASCII order, starting after `last`, at most `n` of them;
 * a Link rel="next" when more remain. n=0 gives an empty list and no Link.
 * 404 NAME_UNKNOWN for a repository without content.
 */
export async function listTags(rc: RouteContext): Promise<void> {
  if (!(await rc.store.exists(rc.name))) {
    throw distributionError('NAME_UNKNOWN', `repository ${rc.name}: repository name not known to registry`, {
      detail: { name: rc.name },
    });
  }
  const nParam = rc.url.searchParams.get('n');
  const last = rc.url.searchParams.get('last');
  let n: number | undefined;
  if (nParam !== null && nParam !== '') {
    if (!/^\d+$/.test(nParam))
      throw distributionError(
        'UNSUPPORTED',
        `tag list of ${rc.name}: n=${JSON.stringify(nParam)} is not a non-negative integer`,
        { status: 400 },
      );
    n = Number(nParam);
  }
  let tags = await rc.store.tags(rc.name);
  if (last !== null && last !== '') tags = tags.filter((t) => t > last);
  const headers: Record<string, string> = {};
  if (n !== undefined) {
    const more = tags.length > n;
    tags = tags.slice(0, n);
    if (more && n > 0) {
      const next = `/v2/${rc.name}/tags/list?n=${n}&last=${encodeURIComponent(tags[tags.length - 1] as string)}`;
      headers.Link = `<${next}>; rel="next"`;
    }
  }
  sendJson(rc.res, 200, { name: rc.name, tags }, headers, rc.req.method === 'HEAD');
}

/**
 * GET referrers/<digest>: an image index of the repository's manifests whose subject
 * is <digest> (empty, never 404, when there are none). 400 DIGEST_INVALID for a bad digest.
 */
export async function listReferrers(rc: RouteContext): Promise<void> {
  const digest = parseDigest(rc.param, `referrers in ${rc.name}`);
  const artifactType = rc.url.searchParams.get('artifactType');
  let manifests = await rc.store.referrers(rc.name, digest.text);
  const headers: Record<string, string> = { 'Content-Type': MediaType.ociIndex };
  if (artifactType !== null && artifactType !== '') {
    manifests = manifests.filter((m) => m.artifactType === artifactType);
    headers['OCI-Filters-Applied'] = 'artifactType';
  }
  sendJson(
    rc.res,
    200,
    { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests },
    headers,
    rc.req.method === 'HEAD',
  );
}
