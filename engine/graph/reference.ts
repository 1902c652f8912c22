// Image references in Docker's grammar (distribution/reference): parsing,
// normalisation to the full form (`busybox` → `docker.io/library/busybox:latest`)
// and back to the familiar form users type.
//
//   reference  := name [":" tag] ["@" digest]
//   name       := [domain "/"] path
//   domain     := host [":" port]     host := domain-name | "[" IPv6 "]"
//   path       := path-component ["/" path-component]*
//   path-component := [a-z0-9]+ (separator [a-z0-9]+)*   separator := [_.] | "__" | "-"+
//   tag        := [\w][\w.-]{0,127}
//
// The first "/"-separated component is a domain when it contains "." or ":", is
// "localhost", or has an uppercase letter; otherwise the name lives on Docker Hub
// (`docker.io`), and a one-component Hub path gets the `library/` prefix.
import { invalidArgument } from '../errdefs/errors.js';
import { parseDigest } from './digest.js';

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
/** Longest allowed name (domain + "/" + path). */
export const NAME_TOTAL_LENGTH_MAX = 255;

const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const path = `${pathComponent}(?:/${pathComponent})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainAndPort = `(?:${domainName}|${ipv6})(?::[0-9]+)?`;
const tag = '[\\w][\\w.-]{0,127}';
const digest = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

const anchoredDomain = new RegExp(`^${domainAndPort}$`);
const anchoredRemainder = new RegExp(`^(${path})(?::(${tag}))?(?:@(${digest}))?$`);
const anchoredIdentifier = /^[a-f0-9]{64}$/;

/** A parsed, normalised reference: domain and path always set, tag and digest optional. */
export interface Reference {
  /** Registry host (and port): `docker.io`, `localhost:5000`. */
  readonly domain: string;
  /** Repository path inside the registry: `library/busybox`. */
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

/**
 * Parses `s` as a reference and normalises its name the way Docker does (domain
 * and `library/` added for Hub names, `index.docker.io` → `docker.io`). Adds no
 * default tag (see withDefaultTag). Fails INVALID_ARGUMENT naming `s`: empty, a bare
 * 64-hex identifier, uppercase in the repository path, bad tag or digest, name over
 * 255 characters.
 */
export function parseReference(s: string): Reference {
  const fail = (why: string): never => {
    throw invalidArgument(`reference ${JSON.stringify(s)}: ${why}`);
  };
  if (typeof s !== 'string' || s === '')
    fail('invalid reference format: repository name must have at least one component');
  if (anchoredIdentifier.test(s)) fail('invalid repository name: cannot specify 64-byte hexadecimal strings');

  let domain: string;
  let remainder: string;
  const slash = s.indexOf('/');
  const first = slash < 0 ? '' : s.slice(0, slash);
  if (slash < 0 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    remainder = s;
  } else {
    domain = first;
    remainder = s.slice(slash + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (!anchoredDomain.test(domain)) fail(`invalid reference format: bad domain ${JSON.stringify(domain)}`);

  const m = anchoredRemainder.exec(remainder);
  if (m === null) {
    const nameOnly = remainder.split('@')[0]!.replace(/:[^/]*$/, '');
    if (nameOnly !== nameOnly.toLowerCase()) fail('invalid reference format: repository name must be lowercase');
    if (nameOnly === '' || nameOnly.split('/').some((c) => c === ''))
      fail('invalid reference format: repository name must have at least one component');
    return fail('invalid reference format');
  }
  let repoPath = m[1]!;
  const tagPart = m[2];
  const digestPart = m[3];
  if (domain === DEFAULT_DOMAIN && !repoPath.includes('/')) repoPath = OFFICIAL_REPO_PREFIX + repoPath;
  if (domain.length + 1 + repoPath.length > NAME_TOTAL_LENGTH_MAX) {
    fail(`repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  if (digestPart !== undefined) parseDigest(digestPart, `reference ${JSON.stringify(s)}: digest`);
  return { domain, path: repoPath, tag: tagPart, digest: digestPart };
}

/** The reference with tag `latest` when it has neither tag nor digest. */
export function withDefaultTag(ref: Reference): Reference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/** The full repository name: `docker.io/library/busybox`. */
export function referenceName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full string: `docker.io/library/busybox:latest`, `host/x@sha256:…`. */
export function referenceString(ref: Reference): string {
  let out = referenceName(ref);
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/**
 * Parses and normalises `s` to its full string with the default tag when it has no
 * tag or digest: `busybox` → `docker.io/library/busybox:latest`. Fails like parseReference.
 */
export function normalizeName(s: string): string {
  return referenceString(withDefaultTag(parseReference(s)));
}

/** The repository name as users type it: `busybox`, `user/app`, `localhost:5000/x`. */
function familiarName(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return referenceName(ref);
  if (ref.path.startsWith(OFFICIAL_REPO_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_REPO_PREFIX.length);
    if (!rest.includes('/')) return rest;
  }
  return ref.path;
}

/**
 * The familiar form of a reference (or of a string, parsed first):
 * `docker.io/library/busybox:latest` → `busybox:latest`. Adds no tag.
 */
export function familiarString(ref: Reference | string): string {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  let out = familiarName(r);
  if (r.tag !== undefined) out += `:${r.tag}`;
  if (r.digest !== undefined) out += `@${r.digest}`;
  return out;
}
