// Docker's legacy container links (`--link name:alias`, HostConfig.Links) on the
// default bridge: what a link gives the container that makes it — the linked
// container's address under the alias, its hostname and its name in /etc/hosts,
// and the environment Docker's daemon/links sets (ALIAS_PORT, ALIAS_PORT_80_TCP,
// …_ADDR, …_PORT, …_PROTO, port ranges as _START/_END, ALIAS_NAME, ALIAS_ENV_*).
import { invalidArgument } from '../errdefs/errors.js';

export interface LinkSpec {
  /** The linked container's name (without `/`) or id as the request gave it. */
  target: string;
  alias: string;
}

const ALIAS = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * `name:alias`, `name` (the alias is the name) or the stored form `/name:/parent/alias`.
 * INVALID_ARGUMENT naming the entry.
 */
export function parseLink(entry: string): LinkSpec {
  if (typeof entry !== 'string') throw invalidArgument(`Links: ${JSON.stringify(entry)}: expected name:alias`);
  const parts = entry.split(':');
  if (parts.length > 2 || parts[0] === '') throw invalidArgument(`Links ${JSON.stringify(entry)}: expected name:alias`);
  const target = parts[0]!.replace(/^\//, '');
  const alias = (parts[1] ?? target).split('/').at(-1)!;
  if (!ALIAS.test(target) || !ALIAS.test(alias))
    throw invalidArgument(`Links ${JSON.stringify(entry)}: invalid container name or alias`);
  return { target, alias };
}

/** A link as Docker stores and shows it in HostConfig.Links: `/db:/web/db`. */
export function storedLink(targetName: string, parentName: string, alias: string): string {
  return `/${targetName}:/${parentName}/${alias}`;
}

export interface LinkedContainer {
  name: string;
  hostname: string;
  ip: string;
  /** Its exposed ports: `80/tcp`. */
  ports: string[];
  env: readonly string[];
}

/** The /etc/hosts names of a link: the alias, the linked container's hostname, and its name when not the alias. */
export function linkHostNames(alias: string, child: LinkedContainer): string[] {
  return [alias, child.hostname, ...(alias !== child.name ? [child.name] : [])];
}

/** The environment a link adds (Docker's Link.ToEnv); the container's own Env wins over it. */
export function linkEnv(parentName: string, alias: string, child: LinkedContainer): string[] {
  const prefix = alias.toUpperCase().replaceAll('-', '_');
  const ports = child.ports
    .map((p) => {
      const [num, proto = 'tcp'] = p.split('/');
      return { port: Number(num), proto: proto.toLowerCase() };
    })
    .filter((p) => Number.isInteger(p.port) && p.port > 0)
    // lowest first, tcp before others at the same number (Docker's withTCPPriority)
    .sort((a, b) => a.port - b.port || (a.proto === 'tcp' ? -1 : b.proto === 'tcp' ? 1 : a.proto < b.proto ? -1 : 1));
  const env: string[] = [];
  const ip = child.ip;
  if (ports.length > 0) env.push(`${prefix}_PORT=${ports[0]!.proto}://${ip}:${ports[0]!.port}`);
  for (let i = 0; i < ports.length;) {
    const p = ports[i]!;
    let j = i + 1;
    while (j < ports.length && ports[j]!.proto === p.proto && ports[j]!.port === ports[j - 1]!.port + 1) j++;
    const key = (n: number, proto: string) => `${prefix}_PORT_${n}_${proto.toUpperCase()}`;
    if (j > i + 1) {
      const q = ports[j - 1]!;
      const k = key(p.port, p.proto);
      env.push(
        `${k}_START=${p.proto}://${ip}:${p.port}`,
        `${k}_ADDR=${ip}`,
        `${k}_PROTO=${p.proto}`,
        `${k}_PORT_START=${p.port}`,
        `${k}_END=${q.proto}://${ip}:${q.port}`,
        `${k}_PORT_END=${q.port}`,
      );
    }
    for (const pp of ports.slice(i, j)) {
      const k = key(pp.port, pp.proto);
      env.push(
        `${k}=${pp.proto}://${ip}:${pp.port}`,
        `${k}_ADDR=${ip}`,
        `${k}_PORT=${pp.port}`,
        `${k}_PROTO=${pp.proto}`,
      );
    }
    i = j;
  }
  env.push(`${prefix}_NAME=/${parentName}/${alias}`);
  for (const e of child.env) {
    const eq = e.indexOf('=');
    if (eq <= 0) continue;
    const name = e.slice(0, eq);
    if (name === 'HOME' || name === 'PATH') continue;
    env.push(`${prefix}_ENV_${name}=${e.slice(eq + 1)}`);
  }
  return env;
}
