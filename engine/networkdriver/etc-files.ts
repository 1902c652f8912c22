// The container's /etc/hosts, /etc/hostname and /etc/resolv.conf, written into a
// directory the execdriver bind-mounts from. resolv.conf follows the host's, minus
// loopback name servers (unreachable from a container's own namespace).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { wrap, invalidArgument } from '../errdefs/errors.js';
import { writeFilesAtomic } from '../fsutil/atomic-write.js';

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

/** A small host file read synchronously (page-cached, one short syscall; an async readFile is four threadpool round trips). */
function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/** resolv.conf text for a container: the host's search/options, non-loopback name servers (or dns). */
export async function resolvConf(dns?: string[]): Promise<string> {
  const host = readOr('/etc/resolv.conf', '');
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
        ['hosts', readOr('/etc/hosts', hostsFile(content.hostname))],
        ['hostname', `${content.hostname}\n`],
        ['resolv.conf', readOr('/etc/resolv.conf', '')],
      ]
    : [
        ['hosts', hostsFile(content.hostname, content.address)],
        ['hostname', `${content.hostname}\n`],
        ['resolv.conf', await resolvConf(content.dns)],
      ];
  // One threadpool job for the three (each atomic, not fsynced: they are derived
  // data that allocateInterface rewrites); the directory is made if missing.
  try {
    await writeFilesAtomic(
      files.map(([name, text]) => ({ path: join(dir, name), data: text, mode: 0o644 })),
      { makeDirs: true },
    );
  } catch (err) {
    const path = (err as NodeJS.ErrnoException).path;
    throw wrap(err, path !== undefined ? `etc file ${path}` : `etc dir ${dir}`);
  }
}
