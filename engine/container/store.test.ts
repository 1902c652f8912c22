// The container store: unique names, Docker's id/name/prefix resolution, records
// that survive a reopen, and directories without a record reported as orphans.
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { background } from '../trace/context.js';
import { newRunState, rfc3339Nano, type ContainerRecord } from './record.js';
import { ContainerStore } from './store.js';
import { checkRestartPolicy, nextBackoff, shouldRestart } from './restart-policy.js';

const ctx = background();
let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-store-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function record(store: ContainerStore, id: string, name?: string): ContainerRecord {
  const bare = store.reserveName(name, id);
  return {
    id,
    name: bare,
    created: rfc3339Nano(),
    image: 'img',
    imageId: 'sha256:0',
    config: {},
    hostConfig: {},
    path: '/bin/true',
    args: [],
    spec: { ociVersion: '1.0.2' },
    driver: 'vfs',
    state: newRunState(),
    restartCount: 0,
    logPath: '',
  };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isBerthError(err) ? err.code : 'OTHER';
  }
  return undefined;
}

describe('ContainerStore', () => {
  it('resolves full ids, names with or without /, and unique prefixes; ambiguity and absence are errors', async () => {
    const store = await ContainerStore.open(ctx, root);
    const a = 'abc1' + '0'.repeat(60);
    const b = 'abc2' + '0'.repeat(60);
    await store.add(ctx, record(store, a, 'web'));
    await store.add(ctx, record(store, b, '/db'));
    expect(store.get(a).name).toBe('web');
    expect(store.get('/web').id).toBe(a);
    expect(store.get('db').id).toBe(b);
    expect(store.get('abc2').id).toBe(b);
    expect(codeOf(() => store.get('abc'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => store.get('ffff'))).toBe('NOT_FOUND');
    expect(codeOf(() => store.get(''))).toBe('INVALID_ARGUMENT');
    expect(store.find('nobody')).toBeUndefined();
  });

  it('keeps names unique, rejects bad ones, and generates one when absent', async () => {
    const store = await ContainerStore.open(ctx, root);
    const id = store.newId();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    await store.add(ctx, record(store, id, 'web'));
    expect(codeOf(() => store.reserveName('web', store.newId()))).toBe('CONFLICT');
    expect(codeOf(() => store.reserveName('/web', store.newId()))).toBe('CONFLICT');
    expect(codeOf(() => store.reserveName('bad name', store.newId()))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => store.reserveName('x', store.newId()))).toBe('INVALID_ARGUMENT');
    expect(store.reserveName(undefined, store.newId())).toMatch(/^[a-z]+_[a-z]+\d*$/);
    await store.remove(ctx, id);
    expect(store.reserveName('web', store.newId())).toBe('web');
  });

  it('reloads saved records after a reopen and reports directories without one', async () => {
    const store = await ContainerStore.open(ctx, root);
    const id = store.newId();
    const rec = record(store, id, 'keep');
    await store.add(ctx, rec);
    rec.state.status = 'exited';
    rec.state.exitCode = 3;
    await store.save(ctx, rec);
    const half = 'f'.repeat(64);
    await mkdir(join(root, 'containers', half));
    const torn = 'e'.repeat(64);
    await mkdir(join(root, 'containers', torn));
    await writeFile(join(root, 'containers', torn, 'config.v2.json'), '{"id":');
    const again = await ContainerStore.open(ctx, root);
    expect(again.get('keep').state).toMatchObject({ status: 'exited', exitCode: 3 });
    expect(again.orphans.sort()).toEqual([torn, half]);
    expect(codeOf(() => again.reserveName('keep', again.newId()))).toBe('CONFLICT');
  });

  it('writes the spec apart, only when the record holds a new one, and reads it back (also inline, as before)', async () => {
    const store = await ContainerStore.open(ctx, root);
    const id = store.newId();
    const rec = record(store, id, 'spec');
    await store.add(ctx, rec);
    const dir = store.containerDir(id);
    rec.spec = { ociVersion: '1.0.2', hostname: 'started' };
    await store.save(ctx, rec);
    const specFile = await stat(join(dir, 'spec.json'));
    expect(JSON.parse(await readFile(join(dir, 'config.v2.json'), 'utf8'))).not.toHaveProperty('spec');
    // a state change (the exit) writes the record alone: spec.json is the same file (atomic writes rename a new one)
    rec.state.status = 'exited';
    await store.save(ctx, rec);
    expect((await stat(join(dir, 'spec.json'))).ino).toBe(specFile.ino);
    const again = await ContainerStore.open(ctx, root);
    expect(again.get(id).spec).toEqual({ ociVersion: '1.0.2', hostname: 'started' });
    expect(again.get(id).state.status).toBe('exited');
    // a record written with its spec inline loads as it is; its next write moves the spec out
    const old = { ...rec, spec: { ociVersion: '1.0.2', hostname: 'inline' } };
    await writeFile(join(dir, 'config.v2.json'), JSON.stringify(old));
    await rm(join(dir, 'spec.json'));
    const third = await ContainerStore.open(ctx, root);
    const loaded = third.get(id);
    expect(loaded.spec.hostname).toBe('inline');
    await third.save(ctx, loaded);
    expect(JSON.parse(await readFile(join(dir, 'spec.json'), 'utf8'))).toEqual(old.spec);
    expect(JSON.parse(await readFile(join(dir, 'config.v2.json'), 'utf8'))).not.toHaveProperty('spec');
  });

  it('removes a container directory with the files it names and with whatever else is there', async () => {
    const store = await ContainerStore.open(ctx, root);
    const plain = store.newId();
    await store.add(ctx, record(store, plain, 'plain'));
    for (const f of ['hostname', 'hosts', 'resolv.conf', `${plain}-json.log`])
      await writeFile(join(store.containerDir(plain), f), 'x');
    // a rotated log and a folder (a shareable container's mounts/shm) are not in the store's list of files
    const more = store.newId();
    await store.add(ctx, record(store, more, 'more'));
    await writeFile(join(store.containerDir(more), `${more}-json.log.1`), 'x');
    await mkdir(join(store.containerDir(more), 'mounts', 'shm'), { recursive: true });
    await writeFile(join(store.containerDir(more), 'mounts', 'shm', 'segment'), 'x');
    for (const id of [plain, more]) {
      await store.remove(ctx, id);
      await expect(stat(store.containerDir(id))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(store.find(id)).toBeUndefined();
    }
    await store.remove(ctx, plain); // idempotent
    const again = await ContainerStore.open(ctx, root);
    expect(again.list()).toEqual([]);
    expect(again.orphans).toEqual([]);
  });

  it('runs one locked section per container at a time', async () => {
    const store = await ContainerStore.open(ctx, root);
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = store.locked('c', async () => {
      order.push('first:start');
      await gate;
      order.push('first:end');
    });
    const second = store.locked('c', async () => {
      order.push('second');
    });
    await Promise.resolve();
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first:start', 'first:end', 'second']);
  });
});

describe('restart policy', () => {
  it.each([
    [{ Name: 'no' as const }, 1, 0, false, false],
    [{ Name: 'always' as const }, 0, 5, false, true],
    [{ Name: 'always' as const }, 0, 0, true, false],
    [{ Name: 'unless-stopped' as const }, 1, 0, false, true],
    [{ Name: 'on-failure' as const }, 0, 0, false, false],
    [{ Name: 'on-failure' as const }, 2, 0, false, true],
    [{ Name: 'on-failure' as const, MaximumRetryCount: 2 }, 2, 1, false, true],
    [{ Name: 'on-failure' as const, MaximumRetryCount: 2 }, 2, 2, false, false],
  ])('%j exit %d after %d restarts, manually stopped %s → %s', (policy, exit, count, manual, want) => {
    expect(shouldRestart({ RestartPolicy: policy }, exit, count, manual)).toBe(want);
  });

  it('rejects unknown names, retries outside on-failure and a policy with AutoRemove', () => {
    expect(codeOf(() => checkRestartPolicy({ RestartPolicy: { Name: 'sometimes' as 'no' } }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => checkRestartPolicy({ RestartPolicy: { Name: 'always', MaximumRetryCount: 3 } }))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(codeOf(() => checkRestartPolicy({ RestartPolicy: { Name: 'always' }, AutoRemove: true }))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(checkRestartPolicy({})).toEqual({ name: 'no', maxRetries: 0 });
  });

  it('doubles the back-off up to a minute and resets after a long run', () => {
    expect(nextBackoff(0, 0)).toBe(100);
    expect(nextBackoff(100, 50)).toBe(200);
    expect(nextBackoff(40_000, 50)).toBe(60_000);
    expect(nextBackoff(60_000, 10_000)).toBe(100);
  });
});
