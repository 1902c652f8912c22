// The container's /etc/hosts, /etc/hostname and /etc/resolv.conf, written into a
// directory the execdriver bind-mounts from, the way Docker's libnetwork writes
// them: resolv.conf follows the host's, minus loopback name servers (unreachable
// from a container's own namespace; Google's public ones when none is left), with
// the container's Dns, DnsSearch and DnsOptions replacing the host's lines of each
// kind; hosts has the localhost lines, the ExtraHosts, the legacy links, then the
// container's own address with its name. With the host's network both start from the host's files.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { invalidArgument } from '../errdefs/errors.js';
import { background } from '../trace/index.js';
import { runSteps, type NetlinkInPlaceFile } from './netlink-ops.js';

/**
 * What a container asks for in its resolv.conf and hosts (HostConfig Dns, DnsSearch, DnsOptions, ExtraHosts; Config
 * Domainname).
 */
export interface EtcRequest {
  domainname?: string;
  /** Name servers (replace the host's). */
  dns?: string[];
  /** Search domains (replace the host's); `.` alone means none. */
  dnsSearch?: string[];
  /** resolv.conf options (replace the host's). */
  dnsOptions?: string[];
  /** `name:ip` entries; the ip `host-gateway` is the default bridge's gateway. */
  extraHosts?: string[];
  /** Legacy links: one hosts line each, the linked container's address and its names. */
  links?: { ip: string; names: string[] }[];
}

export interface EtcContent extends EtcRequest {
  hostname: string;
  /** The container's own address (bridge modes); without it the hostname maps to 127.0.1.1. */
  address?: string;
  /** Use the host's files as the base (host mode): no loopback filtering, the host's hosts. */
  hostFiles?: boolean;
  /** What `host-gateway` in extraHosts stands for. */
  hostGateway?: string;
}

/** The name servers Docker falls back to when the host has none a container can reach. */
export const FALLBACK_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];
export const HOST_GATEWAY = 'host-gateway';

const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export function validateHostname(hostname: string): void {
  if (hostname.length > 253 || !HOSTNAME.test(hostname))
    throw invalidArgument(`hostname ${JSON.stringify(hostname)}: not a valid host name`);
}

/** `name:ip` (or `name=ip`) → its parts. INVALID_ARGUMENT naming the entry; the ip may be `host-gateway`. */
export function parseExtraHost(entry: string): { name: string; ip: string } {
  const m = /^([^:=\s]+)[:=](\S+)$/.exec(entry);
  const ip = m?.[2]?.replace(/^\[(.*)\]$/, '$1');
  if (m === null || ip === undefined) throw invalidArgument(`ExtraHosts ${JSON.stringify(entry)}: expected host:ip`);
  const name = m[1]!;
  if (name.length > 253 || !HOSTNAME.test(name))
    throw invalidArgument(`ExtraHosts ${JSON.stringify(entry)}: ${JSON.stringify(name)} is not a valid host name`);
  if (ip !== HOST_GATEWAY && isIP(ip) === 0)
    throw invalidArgument(
      `ExtraHosts ${JSON.stringify(entry)}: ${JSON.stringify(ip)} is not an IP address nor host-gateway`,
    );
  return { name, ip };
}

/** Checks a container's DNS and hosts request; INVALID_ARGUMENT naming the field and the bad value. */
export function validateEtcRequest(req: EtcRequest): void {
  if (
    req.domainname !== undefined &&
    req.domainname !== '' &&
    (req.domainname.length > 253 || !HOSTNAME.test(req.domainname))
  ) {
    throw invalidArgument(`Domainname ${JSON.stringify(req.domainname)}: not a valid domain name`);
  }
  for (const s of req.dns ?? [])
    if (isIP(s) === 0) throw invalidArgument(`Dns ${JSON.stringify(s)}: not an IP address`);
  for (const s of req.dnsSearch ?? []) {
    if (s !== '.' && (s.length > 253 || !HOSTNAME.test(s.replace(/\.$/, ''))))
      throw invalidArgument(`DnsSearch ${JSON.stringify(s)}: not a valid domain name`);
  }
  for (const o of req.dnsOptions ?? [])
    if (!/^[a-zA-Z0-9_.:-]+$/.test(o))
      throw invalidArgument(`DnsOptions ${JSON.stringify(o)}: not a resolv.conf option`);
  for (const h of req.extraHosts ?? []) parseExtraHost(h);
  for (const l of req.links ?? []) {
    if (isIP(l.ip) === 0) throw invalidArgument(`link ${l.names.join(' ')}: ${JSON.stringify(l.ip)} is not an address`);
    // container names and aliases: Docker's name characters (underscores allowed)
    for (const n of l.names)
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(n)) throw invalidArgument(`link name ${JSON.stringify(n)}: not valid`);
  }
}

/**
 * A small host file read synchronously (page-cached, one short syscall; an async readFile is four threadpool round
 * trips).
 */
function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

const LOOPBACK = /^(127\.|::1$|0:0:0:0:0:0:0:1$)/;

/**
 * resolv.conf text for a container from the host's text: its nameserver, search and
 * options lines, each kind replaced by the request's when given. Loopback name
 * servers are dropped unless keepLoopback (the host's network), and when none is
 * left the fallback servers are used, as Docker does for bridge networks.
 */
