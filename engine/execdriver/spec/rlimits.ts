// POSIX resource limit names ↔ the numbers setrlimit(2) takes on Linux
// (asm-generic/resource.h, the same on x86-64 and arm64).

export const RLIMIT_NAMES: readonly string[] = [
  'RLIMIT_CPU',
  'RLIMIT_FSIZE',
  'RLIMIT_DATA',
  'RLIMIT_STACK',
  'RLIMIT_CORE',
  'RLIMIT_RSS',
  'RLIMIT_NPROC',
  'RLIMIT_NOFILE',
  'RLIMIT_MEMLOCK',
  'RLIMIT_AS',
  'RLIMIT_LOCKS',
  'RLIMIT_SIGPENDING',
  'RLIMIT_MSGQUEUE',
  'RLIMIT_NICE',
  'RLIMIT_RTPRIO',
  'RLIMIT_RTTIME',
];

const numbers = new Map(RLIMIT_NAMES.map((name, i) => [name, i]));

/** The resource number of "RLIMIT_NOFILE" (7), or undefined for an unknown name. */
export function rlimitNumber(name: string): number | undefined {
  return numbers.get(name);
}

/** RLIM_INFINITY as config.json writes it (2^64-1 does not fit a JSON number exactly). */
export const RLIM_INFINITY = 2 ** 64 - 1;

/** True when a config.json limit value means "unlimited" (2^64-1, or -1 as some tools write it). */
export function isInfinity(value: number): boolean {
  return value === -1 || value >= 2 ** 64 - 1;
}
