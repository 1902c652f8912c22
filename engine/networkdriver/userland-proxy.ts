// The userland proxy: a published port served from the Node process itself, for
// hosts without iptables or when configured. TCP: each accepted connection is
// piped to the container's address; UDP: each client gets its own socket towards
// the container, dropped after a minute without traffic (node:dgram loads with the first UDP port).
import type dgram from 'node:dgram';
import net from 'node:net';
import { conflict, wrap } from '../errdefs/errors.js';
import type { PortSpec } from './port-spec.js';

const UDP_IDLE_MS = 60_000;

export interface PortProxy {
  readonly spec: PortSpec;
  /** Stops listening and closes every forwarded connection. Idempotent. */
  close(): Promise<void>;
}

function listenError(err: unknown, p: PortSpec) {
  const subject = `port ${p.hostIp}:${p.hostPort}/${p.proto}`;
  return (err as NodeJS.ErrnoException).code === 'EADDRINUSE'
    ? conflict(`${subject}: already in use on the host`, { cause: err })
    : wrap(err, subject);
}

async function tcpProxy(p: PortSpec, targetIp: string): Promise<PortProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: targetIp, port: p.containerPort });
    sockets.add(client).add(upstream);
    const done = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenError(err, p)));
    server.listen({ host: p.hostIp, port: p.hostPort, exclusive: true }, () => resolve());
  });
  let closed: Promise<void> | undefined;
  return {
    spec: p,
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}

async function udpProxy(p: PortSpec, targetIp: string): Promise<PortProxy> {
  const { createSocket } = await import('node:dgram');
  const server = createSocket('udp4');
  const clients = new Map<string, { socket: dgram.Socket; timer: NodeJS.Timeout }>();
  const drop = (key: string) => {
    const c = clients.get(key);
    if (c === undefined) return;
    clearTimeout(c.timer);
    c.socket.close();
    clients.delete(key);
  };
  server.on('message', (msg, from) => {
    const key = `${from.address}:${from.port}`;
    let c = clients.get(key);
    if (c === undefined) {
      const socket = createSocket('udp4');
      socket.on('message', (reply) => server.send(reply, from.port, from.address));
      socket.on('error', () => drop(key));
      c = { socket, timer: setTimeout(() => drop(key), UDP_IDLE_MS) };
      c.timer.unref();
      clients.set(key, c);
    }
    c.timer.refresh();
    c.socket.send(msg, p.containerPort, targetIp);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenError(err, p)));
    server.bind({ address: p.hostIp, port: p.hostPort, exclusive: true }, () => resolve());
  });
  let closed: Promise<void> | undefined;
  return {
    spec: p,
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const key of [...clients.keys()]) drop(key);
        server.close(() => resolve());
      });
      return closed;
    },
  };
}

/** Listens on spec's host address and forwards to targetIp:containerPort. CONFLICT when the port is taken. */
export function startProxy(spec: PortSpec, targetIp: string): Promise<PortProxy> {
  return spec.proto === 'tcp' ? tcpProxy(spec, targetIp) : udpProxy(spec, targetIp);
}

/**
 * Checks that spec's host port is free by binding it for a moment (no other
 * program, berth's own proxies included, holds it). CONFLICT naming the port.
 */
export async function checkPortFree(spec: PortSpec): Promise<void> {
  const probe = await startProxy(spec, '127.0.0.1');
  await probe.close();
}
