// Registry credentials from a file in Docker's config.json format:
// `{"auths": {"<host>": {"auth": base64("user:pass")} | {"username", "password"}}}`.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { invalidArgument, wrap } from '../../errdefs/errors.js';

export interface Credentials {
  username: string;
  password: string;
}

/** Looks credentials up by registry host; undefined when none are known. */
export type CredentialSource = (host: string) => Credentials | undefined;

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
}

/**
 * The key a config.json entry is stored under, reduced to `host[:port]` (`https://index.docker.io/v1/` →
 * `index.docker.io`).
 */
function entryHost(key: string): string {
  return key
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
}

/**
 * Parses config.json text into a credential source. Fails INVALID_ARGUMENT naming
 * `subject` for malformed JSON or an `auth` that is not base64 `user:password`.
 * Entries without credentials (identitytoken only, credHelpers) are ignored.
 */
export function parseDockerConfig(text: string, subject = 'docker config'): CredentialSource {
  let doc: { auths?: Record<string, AuthEntry> };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (err) {
    throw invalidArgument(`${subject}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  const table = new Map<string, Credentials>();
  for (const [key, entry] of Object.entries(doc?.auths ?? {})) {
    if (entry === null || typeof entry !== 'object') continue;
    let creds: Credentials | undefined;
    if (typeof entry.auth === 'string' && entry.auth !== '') {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) throw invalidArgument(`${subject}: auths.${key}.auth is not base64 of user:password`);
      creds = { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    } else if (typeof entry.username === 'string' && typeof entry.password === 'string') {
      creds = { username: entry.username, password: entry.password };
    }
    if (creds !== undefined) table.set(entryHost(key), creds);
  }
  return (host) => table.get(entryHost(host));
}

/** The default file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function defaultDockerConfigPath(): string {
  return join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

/**
 * Reads a config.json file. A missing file gives a source that knows nobody; other
 * read errors and bad content fail naming the file.
 */
export async function loadDockerConfig(path: string = defaultDockerConfigPath()): Promise<CredentialSource> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return () => undefined;
    throw wrap(err, `docker config ${path}`);
  }
  return parseDockerConfig(text, `docker config ${path}`);
}

/** A source trying each key in turn (an endpoint's credentialKeys). */
export function lookupAny(source: CredentialSource, keys: readonly string[]): Credentials | undefined {
  for (const k of keys) {
    const c = source(k);
    if (c !== undefined) return c;
  }
  return undefined;
}
