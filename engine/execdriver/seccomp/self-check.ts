// A profile's verdicts for named system calls: compiles the profile and runs the BPF
// program in the interpreter, so a test sees what a container would get for
// `personality(0xffffffff)` without starting one. No command exposes it: the client
// may not import the execdriver (README "Engine modules"), and berthd has no route for it.
import { invalidArgument } from '../../errdefs/errors.js';
import type { Seccomp } from '../spec/types.js';
import { runFilter } from './bpf.js';
import { compileCached } from './native-filter.js';
import { AUDIT_ARCH_X86_64, RET, syscallNumber } from './profile.js';

/** A SECCOMP_RET_* value in profile words: "SCMP_ACT_ERRNO(1)", "SCMP_ACT_ALLOW", … */
export function describeRet(ret: number): string {
  const action = (ret & 0xffff0000) >>> 0;
  const data = ret & 0xffff;
  if (ret >>> 0 === RET.KILL_PROCESS) return 'SCMP_ACT_KILL_PROCESS';
  switch (action) {
    case RET.KILL_THREAD:
      return 'SCMP_ACT_KILL_THREAD';
    case RET.TRAP:
      return 'SCMP_ACT_TRAP';
    case RET.ERRNO:
      return `SCMP_ACT_ERRNO(${data})`;
    case RET.TRACE:
      return `SCMP_ACT_TRACE(${data})`;
    case RET.LOG:
      return 'SCMP_ACT_LOG';
    case RET.ALLOW:
      return 'SCMP_ACT_ALLOW';
    default:
      return `0x${(ret >>> 0).toString(16)}`;
  }
}

/** One call to check: a syscall name and up to six u64 arguments. */
export interface CallProbe {
  name: string;
  args?: readonly bigint[];
}

/**
 * What the compiled filter returns for each call, as an x86_64 process would see it.
 * Throws INVALID_ARGUMENT for a syscall name x86_64 does not have, and the profile's
 * own errors (field paths under linux.seccomp). Pure; uses the compile cache.
 */
export function selfCheck(
  profile: Seccomp,
  calls: readonly CallProbe[],
): { name: string; args: bigint[]; ret: number; action: string }[] {
  const { program } = compileCached(profile);
  return calls.map((c) => {
    const nr = syscallNumber(c.name);
    if (nr === undefined)
      throw invalidArgument(`seccomp self-check: ${JSON.stringify(c.name)} is not an x86_64 system call`);
    const args = [...(c.args ?? [])];
    const ret = runFilter(program, { nr, arch: AUDIT_ARCH_X86_64, args });
    return { name: c.name, args, ret, action: describeRet(ret) };
  });
}

/** Parses "personality:0xffffffff,0" into a CallProbe (arguments in any BigInt literal form). */
export function parseCall(text: string): CallProbe {
  const [name, rest] = text.split(':', 2) as [string, string | undefined];
  if (rest === undefined || rest === '') return { name };
  try {
    return { name, args: rest.split(',').map((a) => BigInt.asUintN(64, BigInt(a.trim()))) };
  } catch {
    throw invalidArgument(`seccomp self-check: ${JSON.stringify(text)}: arguments must be integers`);
  }
}
