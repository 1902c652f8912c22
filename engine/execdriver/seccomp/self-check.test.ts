// The self-check names what a profile does to a call, in profile words.
import { describe, expect, it } from 'vitest';
import { dockerDefaultProfile } from './docker-default.js';
import { describeRet, parseCall, selfCheck } from './self-check.js';

describe('seccomp self-check', () => {
  it('reports Docker’s default verdicts for named calls', () => {
    const out = selfCheck(
      dockerDefaultProfile(['CAP_KILL']),
      ['read', 'unshare:268435456', 'personality:0xffffffff', 'personality:1', 'clone3'].map(parseCall),
    );
    expect(out.map((o) => o.action)).toEqual([
      'SCMP_ACT_ALLOW',
      'SCMP_ACT_ERRNO(1)',
      'SCMP_ACT_ALLOW',
      'SCMP_ACT_ERRNO(1)',
      'SCMP_ACT_ERRNO(38)',
    ]);
    expect(out[2]!.args).toEqual([0xffffffffn]);
  });

  it('names each action and refuses unknown calls and bad arguments', () => {
    expect([0x80000000, 0, 0x30000, 0x50005, 0x7ff00002, 0x7ffc0000, 0x7fff0000].map(describeRet)).toEqual([
      'SCMP_ACT_KILL_PROCESS',
      'SCMP_ACT_KILL_THREAD',
      'SCMP_ACT_TRAP',
      'SCMP_ACT_ERRNO(5)',
      'SCMP_ACT_TRACE(2)',
      'SCMP_ACT_LOG',
      'SCMP_ACT_ALLOW',
    ]);
    expect(() => selfCheck({ defaultAction: 'SCMP_ACT_ALLOW' }, [{ name: 'chown32' }])).toThrow(
      /"chown32" is not an x86_64 system call/,
    );
    expect(() => parseCall('read:x')).toThrow(/arguments must be integers/);
    expect(parseCall('ioctl:-1').args).toEqual([0xffffffffffffffffn]);
  });
});
