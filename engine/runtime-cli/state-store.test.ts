// The state store's removal of a container's directory: its own files, anything else in it, and again.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateStore } from './state-store.js';

describe('StateStore.remove', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'berth-state-store-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('removes the directory with its files, and is idempotent', async () => {
    const store = new StateStore(root);
    const dir = await store.reserve('c1');
    writeFileSync(join(dir, 'state.json'), '{}');
    writeFileSync(join(dir, '.state.json.1.s0'), '{');
    writeFileSync(store.fifoPath('c1'), '');
    await store.remove('c1');
    expect(existsSync(dir)).toBe(false);
    await store.remove('c1');
    await store.remove('never-made');
  });

  it('removes a directory holding more than its own files (a subdirectory)', async () => {
    const store = new StateStore(root);
    const dir = await store.reserve('c2');
    mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
    writeFileSync(join(dir, 'sub', 'deeper', 'f'), 'x');
    writeFileSync(join(dir, 'state.json'), '{}');
    await store.remove('c2');
    expect(existsSync(dir)).toBe(false);
  });
});
