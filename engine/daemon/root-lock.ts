// One daemon per --root: `<root>/berthd.lock` holds the owner's pid, created with
// O_EXCL. A lock whose process is gone (a daemon killed with SIGKILL) is taken
// over; one held by a live process makes the second daemon stop with an error
// naming the root and the pid.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { conflict } from '../errdefs/errors.js';

export interface RootLock {
  readonly path: string;
  release(): void;
}

function ownerOf(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Lock files this process holds (a second daemon in one process is refused too). */
const held = new Set<string>();

/** Takes the lock of `root` (which must exist). Fails CONFLICT while another live daemon holds it. */
export function lockRoot(root: string): RootLock {
  const path = join(root, 'berthd.lock');
  if (held.has(path))
    throw conflict(`root ${root}: another berthd (pid ${process.pid}) is using it (lock file ${path})`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      held.add(path);
      return {
        path,
        release() {
          held.delete(path);
          if (ownerOf(path) === process.pid) {
            try {
              unlinkSync(path);
            } catch {
              // already gone
            }
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = ownerOf(path);
    if (owner !== undefined && owner !== process.pid && alive(owner)) {
      throw conflict(`root ${root}: another berthd (pid ${owner}) is using it (lock file ${path})`);
    }
    try {
      unlinkSync(path);
    } catch {
      // a racing daemon removed it first; try again
    }
  }
  throw conflict(`root ${root}: lock file ${path} keeps reappearing`);
}
