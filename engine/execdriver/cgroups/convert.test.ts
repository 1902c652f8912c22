// Unit checks of the v1↔v2 conversions and the mountinfo parser.
import { describe, expect, it } from 'vitest';
import { allowDeviceNodes, deviceLine, sharesToWeight, swapMaxV2 } from './convert.js';
import { parseLayout } from './detect.js';
import { normalizeCgroupPath } from './manager.js';

describe('sharesToWeight', () => {
  it.each([
    [0, 0],
    [2, 1],
    [1024, 39],
    [262144, 10000],
  ])('%i shares → weight %i', (shares, weight) => expect(sharesToWeight(shares)).toBe(weight));
});

describe('swapMaxV2', () => {
  it.each([
    [64, 128, '64'],
    [64, 64, '0'],
    [64, -1, 'max'],
    [undefined, 128, 'max'],
    [-1, 128, 'max'],
  ] as [number | undefined, number, string][])('limit %s swap %s → %s', (limit, swap, out) =>
    expect(swapMaxV2(limit, swap)).toBe(out),
  );
});

describe('deviceLine', () => {
  it.each([
    [{ allow: false, access: 'rwm' }, 'a *:* rwm'],
    [{ allow: true, type: 'c' as const, major: 1, minor: 3, access: 'rw' }, 'c 1:3 rw'],
    [{ allow: true, type: 'c' as const, major: 136 }, 'c 136:* rwm'],
    [{ allow: true, type: 'b' as const, major: 8, minor: -1, access: 'r' }, 'b 8:* r'],
  ])('%o → %s', (rule, line) => expect(deviceLine(rule)).toBe(line));
});

describe('normalizeCgroupPath', () => {
  it('strips slashes', () => expect(normalizeCgroupPath('/berth//abc/')).toBe('berth/abc'));
  it.each(['', '/', 'berth/../x', './a'])('rejects %j', (p) =>
    expect(() => normalizeCgroupPath(p)).toThrow(/^cgroup /),
  );
});

const hybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`;

describe('parseLayout', () => {
  it('finds a hybrid layout with co-mounted controllers', () => {
    const l = parseLayout(hybrid);
    expect(l.mode).toBe('hybrid');
    expect(l.unified).toBe('/sys/fs/cgroup/unified');
    expect(l.v1.get('cpu')).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(l.v1.get('cpuacct')).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(l.v1.get('memory')).toBe('/sys/fs/cgroup/memory');
    expect(l.v1.has('name=systemd')).toBe(false);
    expect(l.v1.has('xattr')).toBe(false);
  });
  it('finds pure v1', () => {
    const l = parseLayout(
      hybrid
        .split('\n')
        .filter((x) => !x.includes('cgroup2'))
        .join('\n'),
    );
    expect(l.mode).toBe('v1');
    expect(l.unified).toBeUndefined();
  });
  it('finds pure v2', () => {
    const l = parseLayout(
      '30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n',
    );
    expect(l).toEqual({ mode: 'v2', v1: new Map(), unified: '/sys/fs/cgroup' });
  });
});

describe('allowDeviceNodes', () => {
  const fuse = { path: '/dev/fuse', type: 'c' as const, major: 10, minor: 229 };
  it('appends an rwm allow rule per char/block node after the spec rules, not for FIFOs', () => {
    const r = allowDeviceNodes({ devices: [{ allow: false, access: 'rwm' }] }, [
      fuse,
      { path: '/dev/sda', type: 'b', major: 8, minor: 0 },
      { path: '/dev/p', type: 'p' },
    ]);
    expect(r?.devices?.map(deviceLine)).toEqual(['a *:* rwm', 'c 10:229 rwm', 'b 8:0 rwm']);
  });
  it('leaves resources without device rules alone (nothing is restricted then)', () => {
    expect(allowDeviceNodes({ pids: { limit: 5 } }, [fuse])).toEqual({ pids: { limit: 5 } });
    expect(allowDeviceNodes(undefined, [fuse])).toBeUndefined();
  });
});
