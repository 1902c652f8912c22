// `-p [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]` as Docker's CLI writes it,
// parsed into a PortSpec; a request may leave the host port to the driver (0: one
// from the ephemeral range) or give a range of them (`8000-8002`: the first free).
// Published ports bind 127.0.0.1 unless an address is given.
import { readFileSync } from 'node:fs';
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
  if (!/^\d{1,5}$/.test(text))
    throw invalidArgument(`port spec ${JSON.stringify(spec)}: ${what} ${JSON.stringify(text)} is not a port number`);
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
    if (p !== 'tcp' && p !== 'udp')
      throw invalidArgument(`port spec ${JSON.stringify(spec)}: protocol ${JSON.stringify(p)} is not tcp or udp`);
    proto = p;
    rest = rest.slice(0, slash);
  }
  const parts = rest.split(':');
  let hostIp = DEFAULT_HOST_IP;
  if (parts.length === 3) {
    hostIp = parts.shift()!;
    if (parseIPv4(hostIp) === undefined)
      throw invalidArgument(
        `port spec ${JSON.stringify(spec)}: host address ${JSON.stringify(hostIp)} is not an IPv4 address`,
      );
  } else if (parts.length !== 2) {
    throw invalidArgument(`port spec ${JSON.stringify(spec)}: expected [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]`);
  }
  return {
    hostIp,
    hostPort: port(parts[0]!, spec, 'host port'),
    containerPort: port(parts[1]!, spec, 'container port'),
    proto,
  };
}

/** `127.0.0.1:8080:80/tcp`: the canonical text of a spec (also its key). */
export function formatPortSpec(p: PortSpec): string {
  return `${p.hostIp}:${p.hostPort}:${p.containerPort}/${p.proto}`;
}

/** Two specs collide when they claim the same host port and protocol on overlapping addresses. */
export function portsCollide(a: PortSpec, b: PortSpec): boolean {
  return (
    a.proto === b.proto &&
    a.hostPort === b.hostPort &&
    (a.hostIp === b.hostIp || a.hostIp === '0.0.0.0' || b.hostIp === '0.0.0.0')
  );
}

/** A publish request: the host port is one of hostPorts (inclusive), picked by the driver when more than one. */
export interface PortRequest extends Omit<PortSpec, 'hostPort'> {
  hostPorts: [number, number];
  /** True when the host port was left to the driver (0 or empty): the ephemeral range. */
  ephemeral: boolean;
}

/** The host's ephemeral port range (ip_local_port_range), Docker's 49153–60999 when unreadable. */
export function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined && lo >= 1 && hi <= 65535 && lo <= hi) return [lo, hi];
  } catch {
    // not Linux or no procfs
  }
  return [49153, 60999];
}

/**
 * Parses `[HOSTIP:]HOSTPORTS:CONTAINERPORT[/proto]` where HOSTPORTS is a port, a
 * range `LOW-HIGH`, or 0 for any ephemeral port. INVALID_ARGUMENT naming the spec.
 */
export function parsePortRequest(spec: string): PortRequest {
  try {
    return portRequest(spec);
  } catch (err) {
    // the parts are checked as a rewritten spec: the message names the one given
    throw invalidArgument(
      `port spec ${JSON.stringify(spec)}: ${(err as Error).message.replace(/^port spec "[^"]*": /, '')}`,
    );
  }
}

function portRequest(spec: string): PortRequest {
  const m = /^(?:(.*):)?(\d+)-(\d+):(\d+(?:\/\w+)?)$/.exec(spec.trim());
  if (m !== null) {
    const base = parsePortSpec(`${m[1] !== undefined ? `${m[1]}:` : ''}${m[2]}:${m[4]}`);
    const hi = port(m[3]!, spec, 'host port');
    if (hi < base.hostPort)
      throw invalidArgument(`port spec ${JSON.stringify(spec)}: host port range ${m[2]}-${m[3]} is empty`);
    const { hostPort, ...rest } = base;
    return { ...rest, hostPorts: [hostPort, hi], ephemeral: false };
  }
  const zero = /^(?:(.*):)?0+:(\d+(?:\/\w+)?)$/.exec(spec.trim());
  if (zero !== null) {
    const { hostPort: _unused, ...rest } = parsePortSpec(`${zero[1] !== undefined ? `${zero[1]}:` : ''}1:${zero[2]}`);
    return { ...rest, hostPorts: ephemeralRange(), ephemeral: true };
  }
  const { hostPort, ...rest } = parsePortSpec(spec);
  return { ...rest, hostPorts: [hostPort, hostPort], ephemeral: false };
}
