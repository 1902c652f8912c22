// Finding processes by a word of their command line in /proc: how the bench's teardowns and the tests check that
// nothing a private daemon started (the daemon, its proxies, shims) outlived it.
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Pids of processes other than this one, whatever their parent, whose command line contains `text`. One read of
 * /proc and of each process's cmdline; a process that ends meanwhile is left out. Never throws.
 */
export function processesNaming(text: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(text)) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
