// What a container run may leave behind, looked up by its unique id: the runtime's
// state directory, cgroup directories named after it, and processes still in them.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(dir, e.name));
  } catch {
    return [];
  }
}

/** The hierarchies under /sys/fs/cgroup (v1 controllers, the unified mount), or the cgroup2 root itself. */
function hierarchies(): string[] {
  try {
    if (existsSync(join(CGROUP_ROOT, 'cgroup.controllers'))) return [CGROUP_ROOT];
  } catch {
    // fall through
  }
  return subdirs(CGROUP_ROOT).filter((d) => existsSync(join(d, 'cgroup.procs')));
}

/**
 * Cgroup directories whose name is `id`, one or two levels below a hierarchy's root (runc, crun: /<id>; berth:
 * /<parent>/<id>).
 */
function cgroupDirsNamed(id: string): string[] {
  const out: string[] = [];
  for (const h of hierarchies()) {
    const direct = join(h, id);
    if (existsSync(direct)) out.push(direct);
    for (const parent of subdirs(h)) {
      const nested = join(parent, id);
      try {
        if (statSync(nested).isDirectory()) out.push(nested);
      } catch {
        // absent
      }
    }
  }
  return out;
}

/** Pids whose cgroup path (any hierarchy) has a component equal to `id`. */
function processesInCgroupsNamed(id: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${name}/cgroup`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    for (const line of text.split('\n')) {
      const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
      if (path.split('/').includes(id)) {
        pids.push(Number(name));
        break;
      }
    }
  }
  return pids;
}

/**
 * Everything container `id` left: `<stateRoot>/<id>` (when a state root is given),
 * cgroup directories named `id`, and processes in such cgroups, one line each.
 * Empty when the run cleaned up. Cost: a scan of /proc and two levels of each cgroup hierarchy.
 */
export function leftoversOf(id: string, stateRoot?: string): string[] {
  const out: string[] = [];
  if (stateRoot !== undefined && existsSync(join(stateRoot, id))) out.push(`state directory ${join(stateRoot, id)}`);
  for (const dir of cgroupDirsNamed(id)) out.push(`cgroup ${dir}`);
  for (const pid of processesInCgroupsNamed(id)) out.push(`process ${pid}`);
  return out;
}
