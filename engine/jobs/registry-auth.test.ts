// What the auth, pull and push jobs make of a login's server address and of
// X-Registry-Auth: the registry it names, and credentials offered to that registry only.
import { describe, expect, it } from 'vitest';
import { endpointFor } from '../registry/client/endpoint.js';
import { credentialsOf, registryDomain } from './image-jobs.js';

describe('registry auth', () => {
  it.each([
    [undefined, 'docker.io'],
    ['', 'docker.io'],
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['127.0.0.1:5000', '127.0.0.1:5000'],
    ['http://Reg.Example:8443/v2/', 'reg.example:8443'],
    ['[::1]:5000', '[::1]:5000'],
  ])('server address %s names registry %s', (address, domain) => {
    expect(registryDomain(address)).toBe(domain);
  });

  it.each(['a b', 'user@host', 'host:port', '-bad.example'])('server address %s is refused naming it', (address) => {
    expect(() => registryDomain(address)).toThrow(JSON.stringify(address));
  });

  it('credentials go to the registry their server address names, Hub under any of its names', () => {
    const creds = { username: 'u', password: 'p' };
    const local = credentialsOf({ ...creds, serveraddress: '127.0.0.1:5000' });
    expect(local('127.0.0.1:5000')).toEqual(creds);
    expect(local('127.0.0.1:5001')).toBeUndefined();
    const hub = credentialsOf({ ...creds, serveraddress: 'https://index.docker.io/v1/' });
    expect(endpointFor('docker.io').credentialKeys.some((k) => hub(k) !== undefined)).toBe(true);
    expect(hub('reg.example')).toBeUndefined();
    expect(credentialsOf({ ...creds })('anything.example')).toEqual(creds);
    expect(credentialsOf({ username: 'u' })('127.0.0.1:5000')).toBeUndefined();
  });
});
