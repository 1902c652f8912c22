// The names an OCI `linux.seccomp` profile uses (libseccomp's SCMP_* strings) and
// their kernel values, plus the check that turns a profile into rules berth compiles.
import { invalidArgument, notImplemented } from '../../errdefs/errors.js';
import type { Seccomp } from '../spec/types.js';
import { X86_64_SYSCALLS } from './syscalls-x86-64.js';

/** SECCOMP_RET_* (linux/seccomp.h). */
export const RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/** AUDIT_ARCH_X86_64: the only seccomp_data.arch berth's filters let through. */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
/** System calls made through the x32 ABI carry this bit in their number. */
export const X32_SYSCALL_BIT = 0x40000000;

/** SECCOMP_FILTER_FLAG_* that a profile may ask for. */
export const FILTER_FLAGS: Readonly<Record<string, number>> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
};

/** Every SCMP_ARCH_* name libseccomp knows; berth filters x86_64 only (see compileProfile). */
export const KNOWN_ARCHES: ReadonlySet<string> = new Set([
  'SCMP_ARCH_NATIVE',
  'SCMP_ARCH_X86',
  'SCMP_ARCH_X86_64',
  'SCMP_ARCH_X32',
  'SCMP_ARCH_ARM',
  'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_LOONGARCH64',
  'SCMP_ARCH_M68K',
  'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL',
  'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC',
  'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE',
  'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X',
  'SCMP_ARCH_PARISC',
  'SCMP_ARCH_PARISC64',
  'SCMP_ARCH_RISCV64',
  'SCMP_ARCH_SH',
  'SCMP_ARCH_SHEB',
]);

export type CompareOp =
  'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_LE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_GE' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';
export const COMPARE_OPS: ReadonlySet<string> = new Set([
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
]);

export const ACTIONS: ReadonlySet<string> = new Set([
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
]);

/** One argument comparison; values are u64 as the kernel sees them. */
export interface ArgCondition {
  index: number;
  op: CompareOp;
  value: bigint;
  valueTwo: bigint;
}

/** One rule for one syscall number: it matches when every condition holds (none: always). */
export interface Rule {
  nr: number;
  name: string;
  conditions: ArgCondition[];
  ret: number;
}

/** A checked profile: rules in profile order, the default and the seccomp(2) flags. */
export interface CheckedProfile {
  defaultRet: number;
  flags: number;
  rules: Rule[];
  /** Names the profile lists that x86_64 does not have (skipped, like libseccomp). */
  skippedNames: string[];
}

const U64_MAX = (1n << 64n) - 1n;

/** A JSON number as the u64 the kernel compares: negative values wrap like a C cast. */
function toU64(value: number, field: string): bigint {
  if (!Number.isInteger(value)) throw invalidArgument(`${field}: ${value} is not an integer`, { details: { field } });
  if (!Number.isSafeInteger(value))
    throw invalidArgument(`${field}: ${value} is beyond 2^53 and cannot be represented exactly in JSON numbers`, {
      details: { field },
    });
  return BigInt.asUintN(64, BigInt(value)) & U64_MAX;
}

/** The SECCOMP_RET_* value of an action; errnoRet (default EPERM) goes in the data bits of ERRNO and TRACE. */
function actionRet(action: string, errnoRet: number | undefined, field: string): number {
  const data = (defaultData: number): number => {
    const v = errnoRet ?? defaultData;
    if (!Number.isInteger(v) || v < 0 || v > 0xffff)
      throw invalidArgument(`${field}: errnoRet ${v} must be an integer 0-65535`, { details: { field } });
    return v;
  };
  switch (action) {
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return RET.KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS':
      return RET.KILL_PROCESS;
    case 'SCMP_ACT_TRAP':
      return RET.TRAP;
    case 'SCMP_ACT_ERRNO':
      return (RET.ERRNO | data(1)) >>> 0;
    case 'SCMP_ACT_TRACE':
      return (RET.TRACE | data(1)) >>> 0;
    case 'SCMP_ACT_ALLOW':
      return RET.ALLOW;
    case 'SCMP_ACT_LOG':
      return RET.LOG;
    case 'SCMP_ACT_NOTIFY':
      throw notImplemented(
        `${field}: SCMP_ACT_NOTIFY needs a seccomp agent (listenerPath), which berth does not support`,
        { details: { field } },
      );
    default:
      throw invalidArgument(`${field}: unknown seccomp action ${JSON.stringify(action)}`, { details: { field } });
  }
}

const syscallNumbers = new Map<string, number>(Object.entries(X86_64_SYSCALLS));

/** The x86_64 number of a syscall name, or undefined. */
export function syscallNumber(name: string): number | undefined {
  return syscallNumbers.get(name);
}

