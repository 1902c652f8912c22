// The userland proxy forwards TCP and UDP between loopback addresses, refuses a
// taken port with CONFLICT, and frees the port when closed.
import dgram from 'node:dgram';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errdefs/errors.js';
import { checkPortFree, startProxy } from './userland-proxy.js';

/** A port the kernel just handed out as free on `host` (fixed ports collide with ephemeral ones). */
async function freePort(host: string, proto: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  if (proto === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, host, r));
    const { port } = s.address();
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, host, r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('userland proxy', () => {
  it('forwards TCP and frees the port on close', async () => {
    const [backend, front] = [await freePort('127.0.0.2'), await freePort('127.0.0.1')];
    const server = net.createServer((s) => s.on('data', (d) => s.end(`tcp:${d}`)));
    await new Promise<void>((r) => server.listen(backend, '127.0.0.2', r));
    const proxy = await startProxy(
      { hostIp: '127.0.0.1', hostPort: front, containerPort: backend, proto: 'tcp' },
      '127.0.0.2',
    );
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const c = net.connect(front, '127.0.0.1', () => c.write('hi'));
        let out = '';
        c.on('data', (d) => (out += d))
          .on('close', () => resolve(out))
          .on('error', reject);
      });
      expect(reply).toBe('tcp:hi');
      const err = await checkPortFree({ hostIp: '127.0.0.1', hostPort: front, containerPort: 1, proto: 'tcp' }).catch(
        (e: unknown) => e,
      );
      expect(isBerthError(err, 'CONFLICT')).toBe(true);
      expect((err as Error).message).toBe(`port 127.0.0.1:${front}/tcp: already in use on the host`);
    } finally {
      await proxy.close();
      await new Promise((r) => server.close(r));
    }
    await checkPortFree({ hostIp: '127.0.0.1', hostPort: front, containerPort: 1, proto: 'tcp' });
  });

  it('forwards UDP both ways', async () => {
    const [backend, front] = [await freePort('127.0.0.2', 'udp'), await freePort('127.0.0.1', 'udp')];
    const server = dgram.createSocket('udp4');
    server.on('message', (m, from) => server.send(`udp:${m}`, from.port, from.address));
    await new Promise<void>((r) => server.bind(backend, '127.0.0.2', r));
    const proxy = await startProxy(
      { hostIp: '127.0.0.1', hostPort: front, containerPort: backend, proto: 'udp' },
      '127.0.0.2',
    );
    const client = dgram.createSocket('udp4');
    try {
      const reply = new Promise<string>((resolve) => client.once('message', (m) => resolve(String(m))));
      client.send('yo', front, '127.0.0.1');
      expect(await reply).toBe('udp:yo');
    } finally {
      client.close();
      await proxy.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
