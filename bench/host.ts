// Describes the host a benchmark ran on (kernel, CPU, memory, the data root's
// filesystem, cgroup layout, peer engines), so results from different hosts are never
// compared blindly and a reader can tell why two runs differ.

import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, readFile, realpath, stat } from 'node:fs/promises';
import os from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import type { HostInfo, PeerInfo } from './results/document.js';

/** The tools recorded in `peers` unless the caller names others. */
export const PEER_TOOLS = [
  'docker',
  'dockerd',
  'containerd',
  'podman',
  'runc',
  'crun',
  'docker-registry',
  'skopeo',
  'umoci',
  'iperf3',
  'hyperfine',
] as const;

/** One line of /proc/self/mountinfo (proc(5)), with escapes (`\040` …) decoded. */
export interface MountEntry {
  mountId: number;
  parentId: number;
  /** `major:minor` of the device. */
  device: string;
  /** Path inside the filesystem that is mounted (not `/` for bind mounts). */
  root: string;
  mountPoint: string;
  /** Per-mount options (rw, relatime, nosuid, …). */
  options: string;
  /** Optional fields (shared:N, master:N, …). */
  optional: string[];
  fstype: string;
  source: string;
  /** Per-superblock options (the filesystem's own, e.g. discard). */
  superOptions: string;
}

/** Decodes the octal escapes the kernel writes for space, tab, newline and backslash. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * Parses the text of /proc/<pid>/mountinfo. Lines that do not have the documented
 * shape (`id parent maj:min root point options [optional…] - fstype source superopts`)
 * are skipped. Pure, O(size of the text).
 */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    const sep = fields.indexOf('-', 6);
    if (fields.length < 7 || sep < 0 || fields.length < sep + 3) continue;
    const mountId = Number(fields[0]);
    const parentId = Number(fields[1]);
    if (!Number.isInteger(mountId) || !Number.isInteger(parentId)) continue;
    entries.push({
      mountId,
      parentId,
      device: fields[2],
      root: unescapeMountField(fields[3]),
      mountPoint: unescapeMountField(fields[4]),
      options: fields[5],
      optional: fields.slice(6, sep),
      fstype: fields[sep + 1],
      source: unescapeMountField(fields[sep + 2]),
      superOptions: fields[sep + 3] ?? '',
    });
  }
  return entries;
}

/**
 * The mount a path lives on: the entry whose mount point is the longest prefix of
 * `path` at a component boundary; of mounts stacked on the same point the last
 * listed (the one on top). `path` must be absolute and already resolved (no
 * symlinks, no `..`). Undefined when nothing matches. Pure, O(entries).
 */
export function findMount(entries: readonly MountEntry[], path: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const e of entries) {
    const mp = e.mountPoint;
    const covers = mp === '/' || path === mp || path.startsWith(`${mp}/`);
    if (covers && (best === undefined || mp.length >= best.mountPoint.length)) best = e;
  }
  return best;
}

/** Super options of a v1 cgroup mount that are not controllers. */
const CGROUP_V1_NON_CONTROLLERS = new Set([
  'rw',
  'ro',
  'none',
  'noprefix',
  'clone_children',
  'xattr',
  'cpuset_v2_mode',
  'favordynmods',
]);

export interface CgroupLayout {
  version: 'v1' | 'v2' | 'hybrid';
  /** Mount point of the cgroup2 hierarchy, if any. */
  v2Path: string | null;
  /** Controllers bound to v1 hierarchies, sorted. */
  v1Controllers: string[];
}

/**
 * Classifies the cgroup layout from mountinfo entries: v1 when only v1 hierarchies
 * carry controllers, v2 when only a cgroup2 hierarchy is mounted (named v1
 * hierarchies such as name=systemd do not count), hybrid when v1 controllers and a
 * cgroup2 mount coexist (systemd's hybrid layout, cgroup2 at /sys/fs/cgroup/unified).
 * With no cgroup mount at all it reports v1 with nothing in it. Pure, O(entries).
 */
export function detectCgroupLayout(entries: readonly MountEntry[]): CgroupLayout {
  const v1 = new Set<string>();
  const v2Mounts: string[] = [];
  for (const e of entries) {
    if (e.fstype === 'cgroup2') v2Mounts.push(e.mountPoint);
    if (e.fstype !== 'cgroup') continue;
    for (const opt of e.superOptions.split(',')) {
      if (opt === '' || opt.includes('=') || CGROUP_V1_NON_CONTROLLERS.has(opt)) continue;
      v1.add(opt);
    }
  }
  const v2Path =
    v2Mounts.find((p) => p === '/sys/fs/cgroup') ??
    v2Mounts.find((p) => p === '/sys/fs/cgroup/unified') ??
    v2Mounts[0] ??
    null;
  const version = v2Path === null ? 'v1' : v1.size > 0 ? 'hybrid' : 'v2';
  return { version, v2Path, v1Controllers: [...v1].sort() };
}

