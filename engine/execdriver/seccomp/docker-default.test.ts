// Docker's default profile as berth generates it: entries picked by capability and
// arch, valid as a spec field, and only on request in defaultSpec (runc spec has none).
import { describe, expect, it } from 'vitest';
import { DEFAULT_CAPABILITIES, defaultSpec } from '../spec/defaults.js';
import { checkProfile } from './profile.js';
import { dockerDefaultProfile } from './docker-default.js';

const names = (caps: string[]) => dockerDefaultProfile(caps).syscalls!.flatMap((s) => (s.args ? [] : s.names));

describe('dockerDefaultProfile', () => {
  it('denies by default with EPERM and allows the x86_64 extras', () => {
    const p = dockerDefaultProfile(DEFAULT_CAPABILITIES);
    expect(p.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(p.defaultErrnoRet).toBe(1);
    expect(names([...DEFAULT_CAPABILITIES])).toEqual(
      expect.arrayContaining(['read', 'execve', 'arch_prctl', 'modify_ldt', 'chroot', 'ptrace']),
    );
    expect(names([...DEFAULT_CAPABILITIES])).not.toContain('riscv_flush_icache');
    expect(names([...DEFAULT_CAPABILITIES])).not.toContain('mount');
  });

  it('follows capabilities: CAP_SYS_ADMIN unlocks mount/unshare/clone3 and drops the clone flag rule', () => {
    expect(names(['CAP_SYS_ADMIN'])).toEqual(expect.arrayContaining(['mount', 'unshare', 'setns', 'clone', 'clone3']));
    const plain = dockerDefaultProfile([]).syscalls!;
    expect(
      plain.some((s) => s.names.includes('clone') && s.args?.[0]?.op === 'SCMP_CMP_MASKED_EQ' && s.args[0].index === 0),
    ).toBe(true);
    expect(plain.find((s) => s.names.includes('clone3'))).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    expect(
      dockerDefaultProfile(['CAP_SYS_ADMIN']).syscalls!.some((s) => s.args?.some((a) => a.op === 'SCMP_CMP_MASKED_EQ')),
    ).toBe(false);
  });

  it('is a valid profile and is in defaultSpec only when asked', () => {
    expect(() => checkProfile(dockerDefaultProfile(DEFAULT_CAPABILITIES))).not.toThrow();
    expect(defaultSpec().linux?.seccomp).toBeUndefined();
    expect(defaultSpec({ seccomp: true }).linux?.seccomp).toEqual(dockerDefaultProfile(DEFAULT_CAPABILITIES));
  });
});
