// Abandoned upload sessions (and the sessions of failed cross-repository mounts)
// are removed while the server runs, once idle for the configured time; a session
// a request is writing to is never removed, however long the request takes.
import { request, type ClientRequest } from 'node:http';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { errorCodes, startTestRegistry, type TestRegistry } from './registry-test-kit.js';
import { sha256 } from './test-image.js';
import { UploadStore } from './upload-store.js';

let reg: TestRegistry | undefined;
let open: ClientRequest | undefined;

afterEach(async () => {
  open?.destroy();
  open = undefined;
  await reg?.close();
  reg = undefined;
});

/** Polls `check` until it passes or 20 s have passed (then its last failure is thrown). */
async function eventually(check: () => Promise<void>, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function startSession(r: TestRegistry, query = ''): Promise<string> {
  const res = await r.api(`/v2/expiry/repo/blobs/uploads/${query}`, { method: 'POST' });
  expect(res.status).toBe(202);
  return res.headers.get('location') as string;
}

async function expectGone(r: TestRegistry, location: string): Promise<void> {
  const res = await r.api(location);
  expect(res.status).toBe(404);
  expect(await errorCodes(res)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
}

describe('upload session expiry', () => {
  it('removes idle sessions and failed mounts on a timer while the server runs', async () => {
    const r = (reg = await startTestRegistry({ uploadIdleMs: 300, uploadPurgeIntervalMs: 25 }));
    const idle = await startSession(r);
    const mount = await startSession(r, `?mount=${sha256('nowhere')}&from=expiry/other`);
    await eventually(async () => {
      await expectGone(r, idle);
      await expectGone(r, mount);
      // A session answers 404 from the moment its removal starts; the folder goes just after.
      expect(await readdir(join(r.root, 'uploads'))).toEqual([]);
    });
  });

  it('keeps a session a request is writing to, and a session in use stays usable', async () => {
    // Long enough that the session is not idle again between its PATCH and its PUT on a busy machine.
    const r = (reg = await startTestRegistry({ uploadIdleMs: 3_000, uploadPurgeIntervalMs: 25 }));
    const busy = await startSession(r);
    const id = busy.split('/').pop() as string;
    // A PATCH that sends its first part and then waits.
    const answer = new Promise<number>((resolve, reject) => {
      open = request(`${r.server.url}${busy}`, { method: 'PATCH', agent: false });
      open.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      open.on('error', reject);
      open.write('first part|');
    });
    answer.catch(() => undefined);
    await eventually(async () => expect((await stat(join(r.root, 'uploads', id, 'data'))).size).toBe(11));
    // Written after the busy session's last byte: idle for less time than it.
    const later = await startSession(r);
    await eventually(() => expectGone(r, later));
    open!.end('second part');
    expect(await answer).toBe(202);
    const whole = 'first part|second part';
    const res = await r.api(`${busy}?digest=${sha256(whole)}`, { method: 'PUT' });
    expect(res.status).toBe(201);
    expect((await r.api(`/v2/expiry/repo/blobs/${sha256(whole)}`, { method: 'HEAD' })).status).toBe(200);
  });

  it('by default a fresh session survives: the time-to-live is a week, as distribution purges', async () => {
    const r = (reg = await startTestRegistry());
    const location = await startSession(r);
    expect((await r.api(location)).status).toBe(204);
  });
});

describe('UploadStore.purgeIdle', () => {
  it('keeps a session being created (its folder exists, its data file not yet)', async () => {
    const dir = await mkdtemp(join(tmpdir(), `berth-upload-purge-${process.pid}-`));
    try {
      const id = randomUUID();
      await mkdir(join(dir, id));
      const uploads = new UploadStore(dir);
      expect(await uploads.purgeIdle(60_000)).toBe(0);
      expect(await readdir(dir)).toEqual([id]);
      expect(await uploads.purgeIdle(0)).toBe(1);
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
