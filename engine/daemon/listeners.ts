// Where berthd listens: `-H unix://PATH` (repeatable; the socket made mode 0660)
// and `-H tcp://127.0.0.1:PORT` only when asked for explicitly, on loopback only
// (the API has no authentication). A stale socket file left by a dead daemon is
// replaced; one a live process answers on is an error naming it.
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect, isIP, type Server } from 'node:net';
import { dirname } from 'node:path';
import { conflict, invalidArgument, permissionDenied, wrap } from '../errdefs/errors.js';

export const DEFAULT_SOCKET = '/run/berth/berth.sock';

export type ListenAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** Parses one -H value: `unix:///run/x.sock`, `unix:/x.sock`, `tcp://127.0.0.1:2375`, `fd://` is refused. */
export function parseListenAddress(value: string): ListenAddress {
  const unix = /^unix:(?:\/\/)?(\/.*)$/.exec(value);
  if (unix !== null) {
    const path = unix[1] as string;
    if (path.length > 107) throw invalidArgument(`listen address ${value}: socket path longer than 107 bytes`);
    return { kind: 'unix', path };
  }
  const tcp = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(value);
  if (tcp !== null) {
    const host = (tcp[1] as string).replace(/^\[|\]$/g, '');
    const port = Number(tcp[2]);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw invalidArgument(`listen address ${value}: port out of range`);
    if (isIP(host) === 0) throw invalidArgument(`listen address ${value}: host must be an IP address`);
    const loopback = host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
    if (!loopback)
      throw permissionDenied(
        `listen address ${value}: berthd listens on TCP only on loopback (127.0.0.0/8 or ::1); the API has no authentication`,
      );
    return { kind: 'tcp', host, port };
  }
  throw invalidArgument(
    `listen address ${JSON.stringify(value)}: expected unix:///path/to.sock or tcp://127.0.0.1:PORT`,
  );
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Removes a unix socket file nobody answers on; fails CONFLICT when a process still listens there. */
async function clearStaleSocket(path: string): Promise<void> {
  let isSocket = false;
  try {
    const st = lstatSync(path);
    isSocket = st.isSocket();
    if (!isSocket) throw conflict(`listen address unix://${path}: the path exists and is not a socket`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (await socketAnswers(path))
    throw conflict(`listen address unix://${path}: another daemon is listening on this socket`);
  unlinkSync(path);
}

/**
 * Starts `server` listening on `address`; resolves with the address as clients use it (`unix:///…`,
 * `tcp://127.0.0.1:PORT`).
 */
export async function listenOn(server: Server, address: ListenAddress): Promise<string> {
  if (address.kind === 'unix') {
    mkdirSync(dirname(address.path), { recursive: true, mode: 0o755 });
    await clearStaleSocket(address.path);
  }
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(
        wrap(
          err,
          `listen on ${address.kind === 'unix' ? `unix://${address.path}` : `tcp://${address.host}:${address.port}`}`,
        ),
      );
    server.once('error', onError);
    const done = (): void => {
      server.removeListener('error', onError);
      resolve();
    };
    if (address.kind === 'unix') server.listen(address.path, done);
    else server.listen(address.port, address.host, done);
  });
  if (address.kind === 'unix') {
    chmodSync(address.path, 0o660);
    return `unix://${address.path}`;
  }
  const bound = server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : address.port;
  return `tcp://${address.host.includes(':') ? `[${address.host}]` : address.host}:${port}`;
}

/** Removes a unix socket this daemon made (after its server closed). */
export function removeSocket(address: ListenAddress): void {
  if (address.kind !== 'unix') return;
  try {
    unlinkSync(address.path);
  } catch {
    // already gone
  }
}
