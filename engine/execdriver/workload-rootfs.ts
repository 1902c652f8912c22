// Builds the smallest root filesystem a container test or benchmark needs: the
// static workload binaries of native/workloads (true, sleep, probe, echo, escape,
// http-server, tcp-sink, tcp-source, tty) in /bin and
// the empty directories the default spec mounts onto.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { unavailable } from '../errdefs/errors.js';
import { packagePath } from '../../native/package-root.js';

export const WORKLOADS = [
  'true',
  'sleep',
  'probe',
  'echo',
  'http-server',
  'tcp-sink',
  'tcp-source',
  'tty',
  'escape',
] as const;
export type Workload = (typeof WORKLOADS)[number];
/** Programs built with the workloads that no root filesystem gets: the benches run them on the host. */
export type HostTool = 'netns-floor';

const workloadsDir = packagePath('native', 'workloads');

/**
 * Path of the container init (native/workloads/init.c) that HostConfig.Init runs as
 * pid 1; built like the workloads when missing. UNAVAILABLE when it cannot be built.
 */
export function initBinary(): string {
  const path = join(workloadsDir, 'bin', 'init');
  if (!existsSync(path)) {
    try {
      execFileSync('sh', [join(workloadsDir, 'build.sh')], { stdio: 'pipe' });
    } catch (err) {
      throw unavailable(`container init: build failed (native/workloads/build.sh): ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  return path;
}

/**
 * Path of a built workload binary; builds them (native/workloads/build.sh, needs gcc and a static libc) when missing.
 */
export function workloadBinary(name: Workload | HostTool): string {
  const path = join(workloadsDir, 'bin', name);
  if (!existsSync(path)) {
    try {
      execFileSync('sh', [join(workloadsDir, 'build.sh')], { stdio: 'pipe' });
    } catch (err) {
      throw unavailable(`workload ${name}: build failed (native/workloads/build.sh): ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  return path;
}

/**
 * Fills `dir` (created if needed, mode 0755 so a user-namespaced root can enter it)
 * with every workload binary in /bin and the directories proc, sys, dev, tmp, etc.
 * Idempotent; cost: eight file copies (small static binaries).
 */
export function makeWorkloadRootfs(dir: string): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'bin'), 0o755);
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc']) mkdirSync(join(dir, d), { recursive: true, mode: 0o755 });
  chmodSync(join(dir, 'tmp'), 0o1777);
  for (const name of WORKLOADS) {
    const target = join(dir, 'bin', name);
    copyFileSync(workloadBinary(name), target);
    chmodSync(target, 0o755);
  }
  return dir;
}
