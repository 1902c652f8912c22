// Listen addresses: the formats accepted and the loopback-only default.
import { describe, expect, it } from 'vitest';
import { parseListenAddress } from './listen-address.js';

describe('parseListenAddress', () => {
  it.each([
    ['127.0.0.1:5000', { host: '127.0.0.1', port: 5000 }],
    ['127.1.2.3:0', { host: '127.1.2.3', port: 0 }],
    ['[::1]:5000', { host: '::1', port: 5000 }],
    ['localhost:80', { host: 'localhost', port: 80 }],
    [':5000', { host: '127.0.0.1', port: 5000 }],
  ])('%s → %j', (addr, expected) => {
    expect(parseListenAddress(addr)).toEqual(expected);
  });

  it.each([['0.0.0.0:5000'], ['[::]:5000'], ['192.0.2.7:5000']])('%s is refused unless allowed', (addr) => {
    expect(() => parseListenAddress(addr)).toThrow(/not a loopback address/);
    expect(parseListenAddress(addr, true).port).toBe(5000);
  });

  it.each([['127.0.0.1'], ['127.0.0.1:99999'], ['example.com:5000'], ['[::1]']])('%s is malformed', (addr) => {
    expect(() => parseListenAddress(addr)).toThrow(/^listen address /);
  });
});
