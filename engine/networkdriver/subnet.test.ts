// Subnet parsing and arithmetic: the overlap check and IPAM depend on them.
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { broadcastOf, contains, formatIPv4, overlaps, parseIPv4, parseSubnet } from './subnet.js';

describe('subnet', () => {
  it('parses and formats addresses', () => {
    expect(parseIPv4('10.1.2.3')).toBe(0x0a010203);
    expect(formatIPv4(0xc0a80001)).toBe('192.168.0.1');
    expect(parseIPv4('256.1.1.1')).toBeUndefined();
    expect(parseIPv4('1.2.3')).toBeUndefined();
  });

  it.each(['10.0.0.0', '10.0.0.1/24', '10.0.0.0/33', 'x/8', '10.0.0.0/31'])('rejects %s naming it', (text) => {
    try {
      parseSubnet(text);
      expect.unreachable();
    } catch (err) {
      expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
      expect((err as Error).message).toContain(text);
    }
  });

  it('computes membership, broadcast and overlap', () => {
    const a = parseSubnet('10.88.0.0/16');
    expect(a.cidr).toBe('10.88.0.0/16');
    expect(contains(a, parseIPv4('10.88.255.1')!)).toBe(true);
    expect(contains(a, parseIPv4('10.89.0.1')!)).toBe(false);
    expect(formatIPv4(broadcastOf(a))).toBe('10.88.255.255');
    expect(overlaps(a, parseSubnet('10.88.3.0/24'))).toBe(true);
    expect(overlaps(parseSubnet('10.0.0.0/8'), a)).toBe(true);
    expect(overlaps(a, parseSubnet('10.89.0.0/16'))).toBe(false);
  });
});
