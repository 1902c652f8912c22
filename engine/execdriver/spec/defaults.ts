// The config.json `berth-runtime spec` writes: the shape `runc spec` generates, with
// Docker's default capability set, masked paths and read-only paths.
import { dockerDefaultProfile } from '../seccomp/docker-default.js';
import type { Mount, Spec } from './types.js';

/** Docker's default capabilities (moby oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Paths a container must not read: masked by a bind of /dev/null (files) or an empty read-only tmpfs (dirs). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Paths remounted read-only inside the container. */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** The mounts `runc spec` lists, in its order (cgroup mount left out: see defaultSpec). */
export const DEFAULT_MOUNTS: readonly Mount[] = [
  { destination: '/proc', type: 'proc', source: 'proc' },
  {
    destination: '/dev',
    type: 'tmpfs',
    source: 'tmpfs',
    options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
  },
  {
    destination: '/dev/pts',
    type: 'devpts',
    source: 'devpts',
    options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
  },
  {
    destination: '/dev/shm',
    type: 'tmpfs',
    source: 'shm',
    options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
  },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
];

export const DEFAULT_ENV: readonly string[] = [
  'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'TERM=xterm',
];

export interface DefaultSpecOptions {
  /** The process argv; `runc spec` uses ["sh"]. */
  args?: string[];
  /** root.path, relative to the bundle; "rootfs" by default. */
  rootfs?: string;
  /**
   * runc spec sets a terminal; berth defaults to none: a terminal needs --console-socket (a foreground run does not
   * pass one through to its own stdio).
   */
  terminal?: boolean;
  hostname?: string;
  /**
   * Add Docker's default seccomp profile for the spec's capabilities (berth's own bundles, like Docker); `runc spec`
   * emits none, so off by default.
   */
  seccomp?: boolean;
}

/**
 * A fresh spec like `runc spec` writes: uid 0, cwd /, read-only rootfs, NOFILE 1024,
 * noNewPrivileges, namespaces pid/network/ipc/uts/mount/cgroup, every device denied
 * (the runtime adds the standard /dev nodes itself). Differences from runc, on purpose:
 * Docker's capability set instead of runc's three, no /sys/fs/cgroup mount (a container
 * sees its cgroups only when its spec asks, as with a `cgroup` mount from `runc spec`),
 * terminal off unless asked. Pure; returns a new object.
 */
export function defaultSpec(options: DefaultSpecOptions = {}): Spec {
  const caps = [...DEFAULT_CAPABILITIES];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: options.terminal ?? false,
      user: { uid: 0, gid: 0 },
      args: options.args ? [...options.args] : ['sh'],
      env: [...DEFAULT_ENV],
      cwd: '/',
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: options.rootfs ?? 'rootfs', readonly: true },
    hostname: options.hostname ?? 'berth',
    mounts: DEFAULT_MOUNTS.map((m) => ({ ...m, ...(m.options ? { options: [...m.options] } : {}) })),
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [
        { type: 'pid' },
        { type: 'network' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        { type: 'cgroup' },
      ],
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      ...(options.seccomp ? { seccomp: dockerDefaultProfile(caps) } : {}),
    },
  };
}
