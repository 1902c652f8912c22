// IPv4 subnets as numbers: parsing `10.88.0.0/16`, membership, overlap, and the
// address arithmetic IPAM and the host-route check need.
import { invalidArgument } from '../errdefs/errors.js';

export interface Subnet {
  /** Network address as an unsigned 32-bit number. */
  readonly base: number;
  readonly prefix: number;
  /** `10.88.0.0/16`, normalised. */
  readonly cidr: string;
}

/** Parses a dotted IPv4 address to an unsigned number; undefined when it is not one. */
export function parseIPv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (m === null) return undefined;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIPv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `A.B.C.D/N`; host bits must be zero. INVALID_ARGUMENT naming the text otherwise. */
export function parseSubnet(text: string): Subnet {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  const addr = m === null ? undefined : parseIPv4(m[1]!);
  const prefix = m === null ? NaN : Number(m[2]);
  if (addr === undefined || !(prefix >= 0 && prefix <= 32)) {
    throw invalidArgument(`subnet ${JSON.stringify(text)}: expected an IPv4 CIDR such as 10.88.0.0/16`);
  }
  if ((addr & ~maskOf(prefix)) >>> 0 !== 0) {
    throw invalidArgument(
      `subnet ${text}: host bits set (did you mean ${formatIPv4((addr & maskOf(prefix)) >>> 0)}/${prefix}?)`,
    );
  }
  if (prefix > 30) throw invalidArgument(`subnet ${text}: too small for a gateway and one container (at most /30)`);
  return { base: addr, prefix, cidr: `${formatIPv4(addr)}/${prefix}` };
}

export function contains(subnet: Subnet, address: number): boolean {
  return (address & maskOf(subnet.prefix)) >>> 0 === subnet.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  const mask = maskOf(prefix);
  return (a.base & mask) >>> 0 === (b.base & mask) >>> 0;
}

/** Number of addresses in the subnet, network and broadcast included. */
export function sizeOf(subnet: Subnet): number {
  return 2 ** (32 - subnet.prefix);
}

/** The broadcast address (the last one). */
export function broadcastOf(subnet: Subnet): number {
  return subnet.base + sizeOf(subnet) - 1;
}
