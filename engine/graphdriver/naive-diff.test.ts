// The generic change walk (fsdiff): what counts as add, modify and delete.
import { chmod, lutimes, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { background } from '../trace/context.js';
import { walkChanges } from './naive-diff.js';

const ctx = background();
let base: string;
let lower: string;
let upper: string;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), `berth-nd-${process.pid}-`));
  lower = join(base, 'lower');
  upper = join(base, 'upper');
  await mkdir(join(lower, 'etc/sub'), { recursive: true });
  await mkdir(join(lower, 'gone-dir/deep'), { recursive: true });
  await writeFile(join(lower, 'gone-dir/deep/f'), 'x');
  await writeFile(join(lower, 'etc/same'), 'same');
  await writeFile(join(lower, 'etc/edit'), 'v1');
  await writeFile(join(lower, 'etc/chmod'), 'c');
  await writeFile(join(lower, 'etc/sub/file'), 'f');
  await writeFile(join(lower, 'was-file'), 'f');
  await symlink('target-a', join(lower, 'link'));
  const t = new Date(1_600_000_000_000);
  for (const p of ['etc/same', 'etc/edit', 'etc/chmod', 'etc/sub/file', 'was-file', 'gone-dir/deep/f'])
    await lutimes(join(lower, p), t, t);
  await execa('cp', ['-a', `${lower}/.`, upper]);
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('walkChanges', () => {
  it('reports nothing for identical trees', async () => {
    expect(await walkChanges(ctx, upper, lower)).toEqual([]);
  });

  it('reports adds, modifies (content, mode, link target, type) and deletes, with changed parents', async () => {
    await writeFile(join(upper, 'etc/edit'), 'v2 longer');
    await chmod(join(upper, 'etc/chmod'), 0o600);
    await writeFile(join(upper, 'etc/sub/new'), 'n');
    await rm(join(upper, 'link'));
    await symlink('target-b', join(upper, 'link'));
    await rm(join(upper, 'was-file'));
    await mkdir(join(upper, 'was-file'));
    await writeFile(join(upper, 'was-file/inner'), 'i');
    await rm(join(upper, 'gone-dir'), { recursive: true });
    expect(await walkChanges(ctx, upper, lower)).toEqual([
      { path: '/etc', kind: 'modify' },
      { path: '/etc/chmod', kind: 'modify' },
      { path: '/etc/edit', kind: 'modify' },
      { path: '/etc/sub', kind: 'modify' },
      { path: '/etc/sub/new', kind: 'add' },
      { path: '/gone-dir', kind: 'delete' },
      { path: '/link', kind: 'modify' },
      { path: '/was-file', kind: 'modify' },
      { path: '/was-file/inner', kind: 'add' },
    ]);
  });

  it('reports every path as added against no parent', async () => {
    const all = await walkChanges(ctx, lower, undefined);
    expect(all.every((c) => c.kind === 'add')).toBe(true);
    expect(all.map((c) => c.path)).toContain('/gone-dir/deep/f');
  });
});
