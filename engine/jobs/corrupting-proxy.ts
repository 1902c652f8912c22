// Test fixture: proxy hooks that damage every response for one blob or manifest the
// way a broken middlebox does — one byte flipped, the body cut short (FIN), or the
// connection reset (RST) mid-body — at a position picked from a seed.
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ProxyHooks } from '../registry/client/test-registry.js';

export type Fault = 'flip' | 'truncate' | 'reset';

export interface CorruptionPlan {
  fault: Fault;
  /** The blob or manifest digest whose responses are damaged. */
  digest: string;
  /** Also damage `/manifests/<tag>` (a manifest pulled by tag). */
  manifestTag?: string | undefined;
  /** Picks the damaged byte offset (as a share of the body). */
  seed: number;
  /** Damage only the first this many targeted responses (default: every one). */
  times?: number;
}

/** A number in [0, 1) from a seed (one step of a 32-bit LCG, then a hash mix). */
export function share(seed: number): number {
  let x = (Math.imul(seed ^ 0x9e3779b9, 1103515245) + 12345) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) >>> 0;
  x = Math.imul(x ^ (x >>> 12), 0x297a2d39) >>> 0;
  return ((x ^ (x >>> 15)) >>> 0) / 2 ** 32;
}

/** Whether `req` asks for what `plan` damages. */
export function targets(plan: CorruptionPlan, req: IncomingMessage): boolean {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path.endsWith(`/${plan.digest}`)) return true;
  return plan.manifestTag !== undefined && path.endsWith(`/manifests/${plan.manifestTag}`);
}

/**
 * Hooks for startProxy(upstream) that answer the targeted requests themselves:
 * the upstream response is fetched whole, then sent with its headers and the
 * planned damage. Other requests pass through untouched. `hits` counts damaged responses.
 */
export function corruptingHooks(upstream: string, plan: CorruptionPlan, hits = { count: 0 }): ProxyHooks {
  return {
    before(req, res) {
      if (req.method !== 'GET' || !targets(plan, req) || hits.count >= (plan.times ?? Infinity)) return false;
      hits.count++;
      fetchWhole(upstream, req, res, (ures, body) => send(res, ures, body, plan));
      return true;
    },
  };
}

/** Fetches `req` from `upstream` whole, then calls `then`; a failed upstream exchange drops the client's connection. */
export function fetchWhole(
  upstream: string,
  req: IncomingMessage,
  res: ServerResponse,
  then: (ures: IncomingMessage, body: Buffer) => void,
): void {
  const headers = { ...req.headers };
  delete headers.host;
  const up = request(new URL(req.url ?? '/', upstream), { method: 'GET', headers }, (ures) => {
    const chunks: Buffer[] = [];
    ures.on('data', (c: Buffer) => chunks.push(c));
    ures.on('error', () => res.destroy());
    ures.on('end', () => then(ures, Buffer.concat(chunks)));
  });
  up.on('error', () => res.destroy());
  up.end();
}

function send(res: ServerResponse, ures: IncomingMessage, body: Buffer, plan: CorruptionPlan): void {
  const status = ures.statusCode ?? 502;
  if ((status !== 200 && status !== 206) || body.length === 0) {
    res.writeHead(status, ures.headers).end(body);
    return;
  }
  const at = Math.min(body.length - 1, Math.floor(share(plan.seed) * body.length));
  res.writeHead(status, ures.headers);
  if (plan.fault === 'flip') {
    const damaged = Buffer.from(body);
    damaged[at] = damaged[at]! ^ 0x01;
    // in two writes, so the flipped byte may arrive in a later chunk than the first bytes
    res.write(damaged.subarray(0, at));
    setImmediate(() => res.end(damaged.subarray(at)));
    return;
  }
  const socket = res.socket as Socket;
  res.write(body.subarray(0, at), () => {
    if (plan.fault === 'truncate') socket.end();
    else socket.resetAndDestroy();
  });
}
