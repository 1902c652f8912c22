// The userland proxy forwards TCP and UDP between loopback addresses, refuses a
// taken port with CONFLICT, and frees the port when closed.
import dgram from 'node:dgram';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { checkPortFree, startProxy } from './userland-proxy.js';

const base = 30000 + (process.pid % 20000);

describe('userland proxy', () => {
  it('forwards TCP and frees the port on close', async () => {
    const server = net.createServer((s) => s.on('data', (d) => s.end(`tcp:${d}`)));
    await new Promise<void>((r) => server.listen(base, '127.0.0.2', r));
    const proxy = await startProxy({ hostIp: '127.0.0.1', hostPort: base + 1, containerPort: base, proto: 'tcp' }, '127.0.0.2');
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const c = net.connect(base + 1, '127.0.0.1', () => c.write('hi'));
        let out = '';
        c.on('data', (d) => (out += d)).on('close', () => resolve(out)).on('error', reject);
      });
      expect(reply).toBe('tcp:hi');
      const err = await checkPortFree({ hostIp: '127.0.0.1', hostPort: base + 1, containerPort: 1, proto: 'tcp' }).catch((e: unknown) => e);
      expect(isBerthError(err, 'CONFLICT')).toBe(true);
      expect((err as Error).message).toBe(`port 127.0.0.1:${base + 1}/tcp: already in use on the host`);
    } finally {
      await proxy.close();
      await new Promise((r) => server.close(r));
    }
    await checkPortFree({ hostIp: '127.0.0.1', hostPort: base + 1, containerPort: 1, proto: 'tcp' });
  });

  it('forwards UDP both ways', async () => {
    const server = dgram.createSocket('udp4');
    server.on('message', (m, from) => server.send(`udp:${m}`, from.port, from.address));
    await new Promise<void>((r) => server.bind(base + 2, '127.0.0.2', r));
    const proxy = await startProxy({ hostIp: '127.0.0.1', hostPort: base + 3, containerPort: base + 2, proto: 'udp' }, '127.0.0.2');
    const client = dgram.createSocket('udp4');
    try {
      const reply = new Promise<string>((resolve) => client.once('message', (m) => resolve(String(m))));
      client.send('yo', base + 3, '127.0.0.1');
      expect(await reply).toBe('udp:yo');
    } finally {
      client.close();
      await proxy.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
