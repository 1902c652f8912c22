// `-p [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]` as Docker's CLI writes it,
// parsed into a PortSpec. Published ports bind 127.0.0.1 unless an address is given.
import { invalidArgument } from '../errdefs/errors.js';
import { parseIPv4 } from './subnet.js';

export type PortProto = 'tcp' | 'udp';

export interface PortSpec {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  proto: PortProto;
}

export const DEFAULT_HOST_IP = '127.0.0.1';

function port(text: string, spec: string, what: string): number {
  if (!/^\d{1,5}$/.test(text)) throw invalidArgument(`port spec ${JSON.stringify(spec)}: ${what} ${JSON.stringify(text)} is not a port number`);
  const n = Number(text);
  if (n < 1 || n > 65535) throw invalidArgument(`port spec ${JSON.stringify(spec)}: ${what} ${n} out of range 1-65535`);
  return n;
}

/** Parses one -p value. INVALID_ARGUMENT naming the spec for anything malformed. */
export function parsePortSpec(spec: string): PortSpec {
  let rest = spec.trim();
  let proto: PortProto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp') throw invalidArgument(`port spec ${JSON.stringify(spec)}: protocol ${JSON.stringify(p)} is not tcp or udp`);
    proto = p;
    rest = rest.slice(0, slash);
  }
  const parts = rest.split(':');
  let hostIp = DEFAULT_HOST_IP;
  if (parts.length === 3) {
    hostIp = parts.shift()!;
    if (parseIPv4(hostIp) === undefined) throw invalidArgument(`port spec ${JSON.stringify(spec)}: host address ${JSON.stringify(hostIp)} is not an IPv4 address`);
  } else if (parts.length !== 2) {
    throw invalidArgument(`port spec ${JSON.stringify(spec)}: expected [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]`);
  }
  return { hostIp, hostPort: port(parts[0]!, spec, 'host port'), containerPort: port(parts[1]!, spec, 'container port'), proto };
}

/** `127.0.0.1:8080:80/tcp`: the canonical text of a spec (also its key). */
export function formatPortSpec(p: PortSpec): string {
  return `${p.hostIp}:${p.hostPort}:${p.containerPort}/${p.proto}`;
}

/** Two specs collide when they claim the same host port and protocol on overlapping addresses. */
export function portsCollide(a: PortSpec, b: PortSpec): boolean {
  return a.proto === b.proto && a.hostPort === b.hostPort && (a.hostIp === b.hostIp || a.hostIp === '0.0.0.0' || b.hostIp === '0.0.0.0');
}
