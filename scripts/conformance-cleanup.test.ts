import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { containersUnder, findDirsNamed, isUnder, mountsUnder, treeDeepestFirst } from './conformance-cleanup.js';

describe('what a validation program left, found by its own TMPDIR', () => {
  it('a path is under a directory only at a component boundary', () => {
    expect(isUnder('/tmp/w/a', '/tmp/w')).toBe(true);
    expect(isUnder('/tmp/w', '/tmp/w')).toBe(true);
    expect(isUnder('/tmp/w2/a', '/tmp/w')).toBe(false);
  });

  it('picks the containers whose bundle lies in the directory, not those of a run beside it', () => {
    const listed = [
      { id: 'a', bundle: '/tmp/run1/kill/ocitest1' },
      { id: 'b', bundle: '/tmp/run2/kill/ocitest2' },
      { id: 'c' },
    ];
    expect(containersUnder(listed, '/tmp/run1/kill')).toEqual(['a']);
  });

  it('lists the mounts under the directory deepest first, decoding mountinfo escapes', () => {
    const mountinfo = [
      '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
      '90 22 254:0 /tmp/w/oci1 /tmp/w/oci1 rw - ext4 /dev/vda rw',
      '91 90 0:5 / /tmp/w/oci1/proc rw - proc proc rw',
      '92 90 0:6 / /tmp/w/oci1/dev rw - tmpfs tmpfs rw',
      '93 92 0:7 / /tmp/w/oci1/dev/pts rw - devpts devpts rw',
      '94 22 0:8 / /tmp/w\\040x rw - tmpfs tmpfs rw',
      '95 22 0:9 / /tmp/w2 rw - tmpfs tmpfs rw',
    ].join('\n');
    const found = mountsUnder(mountinfo, '/tmp/w');
    expect(found).toHaveLength(4);
    expect(found.indexOf('/tmp/w/oci1/dev/pts')).toBeLessThan(found.indexOf('/tmp/w/oci1/dev'));
    expect(found.at(-1)).toBe('/tmp/w/oci1');
    expect(mountsUnder(mountinfo, '/tmp/w x')).toEqual(['/tmp/w x']);
  });

  it('finds directories by name within a depth and orders a tree deepest first', () => {
    const root = mkdtempSync(join(tmpdir(), `berth-cleanup-${process.pid}-`));
    try {
      mkdirSync(join(root, 'cgrouptest', 'inner'), { recursive: true });
      mkdirSync(join(root, 'user.slice', 'testdir', 'cgrouptest', 'container'), { recursive: true });
      mkdirSync(join(root, 'a', 'b', 'c', 'd', 'cgrouptest'), { recursive: true });
      expect(findDirsNamed(root, 'cgrouptest', 3).sort()).toEqual([
        join(root, 'cgrouptest'),
        join(root, 'user.slice', 'testdir', 'cgrouptest'),
      ]);
      expect(findDirsNamed(root, 'cgrouptest', 5)).toContain(join(root, 'a', 'b', 'c', 'd', 'cgrouptest'));
      const order = treeDeepestFirst(join(root, 'user.slice'));
      expect(order.at(-1)).toBe(join(root, 'user.slice'));
      expect(order[0]).toBe(join(root, 'user.slice', 'testdir', 'cgrouptest', 'container'));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
