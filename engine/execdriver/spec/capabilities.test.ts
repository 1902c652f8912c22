// Capability and rlimit name tables: numbers match the kernel headers, host limits are read.
import { describe, expect, it } from 'vitest';
import {
  CAPABILITY_NAMES,
  capabilityMask,
  capabilityNumber,
  capabilityProblem,
  hostCapabilities,
} from './capabilities.js';
import { RLIMIT_NAMES, rlimitNumber } from './rlimits.js';

describe('capabilities', () => {
  it.each([
    ['CAP_CHOWN', 0],
    ['CAP_KILL', 5],
    ['CAP_NET_BIND_SERVICE', 10],
    ['CAP_SYS_ADMIN', 21],
    ['CAP_SYS_RESOURCE', 24],
    ['CAP_AUDIT_WRITE', 29],
    ['CAP_CHECKPOINT_RESTORE', 40],
  ])('%s is %i', (name, num) => {
    expect(capabilityNumber(name)).toBe(num);
    expect(CAPABILITY_NAMES[num]).toBe(name);
  });

  it('reads the host limits', () => {
    const host = hostCapabilities();
    expect(host.lastCap).toBeGreaterThanOrEqual(37);
    expect(host.bounding & 1n).toBe(1n); // CAP_CHOWN: root has it
  });

  it('explains why a capability cannot be granted', () => {
    const host = { lastCap: 37, bounding: capabilityMask(['CAP_CHOWN', 'CAP_KILL']) };
    expect(capabilityProblem('CAP_KILL', host)).toBeUndefined();
    expect(capabilityProblem('CAP_NOPE', host)).toBe('unknown capability "CAP_NOPE"');
    expect(capabilityProblem('CAP_BPF', host)).toBe("CAP_BPF is not known to this host's kernel (cap_last_cap 37)");
    expect(capabilityProblem('CAP_SYS_ADMIN', host)).toBe("CAP_SYS_ADMIN is not in this host's bounding set");
  });

  it('builds masks', () => {
    expect(capabilityMask(['CAP_CHOWN', 'CAP_KILL'])).toBe(0b100001n);
    expect(() => capabilityMask(['CAP_X'])).toThrow(/unknown capability "CAP_X"/);
  });
});

describe('rlimits', () => {
  it.each([
    ['RLIMIT_CPU', 0],
    ['RLIMIT_NPROC', 6],
    ['RLIMIT_NOFILE', 7],
    ['RLIMIT_AS', 9],
    ['RLIMIT_RTTIME', 15],
  ])('%s is %i', (name, num) => {
    expect(rlimitNumber(name)).toBe(num);
    expect(RLIMIT_NAMES[num]).toBe(name);
  });
  it('knows no other names', () => expect(rlimitNumber('RLIMIT_FOO')).toBeUndefined());
});
