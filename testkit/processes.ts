// What tests share to start helper processes and to check what a test left behind: this
// process's children, processes, mounts and iptables rules naming a test's unique word.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { onPath } from '../engine/fsutil/on-path.js';

import { childrenOf } from '../engine/fsutil/processes-naming.js';

export { processesNaming } from '../engine/fsutil/processes-naming.js';

/** Pids of this process's children, zombies included, whichever thread started them (engine/fsutil's childrenOf). */
export function childPids(): number[] {
  return childrenOf('self');
}

/** Lines of this process's mountinfo that contain `text`. */
export function mountsContaining(text: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(text));
}

/**
 * iptables rules (all tables) that name `word`. Throws when iptables-save is not on PATH: a "no rule left" check
 * cannot be made there, so a test that relies on it is gated on `tool('iptables-save', 'iptables')`.
 */
export function iptablesRulesNaming(word: string): string[] {
  if (onPath('iptables-save') === undefined)
    throw new Error(`iptables rules naming ${word}: cannot check, iptables-save is not on PATH`);
  return execFileSync('iptables-save', { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(word));
}

/** How a child ended. */
export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves when `child` has exited (at once when it already has). */
export function exited(child: ChildProcess): Promise<Ended> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * Helper processes a test starts (to put into a cgroup, a namespace, …), remembered so that
 * killAll() ends those still running, by pid, also after a failed test.
 */
export class TestProcesses {
  private readonly started: ChildProcess[] = [];

  /** `sh -c SCRIPT` that first waits for one line on stdin (write it once the process is placed); stderr piped. */
  gated(script: string): ChildProcess {
    return this.track(spawn('sh', ['-c', `read line; ${script}`], { stdio: ['pipe', 'ignore', 'pipe'] }));
  }

  /** `sleep SECONDS`. */
  sleeper(seconds = 600): ChildProcess {
    return this.track(spawn('sleep', [String(seconds)], { stdio: 'ignore' }));
  }

  /** A shell busy loop: it uses CPU until killed. */
  busy(): ChildProcess {
    return this.track(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
  }

  /** SIGKILLs every started process still running and waits for each to exit. */
  async killAll(): Promise<void> {
    for (const child of this.started.splice(0)) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await exited(child);
      }
    }
  }

  private track(child: ChildProcess): ChildProcess {
    this.started.push(child);
    return child;
  }
}
