// The container's /etc/hosts, /etc/hostname and /etc/resolv.conf, written into a
// directory the execdriver bind-mounts from. resolv.conf follows the host's, minus
// loopback name servers (unreachable from a container's own namespace).
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { wrap, invalidArgument } from '../errdefs/errors.js';

export interface EtcContent {
  hostname: string;
  /** The container's own address (bridge modes); without it the hostname maps to 127.0.1.1. */
  address?: string;
  /** Name servers; default: the host's non-loopback ones. */
  dns?: string[];
  /** Use the host's files as they are (host mode). */
  hostFiles?: boolean;
}

const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export function validateHostname(hostname: string): void {
  if (hostname.length > 253 || !HOSTNAME.test(hostname)) throw invalidArgument(`hostname ${JSON.stringify(hostname)}: not a valid host name`);
}

async function readOr(path: string, fallback: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return fallback;
  }
}

/** resolv.conf text for a container: the host's search/options, non-loopback name servers (or dns). */
export async function resolvConf(dns?: string[]): Promise<string> {
  const host = await readOr('/etc/resolv.conf', '');
  const lines = host.split('\n').filter((l) => /^\s*(search|domain|options)\s/.test(l));
  const servers = dns ?? host.split('\n').flatMap((l) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    return m !== null && !/^(127\.|::1$)/.test(m[1]!) ? [m[1]!] : [];
  });
  return [...servers.map((s) => `nameserver ${s}`), ...lines].join('\n') + '\n';
}

export function hostsFile(hostname: string, address?: string): string {
  const short = hostname.split('.')[0]!;
  const names = short === hostname ? hostname : `${hostname} ${short}`;
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    `${address ?? '127.0.1.1'}\t${names}`,
    '',
  ].join('\n');
}

/**
 * Writes hosts, hostname and resolv.conf into dir (created if missing), each
 * atomically. Idempotent: rewriting replaces the files. Fails naming the file.
 */
export async function writeEtcFiles(dir: string, content: EtcContent): Promise<void> {
  validateHostname(content.hostname);
  const files: [string, string][] = content.hostFiles
    ? [
        ['hosts', await readOr('/etc/hosts', hostsFile(content.hostname))],
        ['hostname', `${content.hostname}\n`],
        ['resolv.conf', await readOr('/etc/resolv.conf', '')],
      ]
    : [
        ['hosts', hostsFile(content.hostname, content.address)],
        ['hostname', `${content.hostname}\n`],
        ['resolv.conf', await resolvConf(content.dns)],
      ];
  await mkdir(dir, { recursive: true }).catch((err: unknown) => {
    throw wrap(err, `etc dir ${dir}`);
  });
  for (const [name, text] of files) {
    const path = join(dir, name);
    const tmp = join(dir, `.${name}.${randomBytes(4).toString('hex')}`);
    try {
      await writeFile(tmp, text, { mode: 0o644 });
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw wrap(err, `etc file ${path}`);
    }
  }
}
