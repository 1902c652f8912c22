// Finding a command the way a shell would (the first executable on PATH), so that what
// berth and its tests look for follows PATH alone and a host without a tool is seen as one.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The first executable `name` on `path` (default: $PATH), or undefined. Never throws. */
export function onPath(name: string, path: string = process.env.PATH ?? DEFAULT_PATH): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, name);
    if (isExecutable(file)) return file;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
