// The host's IPv4 routes (from /proc/net/route), so a new bridge subnet that
// would shadow or be shadowed by an existing route is refused before it is used.
import { readFile } from 'node:fs/promises';
import { wrap } from '../errdefs/errors.js';
import { formatIPv4, type Subnet } from './subnet.js';

export interface HostRoute {
  iface: string;
  subnet: Subnet;
}

/** Routes of the main table that are not the default route. Cost: one small file read. */
export async function hostRoutes(): Promise<HostRoute[]> {
  let text: string;
  try {
    text = await readFile('/proc/net/route', 'utf8');
  } catch (err) {
    throw wrap(err, 'host routes /proc/net/route');
  }
  const routes: HostRoute[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const dest = swap(parseInt(f[1]!, 16));
    const mask = swap(parseInt(f[7]!, 16));
    const prefix = 32 - bitsZero(mask);
    if (prefix === 0) continue;
    routes.push({ iface: f[0]!, subnet: { base: dest, prefix, cidr: `${formatIPv4(dest)}/${prefix}` } });
  }
  return routes;
}

/** /proc/net/route prints addresses in host (little-endian) byte order. */
function swap(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

function bitsZero(mask: number): number {
  let n = 0;
  for (let m = mask >>> 0; n < 32 && (m & 1) === 0; m >>>= 1) n++;
  return n;
}

/** Fallback when the host has no default route: Ethernet's MTU. */
export const ETHERNET_MTU = 1500;

/**
 * The MTU of the host's way out: its default route's own MTU metric when set,
 * else its interface's MTU; ETHERNET_MTU without a default route. With several
 * default routes the one of lowest metric wins. Cost: two small file reads.
 */
export async function uplinkMtu(): Promise<number> {
  let text: string;
  try {
    text = await readFile('/proc/net/route', 'utf8');
  } catch (err) {
    throw wrap(err, 'host routes /proc/net/route');
  }
  const best = defaultRoute(text);
  if (best === undefined) return ETHERNET_MTU;
  if (best.mtu > 0) return best.mtu;
  try {
    const mtu = Number((await readFile(`/sys/class/net/${best.iface}/mtu`, 'utf8')).trim());
    return Number.isInteger(mtu) && mtu >= 68 ? mtu : ETHERNET_MTU;
  } catch {
    return ETHERNET_MTU;
  }
}

/** The default route of lowest metric in /proc/net/route text: its interface and MTU metric (0: none). Pure. */
export function defaultRoute(text: string): { iface: string; metric: number; mtu: number } | undefined {
  let best: { iface: string; metric: number; mtu: number } | undefined;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 9 || parseInt(f[1]!, 16) !== 0 || parseInt(f[7]!, 16) !== 0) continue;
    const metric = Number(f[6]);
    if (best === undefined || metric < best.metric) best = { iface: f[0]!, metric, mtu: Number(f[8]) };
  }
  return best;
}
