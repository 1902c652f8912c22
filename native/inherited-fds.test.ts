// inherited-fds.cc: cloexecInherited marks what a process inherited without FD_CLOEXEC, so its own children do not
// get it. Checked in a node child that bash hands /dev/null as fd 30 (a redirection, without FD_CLOEXEC; a low
// number would not do: node's start-up leaves the low fds marked).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { addonPath } from './index.js';

const O_CLOEXEC = 0o2000000;

interface Seen {
  flags: number;
  grandchild: string;
}

describe('cloexecInherited', () => {
  it('marks an inherited fd close-on-exec: the process keeps it, a program it runs does not get it', () => {
    const script = `
      const { execFileSync } = require('node:child_process');
      const { fstatSync, readFileSync } = require('node:fs');
      const n = require(${JSON.stringify(addonPath)});
      const seen = () => ({
        flags: Number.parseInt(/^flags:\\s+([0-7]+)$/m.exec(readFileSync('/proc/self/fdinfo/30', 'utf8'))[1], 8),
        grandchild: execFileSync('sh', ['-c', 'readlink /proc/$$/fd/30 || echo none'], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        }).trim(),
      });
      const before = seen();
      n.cloexecInherited();
      const after = seen();
      console.log(JSON.stringify({ before, after, kept: fstatSync(30).isCharacterDevice() }));
    `;
    const out = execFileSync('bash', ['-c', 'exec "$0" -e "$1" 30</dev/null', process.execPath, script], {
      encoding: 'utf8',
    });
    const { before, after, kept } = JSON.parse(out) as { before: Seen; after: Seen; kept: boolean };
    expect(before.flags & O_CLOEXEC).toBe(0);
    expect(before.grandchild).toBe('/dev/null');
    expect(after.flags & O_CLOEXEC).toBe(O_CLOEXEC);
    expect(after.grandchild).toBe('none');
    expect(kept).toBe(true);
  });
});
