// Compiles a checked seccomp profile into a classic BPF program for x86_64: arch check,
// x32 guard, a binary-search dispatch on the syscall number, and per-syscall bodies comparing 64-bit
// arguments as two 32-bit halves. Every conditional jump stays within 255 by layout;
// longer distances go through JA (32-bit offset) trampolines.
import { invalidArgument } from '../../errdefs/errors.js';
import type { Seccomp } from '../spec/types.js';
import { BPF, encode, MAX_INSNS, SECCOMP_DATA, type Insn } from './bpf.js';
import {
  AUDIT_ARCH_X86_64,
  checkProfile,
  RET,
  X32_SYSCALL_BIT,
  type ArgCondition,
  type CheckedProfile,
  type Rule,
} from './profile.js';

type Target = string | number; // a label, or a literal forward offset

interface PendingInsn {
  code: number;
  k: number | string; // JA: label
  jt: Target;
  jf: Target;
}

/** Emits instructions with symbolic forward jumps, then resolves them. */
class Assembler {
  readonly code: PendingInsn[] = [];
  private readonly labels = new Map<string, number>();
  private next = 0;

  fresh(prefix: string): string {
    return `${prefix}#${this.next++}`;
  }
  label(name: string): void {
    this.labels.set(name, this.code.length);
  }
  ld(offset: number): void {
    this.code.push({ code: BPF.LD_W_ABS, k: offset, jt: 0, jf: 0 });
  }
  and(k: number): void {
    this.code.push({ code: BPF.AND_K, k: k >>> 0, jt: 0, jf: 0 });
  }
  jump(code: number, k: number, jt: Target, jf: Target): void {
    this.code.push({ code, k: k >>> 0, jt, jf });
  }
  ja(label: string): void {
    this.code.push({ code: BPF.JA, k: label, jt: 0, jf: 0 });
  }
  ret(k: number): void {
    this.code.push({ code: BPF.RET_K, k: k >>> 0, jt: 0, jf: 0 });
  }

  resolve(): Insn[] {
    return this.code.map((ins, pc) => {
      const offset = (t: Target): number => {
        if (typeof t === 'number') return t;
        const at = this.labels.get(t);
        if (at === undefined || at <= pc) throw new Error(`seccomp compiler: bad label ${t} at ${pc}`);
        return at - pc - 1;
      };
      if (ins.code === BPF.JA) return { code: ins.code, jt: 0, jf: 0, k: offset(ins.k as string) };
      const jt = offset(ins.jt);
      const jf = offset(ins.jf);
      if (jt > 255 || jf > 255) throw new Error(`seccomp compiler: jump too long at ${pc} (${jt}/${jf})`);
      return { code: ins.code, jt, jf, k: ins.k as number };
    });
  }
}

/** Syscalls compared one by one in a leaf of the dispatch tree (jeq targets stay within 255). */
const LEAF = 8;

/**
 * Emits the check of one condition: falls through when it holds, jumps to `fail`
 * when not. u64 semantics: the high words decide unless equal, then the low words.
 */
function emitCondition(asm: Assembler, c: ArgCondition, fail: string): void {
  const pass = asm.fresh('pass');
  const hi = Number(c.value >> 32n);
  const lo = Number(c.value & 0xffffffffn);
  const lowAt = SECCOMP_DATA.argLow(c.index);
  const highAt = SECCOMP_DATA.argHigh(c.index);
  switch (c.op) {
    case 'SCMP_CMP_EQ':
      asm.ld(highAt);
      asm.jump(BPF.JEQ_K, hi, 0, fail);
      asm.ld(lowAt);
      asm.jump(BPF.JEQ_K, lo, 0, fail);
      break;
    case 'SCMP_CMP_NE':
      asm.ld(highAt);
      asm.jump(BPF.JEQ_K, hi, 0, pass);
      asm.ld(lowAt);
      asm.jump(BPF.JEQ_K, lo, fail, 0);
      break;
    case 'SCMP_CMP_GT':
    case 'SCMP_CMP_GE':
      asm.ld(highAt);
      asm.jump(BPF.JGT_K, hi, pass, 0);
      asm.jump(BPF.JEQ_K, hi, 0, fail);
      asm.ld(lowAt);
      asm.jump(c.op === 'SCMP_CMP_GT' ? BPF.JGT_K : BPF.JGE_K, lo, 0, fail);
      break;
    case 'SCMP_CMP_LT':
    case 'SCMP_CMP_LE':
      asm.ld(highAt);
      asm.jump(BPF.JGT_K, hi, fail, 0);
      asm.jump(BPF.JEQ_K, hi, 0, pass);
      asm.ld(lowAt);
      asm.jump(c.op === 'SCMP_CMP_LT' ? BPF.JGE_K : BPF.JGT_K, lo, fail, 0);
      break;
    case 'SCMP_CMP_MASKED_EQ': {
      const want = c.valueTwo;
      asm.ld(highAt);
      asm.and(hi);
      asm.jump(BPF.JEQ_K, Number(want >> 32n), 0, fail);
      asm.ld(lowAt);
      asm.and(lo);
      asm.jump(BPF.JEQ_K, Number(want & 0xffffffffn), 0, fail);
      break;
    }
  }
  asm.label(pass);
}

