// --userns-remap's ranges from subuid/subgid files (written to a temporary folder) and the spec it makes.
import { chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { needs, root } from '../../testkit/needs.js';
import { ROOTFS_IDMAP_ANNOTATION } from '../execdriver/native-config.js';
import type { Spec } from '../execdriver/spec/types.js';
import {
  checkIdmappedBinds,
  parseRemapFlag,
  refuseIdmappedBinds,
  remapSpec,
  resolveRemap,
  shiftOwners,
  type SubidFiles,
} from './userns-remap.js';

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

  it('idmaps only the binds asked for, and refuses one whose filesystem cannot be idmapped, naming it', () => {
    const spec = (): Spec => ({
      ociVersion: '1.0.2',
      root: { path: '/r' },
      mounts: [
        { destination: '/proc', type: 'proc', source: 'proc' },
        { destination: '/h', type: 'bind', source: '/srv/h', options: ['rbind', 'ro'] },
        { destination: '/i', type: 'bind', source: '/srv/i', options: ['rbind', 'rprivate', 'ridmap'] },
        { destination: '/sys-k', type: 'bind', source: '/sys/kernel', options: ['rbind'] },
      ],
    });
    const probed: string[] = [];
    const s = spec();
    checkIdmappedBinds(s, (source) => (probed.push(source), true));
    expect(probed).toEqual(['/srv/i']); // plain binds are not even probed: they stay plain, as Docker's
    expect(s).toEqual(spec());
    expect(() => checkIdmappedBinds(spec(), () => false, ' (off)')).toThrow(
      'bind /srv/i:/i: idmap asked for, but its filesystem cannot be idmapped here (off)',
    );
    // without a user namespace an idmapped bind is refused; plain ones pass
    expect(() => refuseIdmappedBinds(spec())).toThrow(/bind \/srv\/i:\/i: idmap needs a user namespace/);
    const plain = spec();
    plain.mounts!.splice(2, 1);
    expect(() => refuseIdmappedBinds(plain)).not.toThrow();
  });

  needs(root()).it(
    "shifts a tree's owners into the ranges, symlinks' own included, an owner beyond them left",
    async () => {
      const remap = {
        user: 'a',
        group: 'a',
        uid: { hostID: 300_000, size: 1000 },
        gid: { hostID: 400_000, size: 1000 },
      };
      const tree = join(dir, 'tree');
      mkdirSync(join(tree, 'sub'), { recursive: true });
      writeFileSync(join(tree, 'sub', 'f'), 'x');
      chownSync(join(tree, 'sub', 'f'), 5, 6);
      symlinkSync('/nowhere', join(tree, 'link'));
      writeFileSync(join(tree, 'far'), 'x');
      chownSync(join(tree, 'far'), 5000, 6);
      await shiftOwners(tree, remap);
      const owner = (p: string) => {
        const st = lstatSync(join(tree, p));
        return [st.uid, st.gid];
      };
      expect([owner(''), owner('sub'), owner('sub/f'), owner('link'), owner('far')]).toEqual([
        [300_000, 400_000],
        [300_000, 400_000],
        [300_005, 400_006],
        [300_000, 400_000],
        [5000, 6],
      ]);
    },
  );
});
