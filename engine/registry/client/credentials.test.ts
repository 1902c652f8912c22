// Docker config.json parsing and the registry endpoints credentials are looked up for.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDockerConfig, lookupAny, parseDockerConfig } from './credentials.js';
import { endpointFor, isLoopback } from './endpoint.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('credentials', () => {
  it('reads auth (base64 user:pass) and username/password entries, keyed by host', () => {
    const source = parseDockerConfig(
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: b64('hub:pw:with:colons') },
          'localhost:5000': { username: 'u', password: 'p' },
          'ghcr.io': { identitytoken: 'x' },
        },
      }),
    );
    expect(lookupAny(source, endpointFor('docker.io').credentialKeys)).toEqual({
      username: 'hub',
      password: 'pw:with:colons',
    });
    expect(source('localhost:5000')).toEqual({ username: 'u', password: 'p' });
    expect(source('http://localhost:5000')).toEqual({ username: 'u', password: 'p' });
    expect(source('ghcr.io')).toBeUndefined();
  });

  it('fails INVALID_ARGUMENT naming the file for bad JSON or a bad auth field', () => {
    expect(() => parseDockerConfig('{', 'docker config /x')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('docker config /x') }),
    );
    expect(() => parseDockerConfig(JSON.stringify({ auths: { h: { auth: b64('nocolon') } } }))).toThrow(
      /auths\.h\.auth/,
    );
  });

  it('loads a file; a missing file knows nobody', async () => {
    const dir = await mkdtemp(join(tmpdir(), `berth-creds-${process.pid}-`));
    try {
      await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { 'r.example:443': { auth: b64('a:b') } } }));
      expect((await loadDockerConfig(join(dir, 'config.json')))('r.example:443')).toEqual({
        username: 'a',
        password: 'b',
      });
      expect((await loadDockerConfig(join(dir, 'missing.json')))('r.example:443')).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('endpoint', () => {
  it('maps docker.io to registry-1.docker.io over HTTPS', () => {
    expect(endpointFor('docker.io')).toMatchObject({
      host: 'registry-1.docker.io',
      baseURL: 'https://registry-1.docker.io',
    });
  });

  it('uses plain HTTP only for loopback or insecure registries', () => {
    expect(endpointFor('localhost:5000').baseURL).toBe('http://localhost:5000');
    expect(endpointFor('127.0.0.5:80').baseURL).toBe('http://127.0.0.5:80');
    expect(endpointFor('[::1]:5000').baseURL).toBe('http://[::1]:5000');
    expect(endpointFor('registry.example:5000').baseURL).toBe('https://registry.example:5000');
    expect(endpointFor('10.0.0.1:5000').baseURL).toBe('https://10.0.0.1:5000');
    expect(endpointFor('registry.example:5000', ['registry.example:5000']).baseURL).toBe(
      'http://registry.example:5000',
    );
    expect(isLoopback('128.0.0.1')).toBe(false);
    expect(isLoopback('localhost')).toBe(true);
  });
});
