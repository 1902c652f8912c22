// The control-file helpers against plain files (a cgroupfs file takes each write(2) on its own; a plain file shows
// the writes one after the other).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeControls } from './cgroup-fs.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-cgroup-fs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('writeControls', () => {
  it('writes each value in order, one open file per control file', async () => {
    writeFileSync(join(dir, 'devices.allow'), 'old');
    writeFileSync(join(dir, 'devices.deny'), '');
    await writeControls('berth/x', dir, [
      ['devices.deny', 'a'],
      ['devices.allow', 'c 1:3 rwm'],
      ['devices.allow', 'c 1:5 rwm'],
    ]);
    // one open (truncating) per file: the second value follows the first
    expect(readFileSync(join(dir, 'devices.allow'), 'utf8')).toBe('c 1:3 rwmc 1:5 rwm');
    expect(readFileSync(join(dir, 'devices.deny'), 'utf8')).toBe('a');
  });

  it('names the cgroup, the file and the value when a write fails', async () => {
    await expect(writeControls('berth/x', dir, [['devices.allow', 'c 1:3 rwm']])).rejects.toThrow(
      /cgroup berth\/x devices\.allow: write c 1:3 rwm/,
    );
  });
});