/**
 * Checks a `linux.seccomp` value (field paths start at `field`) and returns its rules
 * for x86_64. Throws INVALID_ARGUMENT naming the field for an unknown action, op,
 * architecture or flag, an argument index above 5, a bad errnoRet; NOT_IMPLEMENTED
 * for SCMP_ACT_NOTIFY, listenerPath and flags berth cannot pass. Names x86_64 lacks
 * (i386-only calls like `chown32`) are skipped, as libseccomp and runc do. A rule
 * where one argument index appears twice becomes one rule per condition (any may
 * match), as runc builds it. Architectures are only checked by name: the filter
 * always targets x86_64 (the native arch, which libseccomp always includes) and
 * kills calls made through other ABIs (i386 `int 0x80`, x32) instead of compiling
 * their tables, so SCMP_ARCH_X86 / SCMP_ARCH_X32 in a profile are accepted and
 * skipped. Pure; cost linear in the profile's size.
 */
export function checkProfile(profile: Seccomp, field = 'linux.seccomp'): CheckedProfile {
  const raw = profile as Seccomp & { listenerPath?: unknown; listenerMetadata?: unknown };
  if (raw.listenerPath !== undefined)
    throw notImplemented(`${field}.listenerPath: seccomp agents are not supported by berth`, {
      details: { field: `${field}.listenerPath` },
    });
  const defaultRet = actionRet(profile.defaultAction, profile.defaultErrnoRet, `${field}.defaultAction`);
  (profile.architectures ?? []).forEach((arch, i) => {
    if (!KNOWN_ARCHES.has(arch))
      throw invalidArgument(`${field}.architectures[${i}]: unknown architecture ${JSON.stringify(arch)}`, {
        details: { field: `${field}.architectures[${i}]` },
      });
  });
  let flags = 0;
  (profile.flags ?? []).forEach((flag, i) => {
    const f = `${field}.flags[${i}]`;
    const bit = FILTER_FLAGS[flag];
    if (bit === undefined) {
      if (/^SECCOMP_FILTER_FLAG_/.test(flag))
        throw notImplemented(`${f}: ${flag} is not supported by berth`, { details: { field: f } });
      throw invalidArgument(`${f}: unknown seccomp flag ${JSON.stringify(flag)}`, { details: { field: f } });
    }
    flags |= bit;
  });
  const rules: Rule[] = [];
  const skipped = new Set<string>();
  (profile.syscalls ?? []).forEach((sc, i) => {
    const f = `${field}.syscalls[${i}]`;
    const ret = actionRet(sc.action, sc.errnoRet, `${f}.action`);
    const conditions: ArgCondition[] = (sc.args ?? []).map((a, k) => {
      const af = `${f}.args[${k}]`;
      if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5)
        throw invalidArgument(`${af}.index: ${a.index} is not a syscall argument (0-5)`, {
          details: { field: `${af}.index` },
        });
      if (!COMPARE_OPS.has(a.op))
        throw invalidArgument(`${af}.op: unknown comparison ${JSON.stringify(a.op)}`, {
          details: { field: `${af}.op` },
        });
      return {
        index: a.index,
        op: a.op as CompareOp,
        value: toU64(a.value, `${af}.value`),
        valueTwo: toU64(a.valueTwo ?? 0, `${af}.valueTwo`),
      };
    });
    const counts = new Set<number>();
    const repeated = conditions.some((c) => counts.size === counts.add(c.index).size);
    const groups = repeated ? conditions.map((c) => [c]) : [conditions];
    if ((sc.names ?? []).length === 0)
      throw invalidArgument(`${f}.names: must list at least one syscall`, { details: { field: `${f}.names` } });
    for (const name of sc.names) {
      const nr = syscallNumber(name);
      if (nr === undefined) {
        skipped.add(name);
        continue;
      }
      for (const g of groups) rules.push({ nr, name, conditions: g, ret });
    }
  });
  return { defaultRet, flags, rules, skippedNames: [...skipped] };
}

const checkedCache = new Map<string, CheckedProfile>();
const CHECKED_CACHE_SIZE = 32;

/**
 * checkProfile memoized by the profile's JSON (and `field`): every container start checks
 * Docker's default profile, which then costs one JSON.stringify instead of a walk over
 * its few hundred names. Failures are not kept; a hit returns the same CheckedProfile,
 * which callers treat as read-only.
 */
export function checkProfileCached(profile: Seccomp, field = 'linux.seccomp'): CheckedProfile {
  const key = `${field}\n${JSON.stringify(profile)}`;
  const hit = checkedCache.get(key);
  if (hit !== undefined) return hit;
  const checked = checkProfile(profile, field);
  if (checkedCache.size >= CHECKED_CACHE_SIZE) checkedCache.delete(checkedCache.keys().next().value!);
  checkedCache.set(key, checked);
  return checked;
}
