// hostMountRoot / mountsStackedOn: what a container without a mount namespace of its
// own records before its init runs, so that delete removes exactly its rootfs bind.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostMountRoot, mountsStackedOn, releaseHostMountRoot } from './host-mount-root.js';
import { defaultSpec } from './spec/defaults.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), `berth-host-mount-root-${process.pid}-`));
  mkdirSync(join(dir, 'rootfs'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MOUNTINFO = [
  '26 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
  '52 26 254:0 /b/rootfs /b/rootfs rw,relatime - ext4 /dev/vda rw',
  '53 52 0:47 / /b/rootfs/proc rw - proc proc rw',
  '60 52 254:0 /b/rootfs /b/rootfs rw,relatime - ext4 /dev/vda rw',
  '61 26 254:0 /x /with\\040space rw - ext4 /dev/vda rw',
  '',
].join('\n');

describe('mountsStackedOn', () => {
  it('counts the mounts whose mount point is the path, not those under it', () => {
    expect(mountsStackedOn(MOUNTINFO, '/b/rootfs')).toBe(2);
    expect(mountsStackedOn(MOUNTINFO, '/b/rootfs/proc')).toBe(1);
    expect(mountsStackedOn(MOUNTINFO, '/b')).toBe(0);
    expect(mountsStackedOn(MOUNTINFO, '/with space')).toBe(1);
  });
});

describe('hostMountRoot', () => {
  it('is undefined for a spec with a mount namespace, new or joined', () => {
    const s = defaultSpec({ args: ['/bin/true'], rootfs: 'rootfs' });
    expect(hostMountRoot(s, dir)).toBeUndefined();
    s.linux!.namespaces = s.linux!.namespaces!.map((n) =>
      n.type === 'mount' ? { type: 'mount', path: '/proc/1/ns/mnt' } : n,
    );
    expect(hostMountRoot(s, dir)).toBeUndefined();
  });

  it('records the real rootfs path and the mounts already on it for a spec without one', () => {
    const s = defaultSpec({ args: ['/bin/true'], rootfs: 'rootfs' });
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount');
    const root = hostMountRoot(s, dir);
    expect(root).toEqual({ path: join(dir, 'rootfs'), below: 0 });
    // nothing stacked beyond the baseline: nothing to unmount
    expect(() => releaseHostMountRoot('container t', root!)).not.toThrow();
  });
});
