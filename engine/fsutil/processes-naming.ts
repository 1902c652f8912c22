// Finding processes in /proc by a word of their command line, and a process's children: how the bench's teardowns,
// its memory reads and the tests find what a private daemon started (the daemon, its proxies, shims).
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

/**
 * Pids of the children of `pid` (zombies included): those of every one of its threads, as
 * /proc/<pid>/task/<tid>/children lists only what that thread started (a Go daemon forks from whichever thread runs
 * the call; berth's native core clones from threads of its own). A thread that ends between the listing and the read
 * is skipped (its children pass to a live thread); a process that is gone has none.
 */
export function childrenOf(pid: number | 'self'): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const pids: number[] = [];
  for (const tid of tasks) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ESRCH') continue;
      throw err;
    }
    if (text !== '') pids.push(...text.split(/\s+/).map(Number));
  }
  return pids;
}
