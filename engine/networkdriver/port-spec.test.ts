// -p parsing: the accepted forms and the errors that name the bad spec.
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { ephemeralRange, formatPortSpec, parsePortRequest, parsePortSpec, portsCollide } from './port-spec.js';

describe('parsePortSpec', () => {
  it.each([
    ['8080:80', { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, proto: 'tcp' }],
    ['0.0.0.0:53:53/udp', { hostIp: '0.0.0.0', hostPort: 53, containerPort: 53, proto: 'udp' }],
    ['127.0.0.1:9000:9001/TCP', { hostIp: '127.0.0.1', hostPort: 9000, containerPort: 9001, proto: 'tcp' }],
  ])('%s', (spec, want) => {
    expect(parsePortSpec(spec)).toEqual(want);
  });

  it.each(['80', '8080:80/sctp', 'a:80', '0:80', '70000:80', '1.2.3:80:80', '1:2:3:4', '80:'])(
    'rejects %s with INVALID_ARGUMENT naming it',
    (spec) => {
      try {
        parsePortSpec(spec);
        expect.unreachable();
      } catch (err) {
        expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
        expect((err as Error).message).toContain(JSON.stringify(spec));
      }
    },
  );

  it('formats canonically and detects collisions', () => {
    expect(formatPortSpec(parsePortSpec('8080:80'))).toBe('127.0.0.1:8080:80/tcp');
    expect(portsCollide(parsePortSpec('0.0.0.0:8080:80'), parsePortSpec('8080:81'))).toBe(true);
    expect(portsCollide(parsePortSpec('8080:80/udp'), parsePortSpec('8080:80'))).toBe(false);
  });
});

describe('parsePortRequest', () => {
  it('takes a single port, a host port range, and 0 for the ephemeral range', () => {
    expect(parsePortRequest('127.0.0.1:8080:80')).toEqual({
      hostIp: '127.0.0.1',
      hostPorts: [8080, 8080],
      containerPort: 80,
      proto: 'tcp',
      ephemeral: false,
    });
    expect(parsePortRequest('127.0.0.1:8000-8002:80/udp')).toEqual({
      hostIp: '127.0.0.1',
      hostPorts: [8000, 8002],
      containerPort: 80,
      proto: 'udp',
      ephemeral: false,
    });
    expect(parsePortRequest('0:80')).toEqual({
      hostIp: '127.0.0.1',
      hostPorts: ephemeralRange(),
      containerPort: 80,
      proto: 'tcp',
      ephemeral: true,
    });
    const [lo, hi] = ephemeralRange();
    expect(lo).toBeGreaterThan(0);
    expect(hi).toBeGreaterThanOrEqual(lo);
  });

  it.each(['8002-8000:80', '8000-70000:80', '0:0', 'x-1:80'])('rejects %s naming it', (spec) => {
    expect(() => parsePortRequest(spec)).toThrow(JSON.stringify(spec));
  });
});
