// WWW-Authenticate parsing and what the Authorizer learns from challenges.
import { describe, expect, it } from 'vitest';
import { Authorizer, parseChallenges } from './auth.js';
import { endpointFor } from './endpoint.js';

describe('auth', () => {
  it('parses Bearer and Basic challenges with quoted and bare parameters', () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
      },
    ]);
    expect(parseChallenges(['Basic realm="x \\"y\\""', 'Bearer realm=https://t/,error=invalid_token'])).toEqual([
      { scheme: 'basic', params: { realm: 'x "y"' } },
      { scheme: 'bearer', params: { realm: 'https://t/', error: 'invalid_token' } },
    ]);
    expect(parseChallenges(undefined)).toEqual([]);
  });

  it('sends Basic credentials after a Basic challenge, and only once', async () => {
    const ep = endpointFor('127.0.0.1:5000');
    const a = new Authorizer((h) => (h === '127.0.0.1:5000' ? { username: 'u', password: 'p' } : undefined));
    const ctx = { signal: new AbortController().signal, logger: console as never, span: undefined };
    expect(await a.header(ctx, ep, 'x')).toBeUndefined();
    expect(a.learn(ep, 'Basic realm="r"', false)).toBe(true);
    expect(await a.header(ctx, ep, 'x')).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    expect(a.learn(ep, 'Basic realm="r"', true)).toBe(false);
    const anonymous = new Authorizer(undefined);
    expect(anonymous.learn(ep, 'Basic realm="r"', false)).toBe(false);
  });

  it('refuses a plain-HTTP token realm outside loopback for an HTTPS registry', async () => {
    const ep = endpointFor('registry.example');
    const a = new Authorizer(undefined);
    a.learn(ep, 'Bearer realm="http://auth.example/token"', false);
    const ctx = { signal: new AbortController().signal, logger: console as never, span: undefined };
    await expect(a.header(ctx, ep, 'x')).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      message: expect.stringContaining('http://auth.example/token'),
    });
  });
});
