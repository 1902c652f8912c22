// The preview server serves the built site on loopback and nothing outside its folder.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serveStatic } from './static-server.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), `berth-static-${process.pid}-`));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A raw GET (no URL normalisation, so `..` reaches the server as sent). */
function get(port: number, rawPath: string): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: rawPath, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serveStatic', () => {
  it('serves files and index.html on 127.0.0.1, and 404s outside the root and for dotfiles', async () => {
    const site = path.join(dir, 'site');
    await mkdir(path.join(site, 'assets'), { recursive: true });
    await writeFile(path.join(site, 'index.html'), '<p>home</p>');
    await writeFile(path.join(site, 'assets', 'a.js'), 'export {}');
    await writeFile(path.join(site, '.berth-site'), '{}');
    await writeFile(path.join(dir, 'secret.txt'), 'secret');
    const server = await serveStatic(site);
    try {
      expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
      expect(await get(server.port, '/')).toMatchObject({
        status: 200,
        body: '<p>home</p>',
        type: 'text/html; charset=utf-8',
      });
      expect(await get(server.port, '/assets/a.js')).toMatchObject({
        status: 200,
        type: 'text/javascript; charset=utf-8',
      });
      expect((await get(server.port, '/../secret.txt')).status).toBe(404);
      expect((await get(server.port, '/%2e%2e/secret.txt')).status).toBe(404);
      expect((await get(server.port, '/.berth-site')).status).toBe(404);
      expect((await get(server.port, '/missing.html')).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
