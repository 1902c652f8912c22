// Classic BPF as seccomp uses it: the instruction encoding (struct sock_filter) and an
// interpreter over struct seccomp_data, so compiled filters can be checked in tests
// without loading them into the kernel.

/** One struct sock_filter. jt/jf are forward offsets 0-255; JA uses k (32-bit). */
export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export const BPF = {
  LD_W_ABS: 0x20, // BPF_LD | BPF_W | BPF_ABS
  JA: 0x05, // BPF_JMP | BPF_JA
  JEQ_K: 0x15, // BPF_JMP | BPF_JEQ | BPF_K
  JGT_K: 0x25, // BPF_JMP | BPF_JGT | BPF_K
  JGE_K: 0x35, // BPF_JMP | BPF_JGE | BPF_K
  JSET_K: 0x45, // BPF_JMP | BPF_JSET | BPF_K
  AND_K: 0x54, // BPF_ALU | BPF_AND | BPF_K
  RET_K: 0x06, // BPF_RET | BPF_K
} as const;

/** The kernel's limit on one filter's length (BPF_MAXINSNS). */
export const MAX_INSNS = 4096;

/** seccomp_data offsets: nr, arch, instruction_pointer, args[i] (little-endian halves). */
export const SECCOMP_DATA = {
  NR: 0,
  ARCH: 4,
  argLow: (i: number) => 16 + 8 * i,
  argHigh: (i: number) => 20 + 8 * i,
} as const;

/**
 * struct sock_filter[] as bytes (8 per instruction, host order = little-endian). Throws
 * on a field out of its range. Plain byte stores: Buffer's checked writeUInt*LE, called
 * four times per instruction, cost a command's cold start milliseconds for Docker's profile.
 */
export function encode(program: readonly Insn[]): Buffer {
  const buf = Buffer.alloc(program.length * 8);
  for (let i = 0, o = 0; i < program.length; i++, o += 8) {
    const { code, jt, jf } = program[i]!;
    const k = program[i]!.k >>> 0;
    if (!(code >= 0 && code <= 0xffff && jt >= 0 && jt <= 0xff && jf >= 0 && jf <= 0xff))
      throw new RangeError(`seccomp filter: instruction ${i} out of range (code ${code}, jt ${jt}, jf ${jf})`);
    buf[o] = code & 0xff;
    buf[o + 1] = code >>> 8;
    buf[o + 2] = jt;
    buf[o + 3] = jf;
    buf[o + 4] = k & 0xff;
    buf[o + 5] = (k >>> 8) & 0xff;
    buf[o + 6] = (k >>> 16) & 0xff;
    buf[o + 7] = k >>> 24;
  }
  return buf;
}

/** The inverse of encode. Throws on a length that is not a multiple of 8. */
export function decode(bytes: Uint8Array): Insn[] {
  if (bytes.length % 8 !== 0)
    throw new Error(`seccomp filter: ${bytes.length} bytes is not a whole number of instructions`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const out: Insn[] = [];
  for (let off = 0; off < buf.length; off += 8) {
    out.push({
      code: buf.readUInt16LE(off),
      jt: buf.readUInt8(off + 2),
      jf: buf.readUInt8(off + 3),
      k: buf.readUInt32LE(off + 4),
    });
  }
  return out;
}

/** What a filter sees of one system call. args are u64. */
export interface SeccompData {
  nr: number;
  arch: number;
  instructionPointer?: bigint;
  args: readonly bigint[];
}

function word(data: SeccompData, offset: number): number {
  if (offset === SECCOMP_DATA.NR) return data.nr >>> 0;
  if (offset === SECCOMP_DATA.ARCH) return data.arch >>> 0;
  const field = offset < 16 ? (data.instructionPointer ?? 0n) : (data.args[(offset - 16) >> 3] ?? 0n);
  const half = offset % 8 === 0 ? field & 0xffffffffn : (field >> 32n) & 0xffffffffn;
  if (offset % 4 !== 0 || offset >= 64)
    throw new Error(`seccomp filter: load at offset ${offset} outside seccomp_data`);
  return Number(half);
}

/**
 * Runs a filter on one system call and returns its SECCOMP_RET_* value, as the
 * kernel would. Supports the instructions seccomp filters use (LD W ABS, ALU AND K,
 * JA/JEQ/JGT/JGE/JSET K, RET K); throws on anything else, on a jump out of the
 * program or on falling off its end. `stats.executed` counts the instructions run.
 * Cost: one pass, no loops (jumps go forward).
 */
export function runFilter(program: readonly Insn[], data: SeccompData, stats?: { executed: number }): number {
  let a = 0;
  let pc = 0;
  while (pc < program.length) {
    const ins = program[pc]!;
    if (stats) stats.executed++;
    switch (ins.code) {
      case BPF.LD_W_ABS:
        a = word(data, ins.k);
        pc++;
        break;
      case BPF.AND_K:
        a = (a & ins.k) >>> 0;
        pc++;
        break;
      case BPF.JA:
        pc += 1 + ins.k;
        break;
      case BPF.JEQ_K:
        pc += 1 + (a === ins.k >>> 0 ? ins.jt : ins.jf);
        break;
      case BPF.JGT_K:
        pc += 1 + (a > ins.k >>> 0 ? ins.jt : ins.jf);
        break;
      case BPF.JGE_K:
        pc += 1 + (a >= ins.k >>> 0 ? ins.jt : ins.jf);
        break;
      case BPF.JSET_K:
        pc += 1 + ((a & ins.k) !== 0 ? ins.jt : ins.jf);
        break;
      case BPF.RET_K:
        return ins.k >>> 0;
      default:
        throw new Error(`seccomp filter: instruction ${pc}: unsupported opcode 0x${ins.code.toString(16)}`);
    }
  }
  throw new Error(`seccomp filter: ran past the end (pc ${pc} of ${program.length})`);
}
