// Table-driven checks of the reference grammar and Docker's normalisation rules.
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { familiarString, normalizeName, parseReference, referenceString } from './reference.js';

const D = 'sha256:' + 'ab'.repeat(32);

describe('parseReference / normalizeName', () => {
  const valid: [input: string, normalized: string, familiar: string][] = [
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox:x', 'docker.io/library/busybox:x', 'busybox:x'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['user/app', 'docker.io/user/app:latest', 'user/app:latest'],
    ['user/app/sub:v1', 'docker.io/user/app/sub:v1', 'user/app/sub:v1'],
    ['docker.io/library/a/b', 'docker.io/library/a/b:latest', 'library/a/b:latest'],
    ['localhost/x', 'localhost/x:latest', 'localhost/x:latest'],
    ['localhost:5000/x/y:tag', 'localhost:5000/x/y:tag', 'localhost:5000/x/y:tag'],
    ['registry.example.com/team/app', 'registry.example.com/team/app:latest', 'registry.example.com/team/app:latest'],
    [
      'example.com:8080/a_b/c__d/e-f/g--h/i.j',
      'example.com:8080/a_b/c__d/e-f/g--h/i.j:latest',
      'example.com:8080/a_b/c__d/e-f/g--h/i.j:latest',
    ],
    ['Example.COM/x', 'Example.COM/x:latest', 'Example.COM/x:latest'],
    ['UPPERHOST/x', 'UPPERHOST/x:latest', 'UPPERHOST/x:latest'],
    ['[::1]:5000/x', '[::1]:5000/x:latest', '[::1]:5000/x:latest'],
    ['127.0.0.1:5000/x:t', '127.0.0.1:5000/x:t', '127.0.0.1:5000/x:t'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`, `busybox@${D}`],
    [`busybox:1@${D}`, `docker.io/library/busybox:1@${D}`, `busybox:1@${D}`],
    [`localhost:5000/x@${D}`, `localhost:5000/x@${D}`, `localhost:5000/x@${D}`],
    ['localhost:5000', 'docker.io/library/localhost:5000', 'localhost:5000'],
    ['a:_tag', 'docker.io/library/a:_tag', 'a:_tag'],
    ['a:' + 'x'.repeat(128), 'docker.io/library/a:' + 'x'.repeat(128), 'a:' + 'x'.repeat(128)],
    ['a:T.1-2', 'docker.io/library/a:T.1-2', 'a:T.1-2'],
  ];
  it.each(valid)('%s → %s', (input, normalized, familiar) => {
    expect(normalizeName(input)).toBe(normalized);
    expect(familiarString(normalizeName(input))).toBe(familiar);
    // normalising is idempotent
    expect(normalizeName(normalized)).toBe(normalized);
  });

  it('splits domain, path, tag and digest', () => {
    expect(parseReference(`localhost:5000/x/y:tag@${D}`)).toEqual({
      domain: 'localhost:5000',
      path: 'x/y',
      tag: 'tag',
      digest: D,
    });
    expect(parseReference('busybox')).toEqual({
      domain: 'docker.io',
      path: 'library/busybox',
      tag: undefined,
      digest: undefined,
    });
    expect(referenceString(parseReference('busybox'))).toBe('docker.io/library/busybox');
  });

  const invalid: [input: string, reason: RegExp][] = [
    ['', /at least one component/],
    ['Busybox', /must be lowercase/],
    ['docker.io/Library/busybox', /must be lowercase/],
    ['localhost:5000/X', /must be lowercase/],
    ['ab'.repeat(32), /64-byte hexadecimal/],
    ['a:', /invalid reference format/],
    ['a:-tag', /invalid reference format/],
    ['a:.tag', /invalid reference format/],
    ['a:' + 'x'.repeat(129), /invalid reference format/],
    ['a:t:t', /invalid reference format/],
    ['-a', /invalid reference format/],
    ['a-', /invalid reference format/],
    ['a..b', /invalid reference format/],
    ['a___b', /invalid reference format/],
    ['a//b', /at least one component/],
    ['/a', /invalid reference format|at least one component/],
    ['a/', /at least one component/],
    ['a b', /invalid reference format/],
    ['-host.com/x', /bad domain/],
    ['host-.com/x', /bad domain/],
    ['host.com:port/x', /bad domain/],
    ['a@sha256:abc', /invalid reference format/],
    ['a@md5:' + 'a'.repeat(32), /unsupported algorithm/],
    ['a@sha256:' + 'A'.repeat(64), /lowercase hex/],
    ['x.com/' + 'a'.repeat(250), /more than 255 characters/],
  ];
  it.each(invalid)('%j is invalid (%s)', (input, reason) => {
    let err: unknown;
    try {
      parseReference(input);
    } catch (e) {
      err = e;
    }
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toMatch(reason);
    expect((err as Error).message.startsWith(`reference ${JSON.stringify(input)}`)).toBe(true);
  });
});
