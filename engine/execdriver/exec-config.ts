// The native spawn config for an exec: a new process inside a running container.
// Every namespace of the container is joined through /proc/<pid>/ns (the pid
// namespace by the parent around clone, so the process is in the container's pid
// namespace); the process settings come from the exec's OCI Process, the seccomp
// filter from the container's spec (Docker applies the container's profile to exec).
import { invalidArgument } from '../errdefs/errors.js';
import type { NativeSpawnConfig } from '../../native/index.js';
import { nativeSeccomp } from './seccomp/native-filter.js';
import { capabilityMask } from './spec/capabilities.js';
import { isInfinity, rlimitNumber } from './spec/rlimits.js';
import type { NamespaceType, Process, Spec } from './spec/types.js';

/** The /proc/<pid>/ns entry of each namespace type. */
const nsFiles: Record<NamespaceType, string> = {
  pid: 'pid',
  network: 'net',
  mount: 'mnt',
  ipc: 'ipc',
  uts: 'uts',
  user: 'user',
  cgroup: 'cgroup',
};

/**
 * The config for `process` in the container whose process is `pid` and whose spec
 * is `spec`. INVALID_ARGUMENT naming the field for a process the core cannot run
 * (empty args, relative cwd, bad ids, unknown rlimit); no I/O.
 */
export function nativeExecConfig(
  spec: Spec,
  pid: number,
  process: Process,
  stdio: [number, number, number],
): NativeSpawnConfig {
  if (!Array.isArray(process.args) || process.args.length === 0 || process.args.some((a) => typeof a !== 'string')) {
    throw invalidArgument('exec process.args: must be a non-empty list of strings');
  }
  if (typeof process.cwd !== 'string' || !process.cwd.startsWith('/'))
    throw invalidArgument(`exec process.cwd: ${JSON.stringify(process.cwd)} is not absolute`);
  const ids = [process.user?.uid, process.user?.gid, ...(process.user?.additionalGids ?? [])];
  if (ids.some((id) => !Number.isInteger(id) || (id as number) < 0 || (id as number) > 0xfffffffe)) {
    throw invalidArgument('exec process.user: uid, gid and additionalGids must be integers 0-4294967294');
  }
  for (const e of process.env ?? []) {
    if (typeof e !== 'string' || !e.includes('='))
      throw invalidArgument(`exec process.env: ${JSON.stringify(e)} is not NAME=value`);
  }
  const namespaces = (spec.linux?.namespaces ?? []).map((ns) => {
    const file = nsFiles[ns.type];
    if (file === undefined)
      throw invalidArgument(`linux.namespaces: unknown namespace type ${JSON.stringify(ns.type)}`);
    return { type: ns.type, path: `/proc/${pid}/ns/${file}` };
  });
  if (!namespaces.some((ns) => ns.type === 'mount'))
    throw invalidArgument("linux.namespaces: exec needs the container's mount namespace");
  const caps = process.capabilities ?? {};
  const config: NativeSpawnConfig = {
    namespaces,
    uidMappings: [],
    gidMappings: [],
    rootfs: '/',
    rootPropagation: 0,
    readonlyRoot: false,
    mounts: [],
    maskedPaths: [],
    readonlyPaths: [],
    sysctl: [],
    rlimits: (process.rlimits ?? []).map((r, i) => {
      const resource = rlimitNumber(r.type);
      if (resource === undefined)
        throw invalidArgument(`exec process.rlimits[${i}].type: unknown rlimit ${JSON.stringify(r.type)}`);
      return { resource, soft: limit(r.soft), hard: limit(r.hard) };
    }),
    noNewPrivileges: process.noNewPrivileges === true,
    capabilities: {
      bounding: capabilityMask(caps.bounding ?? []),
      effective: capabilityMask(caps.effective ?? []),
      permitted: capabilityMask(caps.permitted ?? []),
      inheritable: capabilityMask(caps.inheritable ?? []),
      ambient: capabilityMask(caps.ambient ?? []),
    },
    uid: process.user.uid,
    gid: process.user.gid,
    additionalGids: process.user.additionalGids ?? [],
    cwd: process.cwd,
    args: process.args,
    env: process.env ?? [],
    stdio,
    exec: true,
  };
  if (process.user.umask !== undefined) config.umask = process.user.umask;
  if (process.terminal === true)
    config.terminal = { rows: process.consoleSize?.height ?? 0, cols: process.consoleSize?.width ?? 0 };
  if (spec.linux?.seccomp !== undefined)
    config.seccomp = nativeSeccomp(spec.linux.seccomp, config.noNewPrivileges, {
      ambient: config.capabilities!.ambient !== 0n,
    });
  return config;
}

function limit(value: number): bigint {
  return isInfinity(value) ? 2n ** 64n - 1n : BigInt(Math.trunc(value));
}
