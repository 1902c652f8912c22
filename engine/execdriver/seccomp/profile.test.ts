// Profile checking: every bad profile gets an error naming its field path and code;
// names x86_64 lacks are skipped; repeated argument indexes split into OR rules.
import { describe, expect, it } from 'vitest';
import type { Seccomp } from '../spec/types.js';
import { checkProfile, checkProfileCached, RET } from './profile.js';

const base = (more: Partial<Seccomp> = {}): Seccomp => ({ defaultAction: 'SCMP_ACT_ALLOW', ...more });

const bad: { name: string; profile: Seccomp; code: string; message: RegExp }[] = [
  {
    name: 'unknown default action',
    profile: { defaultAction: 'SCMP_ACT_PERMIT' },
    code: 'INVALID_ARGUMENT',
    message: /^linux\.seccomp\.defaultAction: unknown seccomp action "SCMP_ACT_PERMIT"/,
  },
  {
    name: 'unknown rule action',
    profile: base({ syscalls: [{ names: ['read'], action: 'SCMP_ACT_NOPE' }] }),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.seccomp\.syscalls\[0\]\.action: unknown seccomp action/,
  },
  {
    name: 'notify default',
    profile: { defaultAction: 'SCMP_ACT_NOTIFY' },
    code: 'NOT_IMPLEMENTED',
    message: /^linux\.seccomp\.defaultAction: SCMP_ACT_NOTIFY needs a seccomp agent/,
  },
  {
    name: 'notify rule',
    profile: base({
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW' },
        { names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' },
      ],
    }),
    code: 'NOT_IMPLEMENTED',
    message: /^linux\.seccomp\.syscalls\[1\]\.action: SCMP_ACT_NOTIFY/,
  },
  {
    name: 'listener path',
    profile: base({ listenerPath: '/run/agent.sock' }),
    code: 'NOT_IMPLEMENTED',
    message: /^linux\.seccomp\.listenerPath: /,
  },
  {
    name: 'unknown op',
    profile: base({
      syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0, op: 'SCMP_CMP_LIKE' }] }],
    }),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.seccomp\.syscalls\[0\]\.args\[0\]\.op: unknown comparison "SCMP_CMP_LIKE"/,
  },
  {
    name: 'arg index 6',
    profile: base({
      syscalls: [
        {
          names: ['read'],
          action: 'SCMP_ACT_ERRNO',
          args: [
            { index: 0, value: 0, op: 'SCMP_CMP_EQ' },
            { index: 6, value: 0, op: 'SCMP_CMP_EQ' },
          ],
        },
      ],
    }),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.seccomp\.syscalls\[0\]\.args\[1\]\.index: 6 is not a syscall argument \(0-5\)/,
  },
  {
    name: 'errnoRet too large',
    profile: base({ syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', errnoRet: 70000 }] }),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.seccomp\.syscalls\[0\]\.action: errnoRet 70000/,
  },
  {
    name: 'unknown arch',
    profile: base({ architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_Z80'] }),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.seccomp\.architectures\[1\]: unknown architecture "SCMP_ARCH_Z80"/,
  },
  {
    name: 'unknown flag',
    profile: base({ flags: ['SECCOMP_FILTER_FLAG_LOG', 'FAST'] }),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.seccomp\.flags\[1\]: unknown seccomp flag "FAST"/,
  },
  {
    name: 'unsupported flag',
    profile: base({ flags: ['SECCOMP_FILTER_FLAG_NEW_LISTENER'] }),
    code: 'NOT_IMPLEMENTED',
    message: /^linux\.seccomp\.flags\[0\]: SECCOMP_FILTER_FLAG_NEW_LISTENER is not supported/,
  },
  {
    name: 'no names',
    profile: base({ syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] }),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.seccomp\.syscalls\[0\]\.names: must list/,
  },
  {
    name: 'fractional value',
    profile: base({
      syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1.5, op: 'SCMP_CMP_EQ' }] }],
    }),
    code: 'INVALID_ARGUMENT',
    message: /^linux\.seccomp\.syscalls\[0\]\.args\[0\]\.value: 1\.5 is not an integer/,
  },
];

