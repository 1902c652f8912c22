// Links each of the package's own commands (package.json "bin") into node_modules/.bin,
// which npm does for dependencies but not for the package being installed: after
// `npm install` in a checkout, every berth command is then on PATH of `npm run`, `npx`
// and a shell that adds node_modules/.bin (README "Commands"). Run by the install script.
import { chmodSync, mkdirSync, readFileSync, readlinkSync, renameSync, symlinkSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's commands as name → file relative to the package root. */
export function packageBins(root) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  if (typeof pkg.bin === 'string') return { [pkg.name]: pkg.bin };
  return pkg.bin ?? {};
}

/** Links every command of the package at `root` into `root`/node_modules/.bin; returns the links made. */
export function linkBins(root) {
  const binDir = join(root, 'node_modules', '.bin');
  mkdirSync(binDir, { recursive: true });
  const made = [];
  for (const [name, file] of Object.entries(packageBins(root))) {
    if (name.includes('/') || name.startsWith('.'))
      throw new Error(`package.json bin ${JSON.stringify(name)}: not a command name`);
    const target = resolve(root, file);
    chmodSync(target, 0o755);
    const link = join(binDir, name);
    const want = relative(binDir, target);
    let have;
    try {
      have = readlinkSync(link);
    } catch {
      have = undefined;
    }
    if (have !== want) {
      // Replaced in one rename, so a concurrent caller never finds the command missing.
      const tmp = `${link}.${process.pid}.tmp`;
      symlinkSync(want, tmp);
      renameSync(tmp, link);
    }
    made.push(link);
  }
  return made;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  for (const link of linkBins(root)) process.stdout.write(`linked ${relative(root, link)}\n`);
}
