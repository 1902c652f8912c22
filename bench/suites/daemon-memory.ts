// A daemon's memory as the suites report it: RSS and PSS from
// /proc/<pid>/smaps_rollup, summed over the daemon's processes (berthd alone;
// dockerd, its containerd and every containerd-shim), read a few times apart; and the
// plain VmRSS reads of the run suite's idle-daemon figures.
import { readFileSync } from 'node:fs';
import { IDLE_TRIM_MS } from '../../engine/daemon/idle-trim.js';
import { unavailable } from '../../engine/errdefs/errors.js';

export interface MemoryFigure {
  /** Resident set, KiB: shared pages counted fully in each process. */
  rssKiB: number;
  /** Proportional set, KiB: each shared page divided among the processes mapping it. */
  pssKiB: number;
}

/** Rss and Pss of `pid` from /proc/<pid>/smaps_rollup, or undefined when the process is gone. */
export function smapsRollup(pid: number): MemoryFigure | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (m === null) throw unavailable(`process ${pid}: no ${name} line in /proc/${pid}/smaps_rollup`);
    return Number(m[1]);
  };
  return { rssKiB: field('Rss'), pssKiB: field('Pss') };
}

/** The sum of smapsRollup over `pids`; a process gone meanwhile fails it (UNAVAILABLE, naming the pid). */
export function summedMemory(pids: readonly number[]): MemoryFigure {
  let rssKiB = 0;
  let pssKiB = 0;
  for (const pid of pids) {
    const m = smapsRollup(pid);
    if (m === undefined) throw unavailable(`process ${pid}: gone while its memory was read`);
    rssKiB += m.rssKiB;
    pssKiB += m.pssKiB;
  }
  return { rssKiB, pssKiB };
}

/** `n` reads (MiB) of the summed RSS and PSS of the processes `pids()` names at each read, 50 ms apart. */
export async function memoryReads(
  pids: () => readonly number[],
  n = 5,
): Promise<{ rss: number[]; pss: number[]; processes: number }> {
  const rss: number[] = [];
  const pss: number[] = [];
  let processes = 0;
  for (let i = 0; i < n; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const list = pids();
    processes = list.length;
    const m = summedMemory(list);
    rss.push(m.rssKiB / 1024);
    pss.push(m.pssKiB / 1024);
  }
  return { rss, pss, processes };
}

/** VmRSS of `pid` in KiB (from /proc/<pid>/status), or undefined when the process is gone. */
export function vmRssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** `n` reads of the summed VmRSS (MiB) of `pids`, 50 ms apart; a process gone meanwhile fails it (UNAVAILABLE). */
export async function rssReads(pids: readonly number[], n = 5): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    await new Promise((r) => setTimeout(r, 50));
    let kib = 0;
    for (const pid of pids) {
      const v = vmRssKiB(pid);
      if (v === undefined) throw unavailable(`process ${pid}: gone while its RSS was read`);
      kib += v;
    }
    out.push(kib / 1024);
  }
  return out;
}

/**
 * How long a daemon is left without requests before its idle RSS is read: past berthd's allocator trim (idle-trim.ts),
 * which gives back what a burst of work (a pull, the runs) freed. A read before it counts that freed memory, which an
 * idle daemon does not hold.
 */
export const IDLE_READ_WAIT_MS = IDLE_TRIM_MS + 1000;

/**
 * `n` reads (MiB) of the summed VmRSS of `pids` (rssReads) once they idled IDLE_READ_WAIT_MS: the caller sends them
 * no request meanwhile. The wait is the idle time being measured, not a synchronisation; every daemon a suite
 * compares is read after the same wait.
 */
export async function idleRssReads(pids: number | readonly number[], n = 5): Promise<number[]> {
  await new Promise((r) => setTimeout(r, IDLE_READ_WAIT_MS));
  return rssReads(typeof pids === 'number' ? [pids] : pids, n);
}
