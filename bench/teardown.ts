// Teardown that tries every step: each failure is noted with what failed, the
// rest still runs, and one error naming them all comes at the end. Also the steps
// the private daemons of the bench (berthd, dockerd) are torn down with.
import type { ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { processesNaming } from '../engine/fsutil/processes-naming.js';
import { createCgroupManager } from '../engine/execdriver/cgroups/manager.js';
import { MNT_DETACH, unmount } from '../engine/graphdriver/host-mount.js';
import { mountsUnder } from '../engine/graphdriver/mountinfo.js';
import type { Context } from '../engine/trace/index.js';
import { call, onPath } from './peers/index.js';

export class Teardown {
  private readonly failures: string[] = [];

  /** Runs fn; a failure is recorded as `what: message` instead of thrown. */
  async attempt(what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Throws one Error `<subject>: a; b; …` when any step failed. */
  finish(subject: string): void {
    if (this.failures.length > 0) throw new Error(`${subject}: ${this.failures.join('; ')}`);
  }
}

/** Resolves true once `child` exited, false after `ms` without an exit. */
export function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/**
 * Stops a daemon this process started: SIGTERM, then SIGKILL when it has not
 * exited after `graceMs`. Resolves 'stopped' (it ended on SIGTERM, or had ended
 * already) or 'killed'.
 */
export async function stopDaemonChild(child: ChildProcess, graceMs: number): Promise<'stopped' | 'killed'> {
  if (child.exitCode !== null || child.signalCode !== null) return 'stopped';
  child.kill('SIGTERM');
  if (await exited(child, graceMs)) return 'stopped';
  child.kill('SIGKILL');
  await exited(child, 5_000);
  return 'killed';
}

/** Unmounts (detached) what is mounted under `dir`, deepest first, and removes it; returns what failed. */
export async function unmountAndRemove(label: string, dir: string): Promise<string[]> {
  const failures: string[] = [];
  const mounts = (await mountsUnder(dir).catch(() => [] as string[])).sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      unmount(`${label} ${m}`, m, MNT_DETACH);
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return failures;
}

/** Deletes network interface `name` when it exists; returns the failure, if any. */
export async function deleteLinkIfPresent(name: string): Promise<string | undefined> {
  if (!existsSync(`/sys/class/net/${name}`)) return undefined;
  const r = await call(['ip', 'link', 'del', name]);
  return r.code === 0 ? undefined : `bridge ${name}: ${r.stderr.trim()}`;
}

/**
 * What a private daemon left on the host after its cleanup: iptables rules naming its bridge or carrying its owner
 * tag (`berth:<owner>:…`), the bridge, its cgroup parent in any hierarchy, mounts under its folder, the folder, and
 * processes naming the folder in their command line (the daemon, proxies). Empty when the host is clean.
 */
export async function hostLeftovers(
  ctx: Context,
  what: { bridge?: string; owner?: string; cgroups?: string; dir?: string },
): Promise<string[]> {
  const left: string[] = [];
  if (onPath('iptables-save') !== undefined) {
    const r = await call(['iptables-save'], { captureStdout: true });
    const rules = r.stdout
      .split('\n')
      .filter(
        (l) =>
          l.startsWith('-A ') &&
          ((what.bridge !== undefined && new RegExp(`[ !]${what.bridge}( |$)`).test(l)) ||
            (what.owner !== undefined && l.includes(`berth:${what.owner}:`))),
      );
    if (rules.length > 0) left.push(`${rules.length} iptables rule(s): ${rules.join(' | ')}`);
  }
  if (what.bridge !== undefined && existsSync(`/sys/class/net/${what.bridge}`)) left.push(`bridge ${what.bridge}`);
  if (what.cgroups !== undefined) {
    const open = await createCgroupManager()
      .open(ctx, what.cgroups)
      .then(
        (cg) => cg.dirs.join(', '),
        () => undefined,
      );
    if (open !== undefined) left.push(`cgroup ${what.cgroups} (${open})`);
  }
  if (what.dir !== undefined) {
    const mounts = await mountsUnder(what.dir).catch(() => [] as string[]);
    if (mounts.length > 0) left.push(`mount(s) ${mounts.join(', ')}`);
    if (existsSync(what.dir)) left.push(`folder ${what.dir}`);
    const procs = processesNaming(what.dir);
    if (procs.length > 0) left.push(`process(es) ${procs.join(', ')} naming ${what.dir}`);
  }
  return left;
}
