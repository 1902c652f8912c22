// The container's hosts, hostname and resolv.conf.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { hostsFile, resolvConf, writeEtcFiles } from './etc-files.js';

describe('etc files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-etc-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('maps the hostname to the container address, and writes all three files atomically', async () => {
    await writeEtcFiles(join(dir, 'etc'), { hostname: 'web.example', address: '10.9.0.5', dns: ['10.9.0.1'] });
    expect((await readdir(join(dir, 'etc'))).sort()).toEqual(['hostname', 'hosts', 'resolv.conf']);
    expect(await readFile(join(dir, 'etc', 'hosts'), 'utf8')).toContain('10.9.0.5\tweb.example web\n');
    expect(await readFile(join(dir, 'etc', 'hostname'), 'utf8')).toBe('web.example\n');
    expect(await readFile(join(dir, 'etc', 'resolv.conf'), 'utf8')).toMatch(/^nameserver 10\.9\.0\.1\n/);
  });

  it('drops loopback name servers of the host and maps a bare hostname to 127.0.1.1', async () => {
    expect(await resolvConf()).not.toMatch(/nameserver (127\.|::1)/);
    expect(hostsFile('box')).toContain('127.0.1.1\tbox\n');
  });

  it('rejects an invalid hostname naming it and writes nothing', async () => {
    const err = await writeEtcFiles(join(dir, 'etc'), { hostname: 'bad_name!' }).catch((e: unknown) => e);
    expect(isBerthError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toContain('"bad_name!"');
    expect(await readdir(dir)).toEqual([]);
  });
});
