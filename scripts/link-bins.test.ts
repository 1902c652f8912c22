// The way README gives to run berth's commands from a checkout: the install script links
// every package.json "bin" into node_modules/.bin, and a shell with that folder on PATH
// runs each command by name from any directory.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error a plain ES module without type declarations
import { linkBins, packageBins } from './link-bins.mjs';

const repo = resolve(import.meta.dirname, '..');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(os.tmpdir(), 'berth-bins-'));
  dirs.push(d);
  return d;
}

describe('commands from a checkout', () => {
  it('links every bin of a package, idempotently, and refuses a name that is a path', () => {
    const root = tempDir();
    mkdirSync(join(root, 'cmd'));
    writeFileSync(join(root, 'cmd', 'a.mjs'), '#!/usr/bin/env node\nconsole.log("a ran");\n');
    writeFileSync(join(root, 'cmd', 'b.mjs'), '#!/usr/bin/env node\nconsole.log("b ran", process.argv[2]);\n');
    writeFileSync(
      join(root, 'package.json'),
      JSON.stringify({ name: 'p', bin: { 'p-a': 'cmd/a.mjs', 'p-b': 'cmd/b.mjs' } }),
    );
    const links = linkBins(root) as string[];
    expect(links.map((l) => l.slice(root.length))).toEqual(['/node_modules/.bin/p-a', '/node_modules/.bin/p-b']);
    expect(linkBins(root)).toEqual(links);
    const r = spawnSync('sh', ['-c', 'PATH="$1/node_modules/.bin:$PATH"; cd / && p-a && p-b x', 'sh', root], {
      encoding: 'utf8',
    });
    expect([r.status, r.stdout]).toEqual([0, 'a ran\nb ran x\n']);
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'p', bin: { '../evil': 'cmd/a.mjs' } }));
    expect(() => linkBins(root)).toThrow('package.json bin "../evil": not a command name');
  });

  it("runs each of berth's commands by name, as README says, after the install script linked them", () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { scripts: { install: string } };
    expect(pkg.scripts.install).toMatch(/node scripts\/link-bins\.mjs/);
    linkBins(repo); // what the install script did; idempotent
    const bins = Object.entries(packageBins(repo) as Record<string, string>);
    expect(bins.map(([name]) => name)).toEqual(expect.arrayContaining(['berth-runtime', 'berth-registry']));
    for (const [name, file] of bins) {
      // README: export PATH="$PWD/node_modules/.bin:$PATH" in the checkout, then the command from anywhere.
      const r = spawnSync(
        'sh',
        [
          '-c',
          'cd "$1" && export PATH="$PWD/node_modules/.bin:$PATH" && cd / && command -v "$2" && exec "$2" --help',
          'sh',
          repo,
          name,
        ],
        { encoding: 'utf8' },
      );
      expect(r.status, `${name}: ${r.stderr}`).toBe(0);
      const [found, ...help] = r.stdout.split('\n');
      expect(realpathSync(found!)).toBe(realpathSync(join(repo, file)));
      expect(help.join('\n')).toMatch(new RegExp(`usage|${name}`, 'i'));
    }
  });
});
