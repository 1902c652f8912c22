// A minimal HTTP/1.1 client for the workload suite's service cases: GET / on
// 127.0.0.1 only, over one kept-alive connection or a new connection per request,
// reading exactly the Content-Length body, so the measured time is the round trip and
// not a library's pooling or parsing.
import net from 'node:net';
import { invalidArgument, unavailable } from '../../engine/errdefs/errors.js';

const LOOPBACK = '127.0.0.1';

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port <= 0 || port > 65535)
    throw invalidArgument(`http port ${port}: expected an integer in 1..65535`);
}

/**
 * Parses one response at the head of `buf`; the bytes it used, or undefined while incomplete. Non-200 is UNAVAILABLE.
 */
function responseLength(buf: Buffer, subject: string): number | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = buf.subarray(0, end).toString('latin1');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (status === null) throw unavailable(`${subject}: not an HTTP response: ${JSON.stringify(head.slice(0, 60))}`);
  if (status[1] !== '200') throw unavailable(`${subject}: HTTP ${status[1]}`);
  const len = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (len === null) throw unavailable(`${subject}: response without Content-Length`);
  const total = end + 4 + Number(len[1]);
  return buf.length >= total ? total : undefined;
}

/**
 * One GET / on a new connection to 127.0.0.1:port with `Connection: close`;
 * resolves when the whole 200 response arrived, rejects (UNAVAILABLE) on a refused or
 * reset connection, another status, or after `timeoutMs`.
 */
export function getOnce(port: number, timeoutMs = 5000): Promise<void> {
  try {
    checkPort(port);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  const subject = `GET http://${LOOPBACK}:${port}/`;
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: LOOPBACK, port });
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err === undefined) resolve();
      else reject(err);
    };
    const timer = setTimeout(() => finish(unavailable(`${subject}: no answer within ${timeoutMs} ms`)), timeoutMs);
    sock.setNoDelay(true);
    sock.on('connect', () => sock.write(`GET / HTTP/1.1\r\nHost: ${LOOPBACK}:${port}\r\nConnection: close\r\n\r\n`));
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      try {
        if (responseLength(buf, subject) !== undefined) finish();
      } catch (err) {
        finish(err as Error);
      }
    });
    sock.on('error', (err) => finish(unavailable(`${subject}: ${err.message}`)));
    sock.on('close', () => finish(unavailable(`${subject}: connection closed before a full response`)));
  });
}

/** One kept-alive connection to 127.0.0.1:port answering GET / requests one at a time. */
export class KeepAliveClient {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly subject: string;

  private constructor(
    private readonly sock: net.Socket,
    private readonly port: number,
  ) {
    this.subject = `GET http://${LOOPBACK}:${port}/ (kept alive)`;
    sock.on('data', (c: Buffer) => {
      this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
      this.settle();
    });
    sock.on('error', (err) => this.fail(unavailable(`${this.subject}: ${err.message}`)));
    sock.on('close', () => this.fail(unavailable(`${this.subject}: connection closed`)));
  }

  static connect(port: number, timeoutMs = 5000): Promise<KeepAliveClient> {
    try {
      checkPort(port);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: LOOPBACK, port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(unavailable(`connect ${LOOPBACK}:${port}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.setNoDelay(true);
        sock.removeAllListeners('error');
        resolve(new KeepAliveClient(sock, port));
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(unavailable(`connect ${LOOPBACK}:${port}: ${err.message}`));
      });
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(this.failure);
  }

  private settle(): void {
    if (this.waiting === undefined) return;
    try {
      const used = responseLength(this.buf, this.subject);
      if (used === undefined) return;
      this.buf = this.buf.subarray(used);
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /** One GET / on the connection; resolves when its whole 200 response arrived. */
  get(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.waiting !== undefined) throw new Error(`${this.subject}: one request at a time`);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.sock.write(`GET / HTTP/1.1\r\nHost: ${LOOPBACK}:${this.port}\r\n\r\n`);
    });
  }

  close(): void {
    this.sock.removeAllListeners('close');
    this.sock.destroy();
  }
}

/**
 * Polls GET / on 127.0.0.1:port until a 200 arrives; resolves with the number of
 * attempts. Failed attempts (refused, reset by a proxy whose backend is not up yet)
 * are retried after `intervalMs`; UNAVAILABLE with the last error after `deadlineMs`.
 */
export async function pollReady(port: number, deadlineMs = 30_000, intervalMs = 2): Promise<number> {
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await getOnce(port, Math.max(100, Math.min(2000, deadline - Date.now())));
      return attempt;
    } catch (err) {
      if (Date.now() >= deadline)
        throw unavailable(
          `service on ${LOOPBACK}:${port}: not answering after ${deadlineMs / 1000} s (${attempt} attempts): ${(err as Error).message}`,
        );
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

/** `n` sequential GET / requests (kept alive or one connection each); the latency of each in µs. */
export async function requestLoop(port: number, n: number, mode: 'keep-alive' | 'new-connection'): Promise<number[]> {
  if (!Number.isInteger(n) || n <= 0) throw invalidArgument(`request count ${n}: expected a positive integer`);
  const out: number[] = [];
  if (mode === 'new-connection') {
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await getOnce(port);
      out.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    return out;
  }
  const client = await KeepAliveClient.connect(port);
  try {
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await client.get();
      out.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
  } finally {
    client.close();
  }
  return out;
}
