// Platform names, parsing and the choice of a manifest from an index.
import { describe, expect, it } from 'vitest';
import { choosePlatform, formatPlatform, hostPlatform, parsePlatform, platformMatches } from './platform.js';

describe('platform', () => {
  it('maps the host to GOARCH names', () => {
    const p = hostPlatform();
    expect(p.os).toBe('linux');
    const expected: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386', arm: 'arm' };
    if (expected[process.arch]) expect(p.architecture).toBe(expected[process.arch]);
    expect(p.architecture).not.toBe('x64');
  });

  it.each([
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['linux/x86_64', { os: 'linux', architecture: 'amd64' }],
    ['Linux/ARM64/V8', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
  ])('parses %s', (text, want) => {
    expect(parsePlatform(text)).toEqual(want);
  });

  it.each(['linux', 'linux/amd64/v1/x', '', 'linux//amd64', 'linux/am d64'])('rejects %j naming it', (text) => {
    expect(() => parsePlatform(text)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining(JSON.stringify(text)) }),
    );
  });

  it('matches variants: arm64 defaults to v8, a missing wanted variant matches any', () => {
    expect(
      platformMatches({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    ).toBe(true);
    expect(
      platformMatches(
        { os: 'linux', architecture: 'arm', variant: 'v6' },
        { os: 'linux', architecture: 'arm', variant: 'v7' },
      ),
    ).toBe(false);
    expect(
      platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm' }),
    ).toBe(true);
    expect(platformMatches({ os: 'windows', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64' })).toBe(
      false,
    );
  });

  it('chooses the first matching entry and lists the offered platforms when none matches', () => {
    const entries = [
      { mediaType: 'm', digest: 'sha256:a', size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { mediaType: 'm', digest: 'sha256:b', size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: 'm', digest: 'sha256:c', size: 1 },
    ];
    expect(choosePlatform(entries, { os: 'linux', architecture: 'amd64' }, 'manifest x').digest).toBe('sha256:b');
    expect(() => choosePlatform(entries, { os: 'linux', architecture: 'riscv64' }, 'manifest x')).toThrow(
      expect.objectContaining({
        code: 'NOT_FOUND',
        message: 'manifest x: no manifest for platform linux/riscv64 (available: linux/arm/v7, linux/amd64)',
      }),
    );
    expect(formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' })).toBe('linux/arm/v7');
  });
});
