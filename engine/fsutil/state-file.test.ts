import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readJson, removeFile, writeJsonAtomic } from './state-file.js';

describe('state files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-state-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes JSON atomically, creating missing directories, mode 0600', async () => {
    const path = join(dir, 'a', 'b', 'x.json');
    await writeJsonAtomic(path, { n: 1 });
    await writeJsonAtomic(path, { n: 2 });
    expect(await readJson(path)).toEqual({ n: 2 });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, 'a', 'b'))).toEqual(['x.json']);
  });

  it('names the file when a write fails, and reports corrupt content as DATA_LOSS', async () => {
    writeFileSync(join(dir, 'file'), 'not a directory');
    await expect(writeJsonAtomic(join(dir, 'file', 'x.json'), {})).rejects.toThrow(
      `state ${join(dir, 'file', 'x.json')}: write`,
    );
    writeFileSync(join(dir, 'bad.json'), '{"torn');
    await expect(readJson(join(dir, 'bad.json'))).rejects.toMatchObject({ code: 'DATA_LOSS' });
    expect(await readJson(join(dir, 'absent.json'))).toBeUndefined();
  });

  it('removes a file; an absent one is not an error', async () => {
    writeFileSync(join(dir, 'x.json'), '{}');
    await removeFile(join(dir, 'x.json'));
    await removeFile(join(dir, 'x.json'));
    expect(readdirSync(dir)).toEqual([]);
  });
});
