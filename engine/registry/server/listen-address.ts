// Parses the server's `host:port` listen address and refuses a non-loopback host
// unless explicitly allowed: the embedded registry serves tests and benches on
// 127.0.0.1 and must not be reachable from the network by accident.
import { isIP } from 'node:net';
import { invalidArgument, permissionDenied } from '../../errdefs/errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** True for 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/**
 * `127.0.0.1:5000`, `[::1]:0`, `localhost:0`, or `:PORT` (= 127.0.0.1). Throws
 * INVALID_ARGUMENT for a malformed address, PERMISSION_DENIED for a non-loopback
 * host without `allowNonLoopback`.
 */
export function parseListenAddress(addr: string, allowNonLoopback = false): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr);
  if (!m) throw invalidArgument(`listen address ${JSON.stringify(addr)}: expected HOST:PORT`);
  const host = m[1] ?? (m[2] === '' || m[2] === undefined ? '127.0.0.1' : m[2]);
  const port = Number(m[3]);
  if (port > 65535) throw invalidArgument(`listen address ${JSON.stringify(addr)}: port out of range`);
  if (host !== 'localhost' && isIP(host) === 0)
    throw invalidArgument(`listen address ${JSON.stringify(addr)}: host must be an IP address or localhost`);
  if (!allowNonLoopback && !isLoopback(host)) {
    throw permissionDenied(`listen address ${addr}: not a loopback address (allow it explicitly to serve the network)`);
  }
  return { host, port };
}
