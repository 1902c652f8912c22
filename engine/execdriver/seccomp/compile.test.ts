// The seccomp compiler checked against a plain reference reading of the profile: the
// compiled BPF, run by the interpreter, must give the same SECCOMP_RET_* for thousands
// of seeded random profiles and system calls (64-bit args, x32, foreign arches).
import { describe, expect, it } from 'vitest';
import type { Seccomp, SeccompSyscall } from '../spec/types.js';
import { BPF, decode, runFilter, type SeccompData } from './bpf.js';
import { compileProfile } from './compile.js';
import { dockerDefaultProfile } from './docker-default.js';
import { AUDIT_ARCH_X86_64, RET } from './profile.js';
import { X86_64_SYSCALLS } from './syscalls-x86-64.js';

/** The profile read literally: what a syscall should get, computed without the compiler's planning. */
function reference(profile: Seccomp, data: SeccompData): number {
  if (data.arch !== AUDIT_ARCH_X86_64 || data.nr >= 0x40000000) return RET.KILL_PROCESS;
  const ret = (action: string, errno: number | undefined): number => {
    const table: Record<string, number> = {
      SCMP_ACT_KILL: 0,
      SCMP_ACT_KILL_THREAD: 0,
      SCMP_ACT_KILL_PROCESS: 0x80000000,
      SCMP_ACT_TRAP: 0x30000,
      SCMP_ACT_ALLOW: 0x7fff0000,
      SCMP_ACT_LOG: 0x7ffc0000,
    };
    if (action === 'SCMP_ACT_ERRNO') return 0x50000 + (errno ?? 1);
    if (action === 'SCMP_ACT_TRACE') return 0x7ff00000 + (errno ?? 1);
    return table[action]!;
  };
  const holds = (a: { index: number; value: number; valueTwo?: number; op: string }): boolean => {
    const x = data.args[a.index] ?? 0n;
    const v = BigInt.asUintN(64, BigInt(a.value));
    const w = BigInt.asUintN(64, BigInt(a.valueTwo ?? 0));
    switch (a.op) {
      case 'SCMP_CMP_EQ':
        return x === v;
      case 'SCMP_CMP_NE':
        return x !== v;
      case 'SCMP_CMP_LT':
        return x < v;
      case 'SCMP_CMP_LE':
        return x <= v;
      case 'SCMP_CMP_GT':
        return x > v;
      case 'SCMP_CMP_GE':
        return x >= v;
      case 'SCMP_CMP_MASKED_EQ':
        return (x & v) === w;
      default:
        throw new Error(a.op);
    }
  };
  let unconditional: number | undefined;
  for (const sc of profile.syscalls ?? []) {
    if (!sc.names.some((n) => X86_64_SYSCALLS[n] === data.nr && Object.hasOwn(X86_64_SYSCALLS, n))) continue;
    const args = sc.args ?? [];
    if (args.length === 0) {
      unconditional ??= ret(sc.action, sc.errnoRet);
      continue;
    }
    const repeated = new Set(args.map((a) => a.index)).size !== args.length;
    if (repeated ? args.some(holds) : args.every(holds)) return ret(sc.action, sc.errnoRet);
  }
  return unconditional ?? ret(profile.defaultAction, profile.defaultErrnoRet);
}

