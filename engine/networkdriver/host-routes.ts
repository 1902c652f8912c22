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
