// The client's registry credentials: a config.json in Docker's format
// (`{"auths": {"host:port": {"auth": base64("user:password")}}}`) that `berth login` writes and
// `berth logout` edits, and the `X-Registry-Auth` header pull, push and run send from it.
//
// The folder is `$BERTH_CONFIG`, else `$DOCKER_CONFIG` (so berth and docker can share one
// file), else `~/.berth`. A write replaces the file atomically (mode 0600; a folder it has to
// make is 0700) and keeps every other key of the file as it was. Docker Hub's entry is keyed
// `https://index.docker.io/v1/`, as docker keys it. Credential helpers (`credsStore`,
// `credHelpers`) are kept in the file but not run.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { invalidArgument, wrap } from '../errdefs/errors.js';

/** The key docker stores Docker Hub's credentials under. */
export const HUB_SERVER = 'https://index.docker.io/v1/';

const HUB_NAMES = new Set(['', 'docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** What `POST /auth` and `X-Registry-Auth` carry (Docker's AuthConfig). */
export interface AuthConfig {
  username: string;
  password: string;
  serveraddress: string;
}

/** The folder of config.json: BERTH_CONFIG, else DOCKER_CONFIG, else ~/.berth (HOME from `env` first). */
export function configDir(env: NodeJS.ProcessEnv): string {
  if (env.BERTH_CONFIG) return env.BERTH_CONFIG;
  if (env.DOCKER_CONFIG) return env.DOCKER_CONFIG;
  return join(env.HOME || homedir(), '.berth');
}

export function configPath(env: NodeJS.ProcessEnv): string {
  return join(configDir(env), 'config.json');
}

/**
 * The key a registry's credentials are stored under: `host[:port]` in lower case, without scheme and path; Docker
 * Hub's names (and no name) are HUB_SERVER. Pure.
 */
export function serverKey(server: string | undefined): string {
  const host = (server ?? '')
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  return HUB_NAMES.has(host) ? HUB_SERVER : host;
}

/** The registry key of an image reference: its first component when it names a host (`.`, `:`, localhost). Pure. */
export function registryOfReference(reference: string): string {
  const slash = reference.indexOf('/');
  if (slash < 0) return HUB_SERVER;
  const first = reference.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? serverKey(first) : HUB_SERVER;
}

type ConfigDoc = Record<string, unknown> & { auths?: Record<string, Record<string, unknown>> };

/**
 * Reads config.json at `path`: `{}` when the file does not exist. Fails INVALID_ARGUMENT naming the file when it is
 * not a JSON object or its `auths` is not an object.
 */
export async function readConfig(path: string): Promise<ConfigDoc> {
  let text: string;
  try {
    // loaded when used: most commands read no credentials (README "Start-up of the commands")
    const { readFile } = await import('node:fs/promises');
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw wrap(err, `registry credentials ${path}`);
  }
  if (text.trim() === '') return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`registry credentials ${path}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw invalidArgument(`registry credentials ${path}: expected a JSON object`);
  const auths = (doc as ConfigDoc).auths;
  if (auths !== undefined && (auths === null || typeof auths !== 'object' || Array.isArray(auths)))
    throw invalidArgument(`registry credentials ${path}: "auths" must be an object`);
  return doc as ConfigDoc;
}

/** The key of `doc.auths` that holds `server`'s entry (exact, else the first whose host matches). */
function entryKey(doc: ConfigDoc, server: string): string | undefined {
  const auths = doc.auths ?? {};
  if (Object.hasOwn(auths, server)) return server;
  return Object.keys(auths).find((k) => serverKey(k) === server);
}

/**
 * The stored credentials of registry `server` (a serverKey), or undefined. Fails INVALID_ARGUMENT naming the file
 * and the entry when its `auth` is not base64 of `user:password`.
 */
function lookupAuth(doc: ConfigDoc, server: string, path: string): AuthConfig | undefined {
  const key = entryKey(doc, server);
  if (key === undefined) return undefined;
  const entry = doc.auths![key];
  if (entry === null || typeof entry !== 'object') return undefined;
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0)
      throw invalidArgument(`registry credentials ${path}: auths.${key}.auth is not base64 of user:password`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serveraddress: server };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string')
    return { username: entry.username, password: entry.password, serveraddress: server };
  return undefined;
}

async function writeConfig(path: string, dir: string, doc: ConfigDoc): Promise<void> {
  const [{ mkdir }, { writeFileAtomic }] = await Promise.all([
    import('node:fs/promises'),
    import('../fsutil/atomic-write.js'),
  ]);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(doc, null, '\t')}\n`, {
    mode: 0o600,
    sync: true,
    syncDir: true,
    subject: `registry credentials ${path}`,
  });
}

/**
 * Stores `auth` under its serveraddress in the config of `env`, replacing that registry's entry (any other key
 * of the file is kept). Atomic: the file is the old or the new one, never a part.
 */
export async function storeAuth(env: NodeJS.ProcessEnv, auth: AuthConfig): Promise<string> {
  const path = configPath(env);
  const doc = await readConfig(path);
  const auths = { ...(doc.auths ?? {}) };
  const old = entryKey(doc, auth.serveraddress);
  if (old !== undefined) delete auths[old];
  auths[auth.serveraddress] = { auth: Buffer.from(`${auth.username}:${auth.password}`).toString('base64') };
  await writeConfig(path, configDir(env), { ...doc, auths });
  return path;
}

/** Removes registry `server`'s entry; false (and nothing written) when there was none. */
export async function removeAuth(env: NodeJS.ProcessEnv, server: string): Promise<boolean> {
  const path = configPath(env);
  const doc = await readConfig(path);
  const key = entryKey(doc, server);
  if (key === undefined) return false;
  const auths = { ...doc.auths };
  delete auths[key];
  await writeConfig(path, configDir(env), { ...doc, auths });
  return true;
}

/**
 * The `X-Registry-Auth` value for pulling or pushing `reference`: base64url JSON of the stored credentials of its
 * registry, or of `{}` when none are stored. A config file that cannot be read or is malformed does not stop a pull or
 * push (a public image needs no credentials, and docker goes on too): `warn` gets a line naming the file and the
 * problem, and no credentials are sent.
 */
export async function registryAuthFor(
  env: NodeJS.ProcessEnv,
  reference: string,
  warn: (message: string) => void,
): Promise<string> {
  const path = configPath(env);
  let auth: AuthConfig | undefined;
  try {
    auth = lookupAuth(await readConfig(path), registryOfReference(reference), path);
  } catch (err) {
    warn(`WARNING: ${(err as Error).message}; going on without registry credentials`);
  }
  return encodeRegistryAuth(JSON.stringify(auth ?? {}));
}

/**
 * `json` as an X-Registry-Auth value: URL-safe base64 with its `=` padding, as the docker CLI writes it (podman's
 * service refuses the value without the padding; berthd and dockerd read both).
 */
export function encodeRegistryAuth(json: string): string {
  return Buffer.from(json).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}