describe('checkProfile', () => {
  it.each(bad)('$name → $code naming the field', ({ profile, code, message }) => {
    let err: unknown;
    try {
      checkProfile(profile);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code });
    expect((err as Error).message).toMatch(message);
  });

  it('maps actions and errno values to SECCOMP_RET_*, EPERM by default', () => {
    const c = checkProfile({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 38,
      flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ERRNO' },
        { names: ['write'], action: 'SCMP_ACT_KILL' },
        { names: ['mkdir'], action: 'SCMP_ACT_KILL_PROCESS' },
        { names: ['kill'], action: 'SCMP_ACT_TRACE', errnoRet: 5 },
        { names: ['openat'], action: 'SCMP_ACT_LOG' },
      ],
    });
    expect(c.defaultRet).toBe(RET.ERRNO | 38);
    expect(c.flags).toBe(1 | 4);
    expect(c.rules.map((r) => [r.name, r.ret])).toEqual([
      ['read', RET.ERRNO | 1],
      ['write', RET.KILL_THREAD],
      ['mkdir', RET.KILL_PROCESS],
      ['kill', RET.TRACE | 5],
      ['openat', RET.LOG],
    ]);
  });

  it('skips names x86_64 lacks and splits a rule whose argument index repeats into OR rules', () => {
    const c = checkProfile(
      base({
        syscalls: [
          { names: ['chown32', 'chown', 'not_a_syscall'], action: 'SCMP_ACT_ERRNO' },
          {
            names: ['personality'],
            action: 'SCMP_ACT_ERRNO',
            args: [
              { index: 0, value: 1, op: 'SCMP_CMP_EQ' },
              { index: 0, value: 2, op: 'SCMP_CMP_EQ' },
            ],
          },
          {
            names: ['ioctl'],
            action: 'SCMP_ACT_ERRNO',
            args: [
              { index: 0, value: 1, op: 'SCMP_CMP_EQ' },
              { index: 1, value: 2, op: 'SCMP_CMP_EQ' },
            ],
          },
        ],
      }),
    );
    expect(c.skippedNames.sort()).toEqual(['chown32', 'not_a_syscall']);
    expect(c.rules.filter((r) => r.name === 'personality').map((r) => r.conditions.length)).toEqual([1, 1]);
    expect(c.rules.filter((r) => r.name === 'ioctl').map((r) => r.conditions.length)).toEqual([2]);
  });

  it('reads negative JSON values as the u64 a C cast gives', () => {
    const c = checkProfile(
      base({
        syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }],
      }),
    );
    expect(c.rules[0]!.conditions[0]!.value).toBe(0xffffffffffffffffn);
  });
});

describe('checkProfileCached', () => {
  it('checks an equal profile once: the same result for a new object with the same content', () => {
    const make = (): Seccomp => base({ syscalls: [{ names: ['reboot'], action: 'SCMP_ACT_ERRNO' }] });
    const first = checkProfileCached(make());
    expect(first).toEqual(checkProfile(make()));
    expect(checkProfileCached(make())).toBe(first);
    // another field path or another content is another entry
    expect(checkProfileCached(make(), 'other')).not.toBe(first);
    expect(checkProfileCached(base({ syscalls: [{ names: ['reboot'], action: 'SCMP_ACT_KILL' }] }))).not.toBe(first);
  });

  it('keeps no failure: a bad profile fails every time, naming its field', () => {
    const profile: Seccomp = { defaultAction: 'SCMP_ACT_PERMIT' };
    for (let i = 0; i < 2; i++)
      expect(() => checkProfileCached(profile, 'x.seccomp')).toThrow(
        /^x\.seccomp\.defaultAction: unknown seccomp action/,
      );
  });
});
