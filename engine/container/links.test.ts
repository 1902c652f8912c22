// Docker's legacy link rules as tables: parsing `name:alias`, the stored form,
// the hosts names and the environment of Link.ToEnv (default port, port ranges,
// NAME, ENV_ without HOME and PATH).
import { describe, expect, it } from 'vitest';
import { linkEnv, linkHostNames, parseLink, storedLink } from './links.js';

describe('legacy links', () => {
  it.each([
    ['db', { target: 'db', alias: 'db' }],
    ['db:data', { target: 'db', alias: 'data' }],
    ['/db:/web/data', { target: 'db', alias: 'data' }],
  ])('parses %s', (entry, spec) => {
    expect(parseLink(entry)).toEqual(spec);
  });

  it.each(['', ':x', 'a:b:c', 'd$:x', 'db:-x'])('refuses %j', (entry) => {
    expect(() => parseLink(entry)).toThrow(/Links/);
  });

  it('writes the stored form and the hosts names as Docker does', () => {
    expect(storedLink('db', 'web', 'data')).toBe('/db:/web/data');
    const child = { name: 'db', hostname: 'c0ffee', ip: '10.0.0.2', ports: [], env: [] };
    expect(linkHostNames('data', child)).toEqual(['data', 'c0ffee', 'db']);
    expect(linkHostNames('db', child)).toEqual(['db', 'c0ffee']);
  });

  it('sets the environment of Link.ToEnv', () => {
    const env = linkEnv('web', 'my-db', {
      name: 'db',
      hostname: 'c0ffee',
      ip: '10.0.0.2',
      ports: ['8081/tcp', '8080/tcp', '53/udp', '53/tcp'],
      env: ['PATH=/bin', 'HOME=/root', 'PASS=a=b'],
    });
    expect(env).toEqual([
      'MY_DB_PORT=tcp://10.0.0.2:53',
      'MY_DB_PORT_53_TCP=tcp://10.0.0.2:53',
      'MY_DB_PORT_53_TCP_ADDR=10.0.0.2',
      'MY_DB_PORT_53_TCP_PORT=53',
      'MY_DB_PORT_53_TCP_PROTO=tcp',
      'MY_DB_PORT_53_UDP=udp://10.0.0.2:53',
      'MY_DB_PORT_53_UDP_ADDR=10.0.0.2',
      'MY_DB_PORT_53_UDP_PORT=53',
      'MY_DB_PORT_53_UDP_PROTO=udp',
      'MY_DB_PORT_8080_TCP_START=tcp://10.0.0.2:8080',
      'MY_DB_PORT_8080_TCP_ADDR=10.0.0.2',
      'MY_DB_PORT_8080_TCP_PROTO=tcp',
      'MY_DB_PORT_8080_TCP_PORT_START=8080',
      'MY_DB_PORT_8080_TCP_END=tcp://10.0.0.2:8081',
      'MY_DB_PORT_8080_TCP_PORT_END=8081',
      'MY_DB_PORT_8080_TCP=tcp://10.0.0.2:8080',
      'MY_DB_PORT_8080_TCP_ADDR=10.0.0.2',
      'MY_DB_PORT_8080_TCP_PORT=8080',
      'MY_DB_PORT_8080_TCP_PROTO=tcp',
      'MY_DB_PORT_8081_TCP=tcp://10.0.0.2:8081',
      'MY_DB_PORT_8081_TCP_ADDR=10.0.0.2',
      'MY_DB_PORT_8081_TCP_PORT=8081',
      'MY_DB_PORT_8081_TCP_PROTO=tcp',
      'MY_DB_NAME=/web/my-db',
      'MY_DB_ENV_PASS=a=b',
    ]);
  });
});