/** mulberry32: a small seeded PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const POOL = [
  'read',
  'write',
  'openat',
  'close',
  'mkdir',
  'unshare',
  'personality',
  'clone',
  'socket',
  'ioctl',
  'mmap',
  'execve',
  'chown32',
  'no_such_call',
  'kill',
  'prctl',
];
const ACTIONS = [
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_LOG',
  'SCMP_ACT_TRACE',
];
const OPS = [
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
];
/** Values around the 32-bit boundary, where a one-word comparison would go wrong. */
const EDGES = [
  0,
  1,
  2,
  7,
  0x7fffffff,
  0x80000000,
  0xfffffffe,
  0xffffffff,
  0x100000000,
  0x100000001,
  0x1ffffffff,
  0x7fffffff00000000 / 2 ** 11,
  -1,
  Number.MAX_SAFE_INTEGER,
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function randomValue(r: () => number): number {
  return r() < 0.7 ? pick(r, EDGES) : Math.floor(r() * 2 ** (r() < 0.5 ? 32 : 48));
}

function randomProfile(r: () => number): Seccomp {
  const syscalls: SeccompSyscall[] = [];
  const n = 1 + Math.floor(r() * 8);
  for (let i = 0; i < n; i++) {
    const names = [pick(r, POOL), ...(r() < 0.3 ? [pick(r, POOL)] : [])];
    const sc: SeccompSyscall = { names, action: pick(r, ACTIONS) };
    if (r() < 0.5) sc.errnoRet = Math.floor(r() * 200);
    if (r() < 0.7) {
      sc.args = Array.from({ length: 1 + Math.floor(r() * 3) }, () => ({
        index: Math.floor(r() * 6),
        value: randomValue(r),
        valueTwo: randomValue(r),
        op: pick(r, OPS),
      }));
    }
    syscalls.push(sc);
  }
  const profile: Seccomp = { defaultAction: pick(r, ACTIONS), syscalls };
  if (r() < 0.5) profile.defaultErrnoRet = Math.floor(r() * 100);
  return profile;
}

function randomCall(r: () => number, profile: Seccomp): SeccompData {
  const named = profile
    .syscalls!.flatMap((s) => s.names)
    .map((n) => X86_64_SYSCALLS[n])
    .filter((x): x is number => x !== undefined);
  const roll = r();
  const nr =
    roll < 0.03
      ? 0x40000000 + (named[0] ?? 0)
      : roll < 0.85 && named.length > 0
        ? pick(r, named)
        : Math.floor(r() * 460);
  const arch = r() < 0.03 ? 0x40000003 : AUDIT_ARCH_X86_64;
  const argValue = (): bigint => {
    const base = BigInt.asUintN(64, BigInt(randomValue(r)));
    const bump = r() < 0.3 ? BigInt(Math.floor(r() * 3) - 1) : 0n;
    return BigInt.asUintN(64, base + bump);
  };
  // Some arguments taken from the profile's own values make EQ/MASKED_EQ rules match.
  const values = profile.syscalls!.flatMap((s) => (s.args ?? []).map((a) => BigInt.asUintN(64, BigInt(a.value))));
  const args = Array.from({ length: 6 }, () => (r() < 0.4 && values.length > 0 ? pick(r, values) : argValue()));
  return { nr, arch, args };
}

describe('seccomp compiler', () => {
  it('agrees with the reference reading on 2000 random profiles × 20 calls (seeded)', () => {
    const r = rng(20261128);
    let calls = 0;
    for (let p = 0; p < 2000; p++) {
      const profile = randomProfile(r);
      const { program } = compileProfile(profile);
      for (let c = 0; c < 20; c++) {
        const data = randomCall(r, profile);
        const got = runFilter(program, data);
        const want = reference(profile, data);
        if (got !== want)
          throw new Error(
            `profile ${p} call ${c}: got 0x${got.toString(16)}, want 0x${want.toString(16)}\n${JSON.stringify(profile)}\n${data.nr} ${data.args.join(',')}`,
          );
        calls++;
      }
    }
    expect(calls).toBe(40000);
  });

  it('compares 64-bit arguments by high word, then low word (unsigned)', () => {
    const profile: Seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['ioctl'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0x100000000, op: 'SCMP_CMP_GE' }] },
      ],
    };
    const { program } = compileProfile(profile);
    const nr = X86_64_SYSCALLS.ioctl!;
    const at = (v: bigint) => runFilter(program, { nr, arch: AUDIT_ARCH_X86_64, args: [0n, v] });
    expect(at(0xffffffffn)).toBe(RET.ALLOW); // low word larger, high word smaller
    expect(at(0x100000000n)).toBe(RET.ERRNO | 1);
    expect(at(0xffffffffffffffffn)).toBe(RET.ERRNO | 1); // -1 is the largest u64, not negative
  });

  it('kills foreign architectures and x32 calls even under an allow-by-default profile', () => {
    const { program } = compileProfile({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }],
    });
    const mkdir = X86_64_SYSCALLS.mkdir!;
    expect(runFilter(program, { nr: mkdir, arch: AUDIT_ARCH_X86_64, args: [] })).toBe(RET.ERRNO | 1);
    expect(runFilter(program, { nr: mkdir | 0x40000000, arch: AUDIT_ARCH_X86_64, args: [] })).toBe(RET.KILL_PROCESS);
    expect(runFilter(program, { nr: 39, arch: 0x40000003, args: [] })).toBe(RET.KILL_PROCESS); // i386
  });

  it('keeps every jump in range for a large profile (JA trampolines) and stays under 4096 instructions', () => {
    const names = Object.keys(X86_64_SYSCALLS);
    const syscalls: SeccompSyscall[] = names.map((name, i) => ({
      names: [name],
      action: i % 3 === 0 ? 'SCMP_ACT_ERRNO' : 'SCMP_ACT_ALLOW',
      errnoRet: i % 50,
      ...(i % 7 === 0
        ? {
            args: [
              { index: i % 6, value: i * 0x10001, op: 'SCMP_CMP_LE' },
              { index: (i + 1) % 6, value: 0xff, valueTwo: i & 0xff, op: 'SCMP_CMP_MASKED_EQ' },
            ],
          }
        : {}),
    }));
    const profile: Seccomp = { defaultAction: 'SCMP_ACT_KILL_PROCESS', syscalls };
    const { program, bytes } = compileProfile(profile);
    expect(program.length).toBeGreaterThan(600);
    expect(program.length).toBeLessThanOrEqual(4096);
    expect(program.some((ins) => ins.code === BPF.JA && ins.k > 255)).toBe(true);
    expect(decode(bytes)).toEqual(program);
    const r = rng(7);
    for (let i = 0; i < 3000; i++) {
      const nr = Math.floor(r() * 470);
      const args = Array.from({ length: 6 }, () => BigInt(Math.floor(r() * 2 ** 24)));
      const data = { nr, arch: AUDIT_ARCH_X86_64, args };
      expect(runFilter(program, data)).toBe(reference(profile, data));
    }
  });

  it('compiles Docker’s default profile: allowlist, EPERM otherwise, clone without namespace flags, clone3 ENOSYS', () => {
    const profile = dockerDefaultProfile(['CAP_CHOWN', 'CAP_SETUID']);
    const { program } = compileProfile(profile);
    const call = (name: string, ...args: bigint[]) =>
      runFilter(program, { nr: X86_64_SYSCALLS[name]!, arch: AUDIT_ARCH_X86_64, args });
    for (const name of ['read', 'write', 'execve', 'openat', 'mmap', 'exit_group', 'arch_prctl', 'mkdir'])
      expect(call(name)).toBe(RET.ALLOW);
    for (const name of ['unshare', 'mount', 'setns', 'reboot', 'bpf', 'keyctl', 'kexec_load'])
      expect(call(name)).toBe(RET.ERRNO | 1);
    expect(call('clone', 0x11n)).toBe(RET.ALLOW); // SIGCHLD | CLONE_VM-free fork
    expect(call('clone', 0x10000000n | 0x11n)).toBe(RET.ERRNO | 1); // CLONE_NEWUSER
    expect(call('clone3')).toBe(RET.ERRNO | 38);
    expect(call('personality', 0n)).toBe(RET.ALLOW);
    expect(call('personality', 0xffffffffn)).toBe(RET.ALLOW);
    expect(call('personality', 1n)).toBe(RET.ERRNO | 1);
    expect(call('socket', 40n)).toBe(RET.ERRNO | 1); // AF_VSOCK
    expect(call('socket', 2n)).toBe(RET.ALLOW);
    // Binary-search dispatch: no call walks the whole allowlist.
    let worst = 0;
    for (let nr = 0; nr < 460; nr++) {
      const stats = { executed: 0 };
      runFilter(program, { nr, arch: AUDIT_ARCH_X86_64, args: [0n] }, stats);
      worst = Math.max(worst, stats.executed);
    }
    expect(worst).toBeLessThan(40);
    const admin = compileProfile(dockerDefaultProfile(['CAP_SYS_ADMIN'])).program;
    expect(runFilter(admin, { nr: X86_64_SYSCALLS.unshare!, arch: AUDIT_ARCH_X86_64, args: [] })).toBe(RET.ALLOW);
    expect(runFilter(admin, { nr: X86_64_SYSCALLS.clone3!, arch: AUDIT_ARCH_X86_64, args: [] })).toBe(RET.ALLOW);
  });
});
