// Maps a request path and method to a route handler. Repository names contain
// slashes, so each endpoint is recognised by its suffix and the name is what
// precedes it; the name's grammar is checked once here (NAME_INVALID).
import { deleteBlob, getBlob } from './blob-routes.js';
import { listReferrers, listTags } from './discovery-routes.js';
import { distributionError } from './distribution-errors.js';
import { deleteManifest, getManifest, putManifest } from './manifest-routes.js';
import { checkName } from './reference-grammar.js';
import type { RouteHandler } from './route-context.js';
import { cancelUpload, closeUpload, patchUpload, startUpload, uploadStatus } from './upload-routes.js';

type Endpoint = 'manifests' | 'blobs' | 'uploads' | 'tags' | 'referrers';

const patterns: [Endpoint, RegExp][] = [
  ['uploads', /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/],
  ['tags', /^\/v2\/(.+)\/tags\/list()$/],
  ['manifests', /^\/v2\/(.+)\/manifests\/([^/]+)$/],
  ['referrers', /^\/v2\/(.+)\/referrers\/([^/]+)$/],
  ['blobs', /^\/v2\/(.+)\/blobs\/([^/]+)$/],
];

const handlers: Record<Endpoint, Partial<Record<string, RouteHandler>>> = {
  manifests: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest },
  blobs: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob },
  uploads: { POST: startUpload, PATCH: patchUpload, PUT: closeUpload, GET: uploadStatus, DELETE: cancelUpload },
  tags: { GET: listTags, HEAD: listTags },
  referrers: { GET: listReferrers, HEAD: listReferrers },
};

export interface Route {
  endpoint: Endpoint | 'base';
  name: string;
  param: string;
  handler: RouteHandler | undefined;
}

/**
 * The route for `pathname` (as sent, percent-encoded) and `method`. Throws
 * NAME_INVALID for a malformed repository name, a 405 UNSUPPORTED for a method the
 * endpoint lacks, a 404 for a path that is no endpoint of the API.
 */
export function route(method: string, pathname: string): Route {
  if (pathname === '/v2/' || pathname === '/v2') {
    if (method !== 'GET' && method !== 'HEAD')
      throw distributionError('UNSUPPORTED', `${method} /v2/: method not allowed`);
    return { endpoint: 'base', name: '', param: '', handler: undefined };
  }
  for (const [endpoint, re] of patterns) {
    const m = re.exec(pathname);
    if (!m) continue;
    const name = checkName(decode(m[1] as string));
    const param = decode(m[2] as string);
    const handler = handlers[endpoint][method];
    if (handler === undefined) throw distributionError('UNSUPPORTED', `${method} ${pathname}: method not allowed`);
    return { endpoint, name, param, handler };
  }
  throw distributionError('UNSUPPORTED', `${method} ${pathname}: no such endpoint`, { status: 404 });
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
