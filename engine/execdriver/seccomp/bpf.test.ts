// The struct sock_filter encoding: byte layout, the round trip through decode, and refusal of fields out of range.
import { describe, expect, it } from 'vitest';
import { BPF, decode, encode, type Insn } from './bpf.js';

describe('bpf encode', () => {
  it('lays out code, jt, jf and k little-endian, 8 bytes per instruction', () => {
    const bytes = encode([{ code: 0x1234, jt: 0xab, jf: 0xcd, k: 0x89abcdef }]);
    expect([...bytes]).toEqual([0x34, 0x12, 0xab, 0xcd, 0xef, 0xcd, 0xab, 0x89]);
  });

  it('round-trips through decode at the edges of every field (k as unsigned 32-bit)', () => {
    const program: Insn[] = [
      { code: 0, jt: 0, jf: 0, k: 0 },
      { code: 0xffff, jt: 255, jf: 255, k: 0xffffffff },
      { code: BPF.JEQ_K, jt: 1, jf: 200, k: 0x7fffffff },
      { code: BPF.RET_K, jt: 0, jf: 0, k: 0x80000000 },
    ];
    expect(decode(encode(program))).toEqual(program);
    // a negative k is its 32-bit two's complement
    expect(decode(encode([{ code: BPF.RET_K, jt: 0, jf: 0, k: -1 }]))[0]!.k).toBe(0xffffffff);
  });

  it('refuses a field out of its range, naming the instruction', () => {
    const ok = { code: BPF.JA, jt: 0, jf: 0, k: 0 };
    expect(() => encode([ok, { ...ok, jt: 256 }])).toThrow(/instruction 1 out of range/);
    expect(() => encode([{ ...ok, jf: -1 }])).toThrow(/instruction 0 out of range/);
    expect(() => encode([{ ...ok, code: 0x10000 }])).toThrow(/out of range/);
    expect(() => encode([{ ...ok, code: Number.NaN }])).toThrow(/out of range/);
  });
});
