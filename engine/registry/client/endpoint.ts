// Where a reference's registry is reached: Docker Hub's name maps to its API host,
// and plain HTTP is used only for loopback registries or ones named insecure.
import { isIP } from 'node:net';
import { DEFAULT_DOMAIN } from '../../graph/reference.js';

/** The API host Docker uses for Hub references (`docker.io/library/x`). */
export const DOCKER_HUB_ENDPOINT = 'registry-1.docker.io';

export interface Endpoint {
  /** The registry as references name it (`docker.io`, `localhost:5000`). */
  domain: string;
  /** The host (and port) requests go to. */
  host: string;
  /** `http://host` or `https://host`, without a trailing slash. */
  baseURL: string;
  /** The host the credentials file is searched for (`https://index.docker.io/v1/` for Hub). */
  credentialKeys: string[];
}

/** The host part of `host[:port]` (brackets of an IPv6 literal removed). */
export function hostname(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(1, hostPort.indexOf(']'));
  const colon = hostPort.lastIndexOf(':');
  return colon < 0 ? hostPort : hostPort.slice(0, colon);
}

/** Whether `host[:port]` names the loopback interface (`localhost`, 127.0.0.0/8, ::1). */
export function isLoopback(hostPort: string): boolean {
  const h = hostname(hostPort).toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1';
  return false;
}

/**
 * The endpoint of a registry domain. `insecure` lists domains (host or host:port)
 * reached over plain HTTP besides loopback ones. Pure.
 */
export function endpointFor(domain: string, insecure: readonly string[] = []): Endpoint {
  const host = domain === DEFAULT_DOMAIN ? DOCKER_HUB_ENDPOINT : domain;
  const plain = isLoopback(host) || insecure.includes(domain) || insecure.includes(hostname(domain));
  const credentialKeys =
    domain === DEFAULT_DOMAIN
      ? ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', DOCKER_HUB_ENDPOINT]
      : [domain];
  return { domain, host, baseURL: `${plain ? 'http' : 'https'}://${host}`, credentialKeys };
}