/**
 * A clean version number from a tool's `--version` output: the first token shaped
 * like `1.2`, `1.2.3` or `v1.2.3-rc.1`, without distribution suffixes (`+ds1`, `~ds1`):
 * "runc version 1.1.5+ds1" → "1.1.5", "iperf 3.12 (cJSON 1.7.15)" → "3.12".
 * Null when there is none. Pure.
 */
export function parseVersion(output: string): string | null {
  const m = /(?<![\w.])v?(\d+(?:\.\d+){1,3}(?:-(?:rc|alpha|beta|dev|pre)\.?\d*)?)/.exec(output);
  return m ? m[1] : null;
}

/** Value of a `key: value` line of /proc/cpuinfo, first occurrence. */
function cpuinfoField(text: string, key: string): string | undefined {
  const m = new RegExp(`^${key}\\s*:\\s*(.*)$`, 'm').exec(text);
  return m ? m[1].trim() : undefined;
}

/** PRETTY_NAME of an os-release(5) text, unquoted; undefined when absent. */
export function parseOsRelease(text: string): string | undefined {
  const m = /^PRETTY_NAME=(.*)$/m.exec(text);
  if (!m) return undefined;
  const v = m[1].trim();
  return /^(["']).*\1$/.test(v) ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Real path of `path`, resolving through its nearest existing ancestor when it does not exist yet. */
async function resolveExisting(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    return await realpath(abs);
  } catch {
    const parent = dirname(abs);
    if (parent === abs) return abs;
    return join(await resolveExisting(parent), basename(abs));
  }
}

/** First executable named `name` on PATH or in the sbin directories root's PATH usually has. */
async function findExecutable(name: string): Promise<string | null> {
  const dirs = [
    ...(process.env.PATH ?? '').split(delimiter),
    '/usr/local/sbin',
    '/usr/local/bin',
    '/usr/sbin',
    '/usr/bin',
    '/sbin',
    '/bin',
  ];
  for (const dir of new Set(dirs.filter((d) => d.startsWith('/')))) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** Finds one peer tool and asks its version; never throws (absent or mute tools give nulls). */
async function probePeer(name: string, timeoutMs: number): Promise<PeerInfo> {
  const path = await findExecutable(name);
  if (path === null) return { found: false, version: null, path: null };
  try {
    const r = await execa(path, ['--version'], {
      timeout: timeoutMs,
      reject: false,
      stdin: 'ignore',
      all: true,
      env: { LC_ALL: 'C' },
    });
    return { found: true, version: parseVersion(String(r.all ?? '')), path };
  } catch {
    return { found: true, version: null, path };
  }
}

export interface CollectHostOptions {
  /** Where benchmark data lives; its filesystem is recorded. Need not exist yet. */
  dataRoot: string;
  /** Tools to record in `peers` (default PEER_TOOLS). */
  peers?: readonly string[];
  /** Time each `<tool> --version` may take (default 3000 ms). */
  versionTimeoutMs?: number;
}

/**
 * Short sha256 (16 hex digits) of what makes two hosts comparable: arch, CPU model,
 * logical cores, memory (MiB), kernel release, the data root's filesystem and the
 * cgroup version. Host name, load and peers are left out. Pure.
 */
export function hostFingerprint(
  h: Pick<HostInfo, 'arch' | 'cpu' | 'memoryBytes' | 'kernel' | 'dataRoot' | 'cgroup'>,
): string {
  const key = JSON.stringify([
    h.arch,
    h.cpu.model,
    h.cpu.cores,
    Math.round(h.memoryBytes / 2 ** 20),
    h.kernel,
    h.dataRoot.filesystem,
    h.cgroup.version,
  ]);
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/**
 * Describes this host for a result document, reading /proc, /etc/os-release and the
 * cgroup root and running `<tool> --version` for each peer (in parallel, each bounded
 * by versionTimeoutMs). Never throws: missing files and tools give fallbacks or
 * nulls (an unreadable /proc/self/mountinfo gives filesystem 'unknown'). Idempotent
 * apart from the load average. Cost: a few file reads plus the slowest peer's
 * `--version`.
 */
export async function collectHostInfo(opts: CollectHostOptions): Promise<HostInfo> {
  const timeoutMs = opts.versionTimeoutMs ?? 3000;
  const peerNames = opts.peers ?? PEER_TOOLS;
  const [cpuinfo, meminfo, osRelease, usrOsRelease, mountinfo, dataPath, peerList] = await Promise.all([
    readText('/proc/cpuinfo'),
    readText('/proc/meminfo'),
    readText('/etc/os-release'),
    readText('/usr/lib/os-release'),
    readText('/proc/self/mountinfo'),
    resolveExisting(opts.dataRoot),
    Promise.all(peerNames.map(async (name) => [name, await probePeer(name, timeoutMs)] as const)),
  ]);

  const cpus = os.cpus();
  const processors = cpuinfo ? (cpuinfo.match(/^processor\s*:/gm) ?? []).length : 0;
  const mhzText = cpuinfo ? cpuinfoField(cpuinfo, 'cpu MHz') : undefined;
  const mhz = mhzText !== undefined && Number.isFinite(Number(mhzText)) ? Number(mhzText) : cpus[0]?.speed || null;
  const cpu = {
    model: (cpuinfo && cpuinfoField(cpuinfo, 'model name')) || cpus[0]?.model || 'unknown',
    // unknown stays unknown: a guessed 1 would file the run under a host class it is not
    cores: processors || cpus.length || null,
    mhz,
  };

  const memKb = meminfo ? /^MemTotal:\s*(\d+)\s*kB/m.exec(meminfo)?.[1] : undefined;
  const memoryBytes = memKb !== undefined ? Number(memKb) * 1024 : os.totalmem();

  const mounts = parseMountInfo(mountinfo ?? '');
  const mount = findMount(mounts, dataPath);
  const dataRoot = {
    path: dataPath,
    filesystem: mount?.fstype ?? 'unknown',
    mountPoint: mount?.mountPoint ?? null,
    mountSource: mount?.source ?? null,
    mountOptions: mount?.options ?? null,
    superOptions: mount?.superOptions ?? null,
  };

  const layout = detectCgroupLayout(mounts);
  const v2Controllers = layout.v2Path
    ? ((await readText(join(layout.v2Path, 'cgroup.controllers'))) ?? '').split(/\s+/).filter(Boolean)
    : [];
  const cgroup = {
    version: layout.version,
    v2Path: layout.v2Path,
    controllers: [...new Set([...layout.v1Controllers, ...v2Controllers])].sort(),
  };

  const kernel = os.release();
  const arch = process.arch;
  const [l1, l5, l15] = os.loadavg();
  return {
    hostname: os.hostname(),
    kernel,
    os:
      (osRelease && parseOsRelease(osRelease)) ||
      (usrOsRelease && parseOsRelease(usrOsRelease)) ||
      `${os.type()} ${kernel}`,
    arch,
    cpu,
    memoryBytes,
    dataRoot,
    cgroup,
    node: process.version,
    loadAverage: [l1, l5, l15],
    peers: Object.fromEntries(peerList),
    fingerprint: hostFingerprint({ arch, cpu, memoryBytes, kernel, dataRoot, cgroup }),
  };
}

/**
 * A warning sentence when the 1-minute load average exceeds `perCore` (default 0.5)
 * per core, undefined otherwise: a busy host makes every number noisier. `load`
 * defaults to the current 1-minute load average. Pure apart from reading the load.
 */
/** The first `cpu` line of /proc/stat: jiffies spent busy and in total, all CPUs together. */
export function parseProcStatCpu(text: string): { busy: number; total: number } {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) throw new Error('/proc/stat: no "cpu" line');
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], total };
}

/**
 * The share of all CPUs that were busy during `windowMs` while this process waited:
 * the work of other processes (and of this one's leftovers), unlike the load
 * average, which still carries the benchmark's own previous minutes. 0..1.
 */
export async function hostCpuBusy(windowMs = 500): Promise<number> {
  const before = parseProcStatCpu(await readFile('/proc/stat', 'utf8'));
  await new Promise((r) => setTimeout(r, windowMs));
  const after = parseProcStatCpu(await readFile('/proc/stat', 'utf8'));
  const total = after.total - before.total;
  return total > 0 ? Math.min(1, Math.max(0, (after.busy - before.busy) / total)) : 0;
}

/** A warning when other work kept more than `limit` of the CPUs busy in the idle window. */
export function cpuBusyWarning(fraction: number, windowMs: number, limit = 0.2): string | undefined {
  if (!(fraction > limit)) return undefined;
  return `host busy: other work kept ${(fraction * 100).toFixed(0)} % of the CPUs busy in a ${windowMs} ms idle window before it (more than ${(limit * 100).toFixed(0)} %); numbers may be noisy`;
}

export function loadAverageWarning(cores: number, load: number = os.loadavg()[0], perCore = 0.5): string | undefined {
  const limit = perCore * Math.max(1, cores);
  if (!(load > limit)) return undefined;
  return `host busy: 1-minute load average ${load.toFixed(2)} exceeds ${perCore} per core (${cores} cores); numbers may be noisy`;
}
