// Where berth's package lives on disk, found from any module. Files that sit beside
// the code (the native addon, workload binaries, JSON schemas) are located through
// it, so the code also works when bundled into one file somewhere else in the tree.
// It lives in native/, which needs it for the addon and imports nothing of the engine.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The folder holding berth's package.json; found once by walking up from this module. */
export function packageRoot(): string {
  if (root !== undefined) return root;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'berth') return (root = dir);
      } catch {
        // an unreadable package.json on the way up is not ours
      }
    }
    if (dirname(dir) === dir) throw new Error(`berth package root: no package.json named "berth" above ${start}`);
  }
}

/** A path inside berth's package: packagePath('native', 'build') → <root>/native/build. */
export function packagePath(...segments: string[]): string {
  return join(packageRoot(), ...segments);
}
