// The checked-in syscall table matches this host's UAPI header (regenerate with
// gen-syscall-table.ts when it does not).
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { X86_64_SYSCALLS } from './syscalls-x86-64.js';
import { needs, when } from '../../../testkit/needs.js';

const header = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';

describe('x86_64 syscall table', () => {
  it('has the well-known numbers', () => {
    expect([
      X86_64_SYSCALLS.read,
      X86_64_SYSCALLS.execve,
      X86_64_SYSCALLS.mkdir,
      X86_64_SYSCALLS.unshare,
      X86_64_SYSCALLS.seccomp,
    ]).toEqual([0, 59, 83, 272, 317]);
  });

  needs(when(existsSync(header), `needs ${header} (apt package linux-libc-dev)`)).it(
    'agrees with the kernel header',
    () => {
      const fromHeader: Record<string, number> = {};
      for (const m of readFileSync(header, 'utf8').matchAll(/^#define __NR_(\w+)\s+(\d+)\s*$/gm))
        fromHeader[m[1]!] = Number(m[2]);
      expect({ ...X86_64_SYSCALLS }).toEqual(fromHeader);
    },
  );
});