/** The rules of one syscall number: conditional ones in profile order, then the first unconditional one. */
interface SyscallPlan {
  nr: number;
  conditional: Rule[];
  fallback: number;
}

/**
 * How a checked profile resolves a syscall: first matching conditional rule, else the first unconditional rule, else
 * the default.
 */
export function planSyscalls(checked: CheckedProfile): SyscallPlan[] {
  const byNr = new Map<number, { conditional: Rule[]; unconditional?: number }>();
  for (const r of checked.rules) {
    let e = byNr.get(r.nr);
    if (e === undefined) byNr.set(r.nr, (e = { conditional: [] }));
    if (r.conditions.length > 0) e.conditional.push(r);
    else if (e.unconditional === undefined) e.unconditional = r.ret;
  }
  return [...byNr.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([nr, e]) => ({ nr, conditional: e.conditional, fallback: e.unconditional ?? checked.defaultRet }))
    .filter((p) => p.conditional.length > 0 || p.fallback !== checked.defaultRet);
}

/** A compiled filter: the program, its bytes for the native core, and the seccomp(2) flags. */
export interface CompiledFilter {
  program: Insn[];
  bytes: Buffer;
  flags: number;
  checked: CheckedProfile;
}

/**
 * Compiles a checked profile. Layout: arch check (anything but x86_64 → KILL_PROCESS),
 * x32 guard (nr ≥ 0x40000000 → KILL_PROCESS, so x32 calls cannot slip past rules written
 * for x86_64 numbers), then a binary search on the syscall number down to leaves of
 * `jeq nr` whose targets are return pads or JA trampolines to per-syscall bodies.
 * Throws INVALID_ARGUMENT when the program exceeds the kernel's 4096 instructions.
 * Pure; linear in the number of rules (Docker's default compiles to some hundreds of instructions).
 */
export function compileChecked(checked: CheckedProfile): CompiledFilter {
  const asm = new Assembler();
  asm.ld(SECCOMP_DATA.ARCH);
  asm.jump(BPF.JEQ_K, AUDIT_ARCH_X86_64, 1, 0);
  asm.ret(RET.KILL_PROCESS);
  asm.ld(SECCOMP_DATA.NR);
  asm.jump(BPF.JGE_K, X32_SYSCALL_BIT, 0, 1);
  asm.ret(RET.KILL_PROCESS);

  const plans = planSyscalls(checked);
  const bodies: { label: string; plan: SyscallPlan }[] = [];
  // A leaf: a few `jeq nr` whose targets (return pads, JA trampolines to bodies) follow it.
  const leaf = (entries: SyscallPlan[]): void => {
    const rets = new Map<number, string>(); // one return pad per distinct verdict
    const trampolines: [string, string][] = [];
    for (const plan of entries) {
      let pad: string;
      if (plan.conditional.length === 0) {
        pad = rets.get(plan.fallback) ?? asm.fresh('ret');
        rets.set(plan.fallback, pad);
      } else {
        pad = asm.fresh('tramp');
        const body = `body:${plan.nr}`;
        bodies.push({ label: body, plan });
        trampolines.push([pad, body]);
      }
      asm.jump(BPF.JEQ_K, plan.nr, pad, 0);
    }
    asm.ret(checked.defaultRet);
    for (const [k, pad] of rets) {
      asm.label(pad);
      asm.ret(k);
    }
    for (const [pad, body] of trampolines) {
      asm.label(pad);
      asm.ja(body);
    }
  };
  // A binary search on the sorted numbers: `jge pivot` then the lower half inline and
  // the upper half behind a JA, so a call costs O(log n) comparisons, not one per rule.
  const range = (entries: SyscallPlan[]): void => {
    if (entries.length <= LEAF) return leaf(entries);
    const mid = entries.length >> 1;
    const upper = asm.fresh('upper');
    asm.jump(BPF.JGE_K, entries[mid]!.nr, 0, 1);
    asm.ja(upper);
    range(entries.slice(0, mid));
    asm.label(upper);
    range(entries.slice(mid));
  };
  range(plans);
  for (const { label, plan } of bodies) {
    asm.label(label);
    for (const rule of plan.conditional) {
      const fail = asm.fresh('next');
      for (const c of rule.conditions) emitCondition(asm, c, fail);
      asm.ret(rule.ret);
      asm.label(fail);
    }
    asm.ret(plan.fallback);
  }
  if (asm.code.length > MAX_INSNS) {
    throw invalidArgument(
      `linux.seccomp: the compiled filter has ${asm.code.length} instructions, more than the kernel's limit of ${MAX_INSNS}`,
      { details: { field: 'linux.seccomp' } },
    );
  }
  const program = asm.resolve();
  return { program, bytes: encode(program), flags: checked.flags, checked };
}

/** checkProfile + compileChecked: errors name fields under `field`. */
export function compileProfile(profile: Seccomp, field = 'linux.seccomp'): CompiledFilter {
  return compileChecked(checkProfile(profile, field));
}
