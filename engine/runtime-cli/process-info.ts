// What /proc says about a container's init: alive or not, and its start time, so a
// recycled pid is never mistaken for the container (runc checks the same).
import { readFileSync } from 'node:fs';

export interface ProcessInfo {
  /** Field 22 of /proc/<pid>/stat, in clock ticks since boot. */
  startTime: string;
  /** Field 3: R, S, D, Z, T, … */
  state: string;
}

/** Reads /proc/<pid>/stat; undefined when the process does not exist. Cheap (one small read). */
export function processInfo(pid: number): ProcessInfo | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0], startTime: fields[19] };
}

/** True when `pid` runs and is the same process that started at `startTime` (not a zombie). */
export function isSameProcessAlive(pid: number, startTime: string | undefined): boolean {
  const info = processInfo(pid);
  if (info === undefined || info.state === 'Z' || info.state === 'X') return false;
  return startTime === undefined || info.startTime === startTime;
}
