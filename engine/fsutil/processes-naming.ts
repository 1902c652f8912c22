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
 * Pids of the children of `pid` (zombies included), from the parent field of every process's /proc/<n>/stat: the
 * thread group's id whichever of its threads started the child (a Go daemon forks from any thread; berth's native core
 * clones from threads of its own, which end), so, unlike /proc/<pid>/task/<tid>/children read thread by thread, a child
 * is never missed while its starting thread ends and it passes to another. A process that ends meanwhile is left out.
 */
export function childrenOf(pid: number | 'self'): number[] {
  const parent = pid === 'self' ? process.pid : pid;
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ', 2)[1]);
    if (ppid === parent) out.push(Number(name));
  }
  return out;
}