export function resolvConfFrom(host: string, req: EtcRequest = {}, keepLoopback = false): string {
  const lines = host.split('\n');
  const of = (kind: string) =>
    lines.flatMap((l) => {
      const m = new RegExp(`^\\s*${kind}\\s+(.*\\S)\\s*$`).exec(l);
      return m === null ? [] : [m[1]!];
    });
  let servers = req.dns !== undefined && req.dns.length > 0 ? req.dns : of('nameserver').map((v) => v.split(/\s+/)[0]!);
  if (!keepLoopback) {
    servers = servers.filter((s) => !LOOPBACK.test(s));
    if (servers.length === 0) servers = FALLBACK_NAMESERVERS;
  }
  const search =
    req.dnsSearch !== undefined && req.dnsSearch.length > 0
      ? req.dnsSearch.filter((s) => s !== '.').join(' ')
      : (of('search').at(-1) ?? of('domain').at(-1) ?? '');
  const options =
    req.dnsOptions !== undefined && req.dnsOptions.length > 0 ? req.dnsOptions.join(' ') : of('options').join(' ');
  return (
    [
      ...servers.map((s) => `nameserver ${s}`),
      ...(search !== '' ? [`search ${search}`] : []),
      ...(options !== '' ? [`options ${options}`] : []),
    ].join('\n') + '\n'
  );
}

/** resolv.conf text for a container from this host's /etc/resolv.conf (see resolvConfFrom). */
export async function resolvConf(req: EtcRequest = {}, keepLoopback = false): Promise<string> {
  return resolvConfFrom(readOr('/etc/resolv.conf', ''), req, keepLoopback);
}

/** The ExtraHosts as hosts lines, `host-gateway` replaced by hostGateway. */
function extraHostLines(extra: readonly string[], hostGateway: string | undefined): string[] {
  return extra.map((e) => {
    const { name, ip } = parseExtraHost(e);
    if (ip === HOST_GATEWAY && hostGateway === undefined)
      throw invalidArgument(`ExtraHosts ${JSON.stringify(e)}: no host gateway address is known`);
    return `${ip === HOST_GATEWAY ? hostGateway! : ip}\t${name}`;
  });
}

/** The container's own hosts line: `address\thostname[.domain] hostname`. */
function ownLine(hostname: string, domainname: string | undefined, address: string | undefined): string {
  const full = domainname ? `${hostname}.${domainname}` : hostname;
  const short = hostname.split('.')[0]!;
  const names = short === full ? full : `${full} ${short}`;
  return `${address ?? '127.0.1.1'}\t${names}`;
}

export function hostsFile(
  hostname: string,
  address?: string,
  extra: {
    domainname?: string;
    extraHosts?: readonly string[];
    hostGateway?: string;
    links?: readonly { ip: string; names: string[] }[];
  } = {},
): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    ...extraHostLines(extra.extraHosts ?? [], extra.hostGateway),
    ...(extra.links ?? []).map((l) => `${l.ip}\t${l.names.join(' ')}`),
    ownLine(hostname, extra.domainname, address),
    '',
  ].join('\n');
}

/** The host's hosts file with the ExtraHosts appended (the host's network). */
function hostHostsFile(content: EtcContent): string {
  const base = readOr('/etc/hosts', hostsFile(content.hostname));
  const extra = extraHostLines(content.extraHosts ?? [], content.hostGateway);
  return extra.length === 0 ? base : `${base.replace(/\n?$/, '\n')}${extra.join('\n')}\n`;
}

/** The subject a failed etc file write names (`etc file /…/hosts: open: EACCES`). */
export const ETC_FILES_SUBJECT = 'etc file';
/** The step an etc file write is reported as. */
export const ETC_FILES_STEP = 'etc.write';

/**
 * hosts, hostname and resolv.conf of a container as files of dir to rewrite in place
 * (netlinkApply's files). Validates the request first: INVALID_ARGUMENT naming the field.
 * Synchronous: the host's files it reads are page-cached.
 */
export function etcFiles(dir: string, content: EtcContent): NetlinkInPlaceFile[] {
  validateHostname(content.hostname);
  validateEtcRequest(content);
  const files: [string, string][] = content.hostFiles
    ? [
        ['hosts', hostHostsFile(content)],
        ['hostname', `${content.hostname}\n`],
        [
          'resolv.conf',
          content.dns?.length || content.dnsSearch?.length || content.dnsOptions?.length
            ? resolvConfFrom(readOr('/etc/resolv.conf', ''), content, true)
            : readOr('/etc/resolv.conf', ''),
        ],
      ]
    : [
        ['hosts', hostsFile(content.hostname, content.address, content)],
        ['hostname', `${content.hostname}\n`],
        ['resolv.conf', resolvConfFrom(readOr('/etc/resolv.conf', ''), content)],
      ];
  return files.map(([name, text]) => ({ path: resolvePath(dir, name), data: text, mode: 0o644 }));
}

/**
 * Writes hosts, hostname and resolv.conf into dir (created if missing), each rewritten
 * in its own inode (created if missing), as Docker does: a bind mount of one holds its
 * inode, and the engine has made the (empty) files before, so no inode is made. Not
 * fsynced nor atomic: they are derived data that allocateInterface rewrites before the
 * container runs, so nobody reads them meanwhile, and a crash mid-write leaves files the
 * next allocation rewrites. Idempotent. Fails naming the file. The networkdriver passes
 * etcFiles() to the netlink call of a set-up instead (written while its child works);
 * this is the same write alone. Cost: one job on the addon's netlink threads (not
 * libuv's threadpool, where a busy engine's file jobs would make it wait), three
 * open/write/close.
 */
export async function writeEtcFiles(dir: string, content: EtcContent): Promise<void> {
  const list = etcFiles(dir, content);
  await runSteps(background(), [], undefined, { step: ETC_FILES_STEP, subject: ETC_FILES_SUBJECT, list });
}
