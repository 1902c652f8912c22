// checkLogin, the registry side of `docker login`: accepted and refused credentials on a
// registry asking for Basic, on one handing out Bearer tokens (asked for without a scope),
// and on one that needs none; a refusal names the registry and never the password.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryServer, type RegistryServer } from '../server/index.js';
import { background } from '../../trace/context.js';
import { RegistryClient } from './registry-client.js';
import { bearerHooks, startProxy, type TestProxy } from './test-registry.js';

const ctx = background();
const FAST = { attempts: 2, baseMs: 5, maxMs: 10 };
const as = (username: string, password: string) =>
  new RegistryClient({ credentials: () => ({ username, password }), retry: FAST });

async function refusal(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  return p.then(
    () => ({ message: 'resolved' }),
    (e: unknown) => e as { code?: string; message: string },
  );
}

describe('checkLogin', () => {
  let dir: string;
  let basic: RegistryServer;
  let open: RegistryServer;
  let proxy: TestProxy;
  const issued = { count: 0, scopes: [] as string[] };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `berth-login-check-${process.pid}-`));
    basic = await createRegistryServer({
      root: join(dir, 'basic'),
      addr: '127.0.0.1:0',
      credentials: { username: 'alice', password: 'pa55word' },
    });
    open = await createRegistryServer({ root: join(dir, 'open'), addr: '127.0.0.1:0' });
    proxy = await startProxy(open.url);
    proxy.hooks = bearerHooks(() => proxy.url, 'bob', 't0ken-pw', issued);
  });
  afterAll(async () => {
    await proxy?.close();
    await basic?.close(100);
    await open?.close(100);
    rmSync(dir, { recursive: true, force: true });
  });

  it('Basic: accepts the right credentials, refuses wrong and missing ones naming the registry', async () => {
    await as('alice', 'pa55word').checkLogin(ctx, basic.host);
    const wrong = await refusal(as('alice', 'not-the-one').checkLogin(ctx, basic.host));
    expect(wrong.code).toBe('UNAUTHENTICATED');
    expect(wrong.message).toContain(`registry ${basic.host}`);
    expect(wrong.message).toContain('incorrect username or password');
    expect(wrong.message).not.toContain('not-the-one');
    const none = await refusal(new RegistryClient({ retry: FAST }).checkLogin(ctx, basic.host));
    expect(none.code).toBe('UNAUTHENTICATED');
    expect(none.message).toContain('credentials are required');
  });

  it('Bearer: a token without a scope for the right credentials; the token server refusing is UNAUTHENTICATED', async () => {
    await as('bob', 't0ken-pw').checkLogin(ctx, proxy.host);
    expect(issued.scopes).toEqual(['berth-test null']);
    const wrong = await refusal(as('bob', 'nope-pw').checkLogin(ctx, proxy.host));
    expect(wrong.code).toBe('UNAUTHENTICATED');
    expect(wrong.message).toContain(`registry ${proxy.host}`);
    expect(wrong.message).not.toContain('nope-pw');
  });

  it('a registry that needs no credentials accepts any', async () => {
    await as('anyone', 'anything').checkLogin(ctx, open.host);
  });
});
