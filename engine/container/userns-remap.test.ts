// --userns-remap's ranges from subuid/subgid files (written to a temporary folder) and the spec it makes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOTFS_IDMAP_ANNOTATION } from '../execdriver/native-config.js';
import type { Spec } from '../execdriver/spec/types.js';
import { parseRemapFlag, remapSpec, resolveRemap, type SubidFiles } from './userns-remap.js';

let dir: string;
let files: SubidFiles;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-remap-'));
  files = {
    subuid: join(dir, 'subuid'),
    subgid: join(dir, 'subgid'),
    passwd: join(dir, 'passwd'),
    group: join(dir, 'group'),
  };
  writeFileSync(files.passwd, 'root:x:0:0::/root:/bin/sh\nalice:x:1500:1600::/home/alice:/bin/sh\n');
  writeFileSync(files.group, 'root:x:0:\nstaff:x:1600:\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('userns remap', () => {
  it('parses the flag as dockerd does', () => {
    expect(parseRemapFlag('default')).toEqual({ user: 'berthremap', group: 'berthremap' });
    expect(parseRemapFlag('alice')).toEqual({ user: 'alice', group: 'alice' });
    expect(parseRemapFlag('1500:staff')).toEqual({ user: '1500', group: 'staff' });
    expect(() => parseRemapFlag('a:b:c')).toThrow(/expected default/);
  });

  it('takes the first range of the user by name or by id, and of the group', () => {
    writeFileSync(files.subuid, '# comment\nbob:300000:65536\n1500:100000:65536\nalice:500000:65536\n');
    writeFileSync(files.subgid, 'staff:200000:1000\nstaff:900000:65536\n');
    expect(resolveRemap('alice:staff', files)).toEqual({
      user: 'alice',
      group: 'staff',
      uid: { hostID: 100000, size: 65536 },
      gid: { hostID: 200000, size: 1000 },
    });
    expect(resolveRemap('1500:1600', files).uid.hostID).toBe(100000);
  });

  it.each([
    [
      'nobody:100000:65536\n',
      'default',
      /no subordinate uid range for berthremap in .*subuid \(berthd does not create/,
    ],
    ['alice:0:65536\n', 'alice', /line 1: a range starting at 0 maps host root/],
    ['alice:x:65536\n', 'alice', /line 1: malformed range/],
  ])('refuses %j for %s with a clear error', (subuid, flag, message) => {
    writeFileSync(files.subuid, subuid);
    writeFileSync(files.subgid, 'berthremap:100000:65536\nalice:100000:65536\n');
    expect(() => resolveRemap(flag, files)).toThrow(message);
  });

  it('names a missing file', () => {
    expect(() => resolveRemap('alice', files)).toThrow(`--userns-remap: ${files.subuid}: ENOENT`);
  });

  it('puts the spec in a new user namespace with the ranges', () => {
    const spec: Spec = { ociVersion: '1.0.2', root: { path: '/r' }, linux: { namespaces: [{ type: 'network' }] } };
    const remap = { user: 'a', group: 'a', uid: { hostID: 100000, size: 65536 }, gid: { hostID: 200000, size: 10 } };
    remapSpec(spec, remap, true, 'container c');
    expect(spec.linux!.namespaces).toEqual([{ type: 'network' }, { type: 'user' }]);
    expect(spec.linux!.uidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
    expect(spec.linux!.gidMappings).toEqual([{ containerID: 0, hostID: 200000, size: 10 }]);
    expect(spec.annotations).toEqual({ [ROOTFS_IDMAP_ANNOTATION]: 'true' });
    const joined: Spec = {
      ociVersion: '1.0.2',
      root: { path: '/r' },
      linux: { namespaces: [{ type: 'network', path: '/p' }] },
    };
    expect(() => remapSpec(joined, remap, false, 'container c')).toThrow(/container c: joining another container's/);
    const host: Spec = { ociVersion: '1.0.2', root: { path: '/r' }, linux: { namespaces: [{ type: 'pid' }] } };
    expect(() => remapSpec(host, remap, false, 'container c')).toThrow(/host's network namespace/);
  });
});
