// The starter spec: runc's shape, Docker's capability set, masked and read-only paths.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, defaultSpec } from './defaults.js';

describe('defaultSpec', () => {
  const spec = defaultSpec();

  it('runs sh as root in / with a read-only rootfs', () => {
    expect(spec.process).toMatchObject({
      args: ['sh'],
      cwd: '/',
      user: { uid: 0, gid: 0 },
      noNewPrivileges: true,
      terminal: false,
    });
    expect(spec.root).toEqual({ path: 'rootfs', readonly: true });
    expect(spec.process?.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]);
  });

  it("grants Docker's 14 default capabilities in bounding, effective and permitted", () => {
    expect(DEFAULT_CAPABILITIES).toHaveLength(14);
    for (const set of ['bounding', 'effective', 'permitted'] as const)
      expect(spec.process?.capabilities?.[set]).toEqual([...DEFAULT_CAPABILITIES]);
    expect(spec.process?.capabilities?.inheritable).toBeUndefined();
    expect(DEFAULT_CAPABILITIES).not.toContain('CAP_SYS_ADMIN');
  });

  it('mounts what runc spec mounts, in order', () => {
    expect(spec.mounts?.map((m) => `${m.type} ${m.destination}`)).toEqual([
      'proc /proc',
      'tmpfs /dev',
      'devpts /dev/pts',
      'tmpfs /dev/shm',
      'mqueue /dev/mqueue',
      'sysfs /sys',
    ]);
    expect(spec.mounts?.find((m) => m.destination === '/sys')?.options).toContain('ro');
  });

  it('masks and protects the kernel interfaces Docker does', () => {
    expect(spec.linux?.maskedPaths).toEqual([...DEFAULT_MASKED_PATHS]);
    expect(spec.linux?.maskedPaths).toContain('/proc/kcore');
    expect(spec.linux?.readonlyPaths).toEqual([
      '/proc/bus',
      '/proc/fs',
      '/proc/irq',
      '/proc/sys',
      '/proc/sysrq-trigger',
    ]);
    expect(DEFAULT_READONLY_PATHS).toHaveLength(5);
  });

  it('creates every namespace but user and denies all devices', () => {
    expect(spec.linux?.namespaces?.map((n) => n.type)).toEqual(['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup']);
    expect(spec.linux?.resources?.devices).toEqual([{ allow: false, access: 'rwm' }]);
  });

  it('takes args, rootfs and hostname, and returns fresh objects', () => {
    const custom = defaultSpec({ args: ['sleep', '1'], rootfs: '/abs/root', hostname: 'h' });
    expect(custom.process?.args).toEqual(['sleep', '1']);
    expect(custom.root?.path).toBe('/abs/root');
    expect(custom.hostname).toBe('h');
    custom.mounts![0].options = ['x'];
    custom.process!.capabilities!.bounding!.pop();
    expect(defaultSpec().mounts![0].options).toBeUndefined();
    expect(defaultSpec().process?.capabilities?.bounding).toHaveLength(14);
  });
});
