// Where the child loads a filter, the refusals that keep a container from starting
// with a filter it cannot get past, and the compile cache.
import { describe, expect, it } from 'vitest';
import type { Seccomp } from '../spec/types.js';
import { decode } from './bpf.js';
import { dockerDefaultProfile } from './docker-default.js';
import { compileCached, nativeSeccomp } from './native-filter.js';

describe('nativeSeccomp', () => {
  it('loads Docker’s default at the end of setup with no_new_privs, before user/caps without it', () => {
    const profile = dockerDefaultProfile(['CAP_CHOWN']);
    const late = nativeSeccomp(profile, true);
    expect(late.stage).toBe(1);
    expect(late.flags).toBe(0);
    expect(decode(late.filter).length).toBe(late.filter.length / 8);
    expect(nativeSeccomp(profile, false).stage).toBe(0);
  });

  it('moves the filter right before execve when the profile denies the start handshake', () => {
    const profile: Seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['sendto', 'setsid'], action: 'SCMP_ACT_ERRNO' }],
    };
    expect(nativeSeccomp(profile, true).stage).toBe(2);
  });

  it('refuses a profile that denies execve, saying the container could not start', () => {
    const profile: Seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['execve'], action: 'SCMP_ACT_KILL' }],
    };
    expect(() => nativeSeccomp(profile, true)).toThrow(/^linux\.seccomp: the profile denies execve/);
    expect(() => nativeSeccomp({ defaultAction: 'SCMP_ACT_ERRNO' }, true)).toThrow(/denies execve/);
  });

  it('without noNewPrivileges refuses only a profile that denies the capability step, naming the calls', () => {
    const profile: Seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['capset', 'setresuid'], action: 'SCMP_ACT_ERRNO' }],
    };
    expect(() => nativeSeccomp(profile, false)).toThrow(/denies capset \(allow them or set noNewPrivileges\)/);
    expect(nativeSeccomp(profile, true).stage).toBe(1);
  });

  it('without noNewPrivileges accepts a profile denying calls made before the filter loads (user, umask, cwd, close_range)', () => {
    const names = ['close_range', 'setgroups', 'setresgid', 'setresuid', 'umask', 'chdir'];
    const profile: Seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names, action: 'SCMP_ACT_ERRNO' }] };
    expect(nativeSeccomp(profile, false).stage).toBe(0);
    const prctl: Seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['prctl'], action: 'SCMP_ACT_ERRNO' }],
    };
    expect(nativeSeccomp(prctl, false).stage).toBe(0);
    expect(() => nativeSeccomp(prctl, false, { ambient: true })).toThrow(/denies prctl/);
  });

  it('compiles a profile once (cache by content)', () => {
    const a = compileCached(dockerDefaultProfile(['CAP_KILL']));
    const b = compileCached(dockerDefaultProfile(['CAP_KILL']));
    expect(b).toBe(a);
    expect(compileCached(dockerDefaultProfile(['CAP_SYS_ADMIN']))).not.toBe(a);
  });
});
