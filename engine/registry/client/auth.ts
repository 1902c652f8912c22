// Registry authentication: WWW-Authenticate challenges, the Bearer token flow
// (realm, service, scope `repository:<name>:pull` or `:pull,push`, tokens cached per scope until
// they expire) and Basic, with credentials from a Docker config.json source.
import { unauthenticated, wrap } from '../../errdefs/errors.js';
import type { Context } from '../../trace/context.js';
import { lookupAny, type CredentialSource } from './credentials.js';
import { isLoopback, type Endpoint } from './endpoint.js';
import { readBody, send } from './http.js';
import { isTransientStatus, parseRetryAfter, TransientError } from './retry.js';

export interface Challenge {
  /** Lower-case scheme: `bearer`, `basic`. */
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate header value into its challenges:
 * `Bearer realm="https://a/token",service="reg",scope="repository:x:pull"`. Pure; never throws.
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const value of values) {
    const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(value);
    if (m === null) continue;
    const params: Record<string, string> = {};
    for (const p of m[2]!.matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
      params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
    }
    out.push({ scheme: m[1]!.toLowerCase(), params });
  }
  return out;
}

interface CachedToken {
  header: string;
  expiresAt: number;
}

const DEFAULT_TOKEN_LIFETIME_S = 60;
/** Tokens are renewed this long before they expire. */
const EXPIRY_MARGIN_MS = 5_000;

/**
 * Holds what a client learnt about each registry's authentication and the tokens
 * it got. One per client; safe for concurrent use (one token request per scope at a time).
 */
export class Authorizer {
  /** Challenge learnt per registry host. */
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();
  /** Token requests made (for tests and stats). */
  tokenRequests = 0;

  constructor(private readonly credentials: CredentialSource | undefined) {}

  /**
   * The Authorization header for `repository` on `endpoint`, once a challenge was seen;
   * undefined before. `actions` are the repository's (`pull`, `pull,push`); `extra`
   * scopes join them (`repository:<source>:pull` for a cross-repository mount). Without a
   * repository (a login check) a token is asked for with the extra scopes only.
   * Cost: a token request when none is cached.
   */
  async header(
    ctx: Context,
    endpoint: Endpoint,
    repository: string | undefined,
    actions = 'pull',
    extra: readonly string[] = [],
  ): Promise<string | undefined> {
    const c = this.challenges.get(endpoint.host);
    if (c === undefined) return undefined;
    const creds = this.credentials ? lookupAny(this.credentials, endpoint.credentialKeys) : undefined;
    if (c.scheme === 'basic') return creds ? basic(creds.username, creds.password) : undefined;
    const scopes = [...(repository === undefined ? [] : [`repository:${repository}:${actions}`]), ...extra];
    const key = `${endpoint.host}|${c.params.realm}|${c.params.service ?? ''}|${scopes.join(' ')}`;
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached.expiresAt - EXPIRY_MARGIN_MS > Date.now()) return cached.header;
    let p = this.pending.get(key);
    if (p === undefined) {
      p = this.fetchToken(ctx, endpoint, repository, c, scopes, creds).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    const token = await p;
    this.tokens.set(key, token);
    return token.header;
  }

  /**
   * Learns from a 401's WWW-Authenticate. Returns true when a retry may succeed
   * (a Bearer challenge: a fresh token; a Basic one: credentials not yet sent);
   * false when there is nothing new to try. Callers retry at most once per request.
   */
  learn(endpoint: Endpoint, wwwAuthenticate: string | string[] | undefined, sentAuthorization: boolean): boolean {
    const all = parseChallenges(wwwAuthenticate);
    const c = all.find((x) => x.scheme === 'bearer' && x.params.realm) ?? all.find((x) => x.scheme === 'basic');
    if (c === undefined) return false;
    const prev = this.challenges.get(endpoint.host);
    this.challenges.set(endpoint.host, c);
    if (c.scheme === 'basic') {
      const creds = this.credentials ? lookupAny(this.credentials, endpoint.credentialKeys) : undefined;
      return creds !== undefined && !sentAuthorization;
    }
    // a bearer challenge after a token was sent: that token is stale or revoked, get a fresh one
    if (sentAuthorization && prev !== undefined) {
      for (const k of [...this.tokens.keys()]) if (k.startsWith(`${endpoint.host}|`)) this.tokens.delete(k);
    }
    return true;
  }

  private async fetchToken(
    ctx: Context,
    endpoint: Endpoint,
    repository: string | undefined,
    c: Challenge,
    scopes: readonly string[],
    creds: { username: string; password: string } | undefined,
  ): Promise<CachedToken> {
    const who =
      repository === undefined
        ? `registry ${endpoint.domain}`
        : `registry ${endpoint.domain}: repository ${repository}`;
    const subject = `${who}: token`;
    let realm: URL;
    try {
      realm = new URL(c.params.realm!);
    } catch (err) {
      throw unauthenticated(`${subject}: bad realm ${JSON.stringify(c.params.realm)}`, { cause: err });
    }
    if (
      realm.protocol !== 'https:' &&
      !(realm.protocol === 'http:' && (isLoopback(realm.host) || endpoint.baseURL.startsWith('http:')))
    ) {
      throw unauthenticated(`${subject}: refusing token realm ${realm.href} (plain HTTP outside loopback)`);
    }
    if (c.params.service) realm.searchParams.set('service', c.params.service);
    for (const scope of scopes) realm.searchParams.append('scope', scope);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (creds) headers.Authorization = basic(creds.username, creds.password);
    this.tokenRequests++;
    let res;
    try {
      res = await send({ method: 'GET', url: realm.href, headers, signal: ctx.signal });
    } catch (err) {
      throw wrap(err, subject, 'UNAVAILABLE');
    }
    const body = await readBody(res, 1 << 20, subject);
    if (res.status === 401 || res.status === 403) {
      throw unauthenticated(`${who}: authentication failed (token server answered ${res.status})`);
    }
    if (isTransientStatus(res.status))
      throw new TransientError(`${subject}: HTTP ${res.status}`, parseRetryAfter(res.headers['retry-after']));
    if (res.status !== 200) throw unauthenticated(`${subject}: token server answered HTTP ${res.status}`);
    let doc: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      doc = JSON.parse(body.toString('utf8')) as typeof doc;
    } catch (err) {
      throw unauthenticated(`${subject}: token response is not JSON`, { cause: err });
    }
    const token = doc.token ?? doc.access_token;
    if (typeof token !== 'string' || token === '') throw unauthenticated(`${subject}: token response has no token`);
    const lifetime =
      typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : DEFAULT_TOKEN_LIFETIME_S;
    const issued =
      doc.issued_at !== undefined && !Number.isNaN(Date.parse(doc.issued_at))
        ? Math.min(Date.parse(doc.issued_at), Date.now())
        : Date.now();
    return { header: `Bearer ${token}`, expiresAt: issued + lifetime * 1000 };
  }
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
