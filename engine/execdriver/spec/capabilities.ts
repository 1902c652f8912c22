// Linux capability names ↔ numbers, and the host's limits on them: the kernel's
// highest capability (/proc/sys/kernel/cap_last_cap) and this process's bounding set.
import { readFileSync } from 'node:fs';

/** Capability names in kernel order: index = capability number (linux/capability.h). */
export const CAPABILITY_NAMES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

const numbers = new Map(CAPABILITY_NAMES.map((name, i) => [name, i]));

/** The number of a capability name ("CAP_KILL" → 5), or undefined when berth does not know it. */
export function capabilityNumber(name: string): number | undefined {
  return numbers.get(name);
}

/** What this host allows: the last capability its kernel knows and this process's bounding set. */
export interface HostCapabilities {
  /** /proc/sys/kernel/cap_last_cap. */
  lastCap: number;
  /** CapBnd of this process, as a bit mask. */
  bounding: bigint;
}

let cached: HostCapabilities | undefined;

/**
 * Reads the host's capability limits once per process (two small procfs reads) and
 * caches them. Falls back to the known list and a full bounding set when procfs is
 * unreadable, so validation still catches unknown names.
 */
export function hostCapabilities(): HostCapabilities {
  if (cached !== undefined) return cached;
  let lastCap = CAPABILITY_NAMES.length - 1;
  let bounding = (1n << BigInt(CAPABILITY_NAMES.length)) - 1n;
  try {
    lastCap = Number.parseInt(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim(), 10);
  } catch {
    // keep the known list
  }
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) bounding = BigInt(`0x${m[1]}`);
  } catch {
    // keep the full set
  }
  cached = { lastCap, bounding };
  return cached;
}

/** Why `name` cannot be granted on `host`, or undefined when it can. */
export function capabilityProblem(name: string, host: HostCapabilities = hostCapabilities()): string | undefined {
  const num = capabilityNumber(name);
  if (num === undefined) return `unknown capability ${JSON.stringify(name)}`;
  if (num > host.lastCap) return `${name} is not known to this host's kernel (cap_last_cap ${host.lastCap})`;
  if ((host.bounding & (1n << BigInt(num))) === 0n) return `${name} is not in this host's bounding set`;
  return undefined;
}

/** The bit mask of a list of capability names; throws on an unknown name. */
export function capabilityMask(names: readonly string[]): bigint {
  let mask = 0n;
  for (const name of names) {
    const num = capabilityNumber(name);
    if (num === undefined) throw new Error(`unknown capability ${JSON.stringify(name)}`);
    mask |= 1n << BigInt(num);
  }
  return mask;
}
