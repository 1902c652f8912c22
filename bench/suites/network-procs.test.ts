// Tests of the bench's process handling: ready detection, a clear error when a
// process dies before it is ready, stop() by pid, and the ping-pong scripts.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import net from 'node:net';
import {
  BenchProcess,
  freeLoopbackPort,
  freeLoopbackPorts,
  PINGPONG_CLIENT,
  PINGPONG_SERVER,
} from './network-procs.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('BenchProcess', () => {
  it('fails naming the label and the stderr when the process exits before it is ready', async () => {
    await expect(
      BenchProcess.start(
        'probe server',
        [process.execPath, '-e', 'console.error("port taken"); process.exit(3)'],
        undefined,
        /^ready$/,
      ),
    ).rejects.toThrow(/^probe server: exited \(3\) before it was ready: port taken/);
  });

  it('fails when not ready in time, and leaves no process behind', async () => {
    const marker = `berth-netbench-slow-${process.pid}`;
    const err = await BenchProcess.start(
      'slow',
      [process.execPath, '-e', `setTimeout(() => {}, 60000) // ${marker}`],
      undefined,
      /^ready$/,
      300,
    ).catch((e: unknown) => e);
    expect(String(err)).toMatch(/slow: not ready within 300 ms/);
    expect(spawnSync('pgrep', ['-f', marker]).status).toBe(1);
  });

  it('runs the ping-pong pair: the client reports elapsed ns per batch; stop() ends both by pid', async () => {
    const port = await freeLoopbackPort();
    const server = await BenchProcess.start(
      'pingpong server',
      [process.execPath, '-e', PINGPONG_SERVER, '127.0.0.1', String(port)],
      undefined,
      /^ready$/,
    );
    const client = await BenchProcess.start(
      'pingpong client',
      [process.execPath, '-e', PINGPONG_CLIENT, '127.0.0.1', String(port)],
      undefined,
      /^ready$/,
    );
    try {
      const a = Number(await client.ask('50'));
      const b = Number(await client.ask('1'));
      expect(a).toBeGreaterThan(0);
      expect(b).toBeGreaterThan(0);
    } finally {
      await client.stop();
      await server.stop();
    }
    expect(client.done && server.done).toBe(true);
    expect(alive(server.pid!)).toBe(false);
    expect(alive(client.pid!)).toBe(false);
  });

  it('freeLoopbackPorts gives distinct ports, free again once it returned', async () => {
    const ports = await freeLoopbackPorts(64);
    expect(new Set(ports).size).toBe(64);
    // every one can be bound again: none is still held
    for (const port of ports.slice(0, 8)) {
      const srv = net.createServer();
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(port, '127.0.0.1', () => resolve());
      });
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    }
  });
});
