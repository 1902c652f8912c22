// A seeded fuzzer of berthd's HTTP API: random methods, paths built from the
// routes (ids and image names mangled), query strings, and bodies (malformed,
// oversized, deeply nested or wrongly typed JSON, wrong content types, bodies
// shorter than declared, broken chunked encoding), sent over a raw socket, some
// of them byte by byte. Each case is a plain value, so a failing seed replays.
//
// It never asks the daemon to reach beyond the host: fuzzCase sends no pull, push
// or network create with a body that could succeed (a bridge with a random subnet
// could break the host's routes); with no image in the daemon no container can
// start. registryFuzzCase sends pulls and pushes, every reference naming the
// local registry it is given (or none that parses), never fromSrc.
import { connect } from 'node:net';

/** mulberry32: a small seeded PRNG, so a failing seed replays. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzCase {
  /** The bytes sent (head and body). */
  bytes: Buffer;
  /** Bytes of `bytes` sent one write at a time, with a short pause between (a slow client). */
  slow: boolean;
  /** The client half-closes after writing (a body shorter than declared is thereby truncated). */
  endAfterWrite: boolean;
  /** The route answers with a stream that stays open (events, follow): a status line is enough. */
  streams: boolean;
  /** What it is, for failure messages. */
  label: string;
  /** The client drops the connection this long after sending (an early disconnect); any answer or none is fine. */
  dropAfterMs?: number;
}

const routes: [string, string][] = [
  ['GET', '/_ping'],
  ['HEAD', '/_ping'],
  ['GET', '/version'],
  ['GET', '/info'],
  ['GET', '/events'],
  ['GET', '/berth/traces/{hex}'],
  ['POST', '/containers/create'],
  ['GET', '/containers/json'],
  ['GET', '/containers/{id}/json'],
  ['POST', '/containers/{id}/start'],
  ['POST', '/containers/{id}/stop'],
  ['POST', '/containers/{id}/restart'],
  ['POST', '/containers/{id}/kill'],
  ['POST', '/containers/{id}/wait'],
  ['POST', '/containers/{id}/attach'],
  ['GET', '/containers/{id}/logs'],
  ['POST', '/containers/{id}/resize'],
  ['DELETE', '/containers/{id}'],
  ['POST', '/containers/{id}/exec'],
  ['POST', '/exec/{id}/start'],
  ['GET', '/exec/{id}/json'],
  ['POST', '/exec/{id}/resize'],
  ['GET', '/networks'],
  ['POST', '/networks/create'],
  ['GET', '/networks/{id}'],
  ['DELETE', '/networks/{id}'],
  ['GET', '/images/json'],
  ['GET', '/images/{name}/json'],
  ['POST', '/images/{name}/tag'],
  ['DELETE', '/images/{name}'],
  ['GET', '/nowhere/{id}'],
];

const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'BREW', 'CONNECT'];
const params = [
  'all',
  'limit',
  'size',
  'filters',
  't',
  'timeout',
  'signal',
  'condition',
  'h',
  'w',
  'force',
  'v',
  'link',
  'since',
  'until',
  'tail',
  'follow',
  'stdout',
  'stderr',
  'stdin',
  'stream',
  'logs',
  'timestamps',
  'name',
  'repo',
  'tag',
  'noprune',
  'detachKeys',
  'x',
];
const bodyFields = [
  'Image',
  'Cmd',
  'Entrypoint',
  'Env',
  'HostConfig',
  'Labels',
  'ExposedPorts',
  'Tty',
  'User',
  'WorkingDir',
  'StopSignal',
  'Healthcheck',
  'Detach',
  'AttachStdout',
  'Name',
  'Driver',
  'IPAM',
  'Options',
  'Memory',
  'PortBindings',
  'RestartPolicy',
  'Binds',
  'NetworkMode',
  '__proto__',
  'constructor',
];

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

function segment(r: Rand): string {
  return pick(r, [
    () => 'a'.repeat(int(r, 1, 64)),
    () => 'f'.repeat(64),
    () => Array.from({ length: int(r, 1, 12) }, () => pick(r, [...'abcdef0123456789'])).join(''),
    () => '..',
    () => '%2e%2e%2f%2e%2e',
    () => '%',
    () => '%zz',
    () => '%00',
    () => 'ünïcödé',
    () => encodeURIComponent('💥'),
    () => 'x'.repeat(int(r, 1000, 6000)),
    () => '127.0.0.1:1/team/app:1',
    () => 'sha256:' + 'a'.repeat(64),
    () => '',
    () => 'name with space',
    () => '-',
  ])();
}

function queryValue(r: Rand): string {
  return pick(r, [
    () => String(int(r, -5, 5)),
    () => '99999999999999999999999',
    () => '-1',
    () => '1e309',
    () => 'true',
    () => 'maybe',
    () => '',
    () => '{"status":["running"]}',
    () => '{"status":{"running":true}}',
    () => '{"status":[1,2]}',
    () => '{"a":',
    () => '[]',
    () => 'null',
    () => '2026-13-45T99:99:99Z',
    () => 'SIGKILL',
    () => 'SIGNOPE',
    () => '999',
    () => 'x'.repeat(int(r, 100, 3000)),
    () => '%FF%FE',
    () => 'not-running',
    () => 'removed',
  ])();
}

function jsonValue(r: Rand, depth: number): unknown {
  const leaf = [
    () => null,
    () => true,
    () => int(r, -1e6, 1e6),
    () => -0.5,
    () => 'str',
    () => '',
    () => 'x'.repeat(int(r, 0, 500)),
    () => 9007199254740993,
  ];
  if (depth > 3) return pick(r, leaf)();
  return pick(r, [
    ...leaf,
    () => Array.from({ length: int(r, 0, 4) }, () => jsonValue(r, depth + 1)),
    () =>
      Object.fromEntries(Array.from({ length: int(r, 0, 5) }, () => [pick(r, bodyFields), jsonValue(r, depth + 1)])),
  ])();
}

function body(r: Rand, safe: boolean): { text: string; contentType: string } {
  const json = 'application/json';
  const options: (() => { text: string; contentType: string })[] = [
    () => ({
      text: JSON.stringify(
        Object.fromEntries(Array.from({ length: int(r, 0, 8) }, () => [pick(r, bodyFields), jsonValue(r, 0)])),
      ),
      contentType: json,
    }),
    () => ({ text: `${'['.repeat(int(r, 1000, 100_000))}`, contentType: json }),
    () => {
      const n = int(r, 1000, 50_000);
      return { text: `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`, contentType: json };
    },
    () => ({ text: '{"Image": "x",', contentType: json }),
    () => ({ text: '[1,2,3]', contentType: json }),
    () => ({ text: 'null', contentType: json }),
    () => ({ text: '"just a string"', contentType: json }),
    () => ({ text: '\u0000\u0001\u0002\uFFFD', contentType: json }),
    () => ({
      text: '{"Image": "x"}',
      contentType: pick(r, [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        '',
        'application/json; charset=utf-16',
      ]),
    }),
    () => ({ text: 'Image=x&Cmd=true', contentType: 'application/x-www-form-urlencoded' }),
    () => ({ text: `{"Env":["${'A'.repeat(int(r, 1, 3) * 1024 * 1024)}"]}`, contentType: json }),
    () => ({
      text: '{"Image": "x", "Cmd": "echo hi", "HostConfig": {"Memory": "1g", "PortBindings": {"80/tcp": [{"HostPort": 80}]}}}',
      contentType: json,
    }),
    () => ({ text: '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"x": 1}}}', contentType: json }),
  ];
  // The network create route sees only bodies that cannot create a network.
  if (safe) return pick(r, options.slice(1, 8))();
  return pick(r, options)();
}

/** The `index`th case of the run seeded with `seed`. */
export function fuzzCase(seed: number, index: number): FuzzCase {
  const r = seeded((seed * 1_000_003 + index) >>> 0);
  const [routeMethod, template] = pick(r, routes);
  let path = template
    .replace('{id}', () => segment(r))
    .replace('{name}', () => segment(r))
    .replace('{hex}', () => pick(r, ['0'.repeat(32), segment(r)]));
  if (r() < 0.3) path = `/v${pick(r, ['1.41', '1.24', '1.12', '9.99', '1.40', 'x'])}${path}`;
  if (r() < 0.05)
    path = pick(r, ['//', '/../../etc/passwd', '*', 'http://evil.invalid/_ping', `/${'a/'.repeat(2000)}`]);
  const method = r() < 0.8 ? routeMethod : pick(r, methods);
  const query = Array.from({ length: int(r, 0, 4) }, () => `${pick(r, params)}=${encodeURIComponent(queryValue(r))}`);
  if (r() < 0.1) query.push(pick(r, ['%', '&&&', '=', 'a=%zz', `${'q'.repeat(2000)}=1`]));
  const target = query.length > 0 ? `${path}?${query.join('&')}` : path;
  // The routes that could reach beyond the host are never sent a body that could work.
  const networkCreate = method === 'POST' && /\/networks\/create\/?$/.test(path);
  const withBody = method !== 'GET' && method !== 'HEAD' ? r() < 0.7 : r() < 0.1;
  const headers: string[] = ['Host: berthd'];
  let payload = Buffer.alloc(0);
  let endAfterWrite = false;
  if (withBody || networkCreate) {
    const b = body(r, networkCreate);
    if (b.contentType !== '') headers.push(`Content-Type: ${b.contentType}`);
    payload = Buffer.from(b.text);
    const framing = r();
    if (framing < 0.7) headers.push(`Content-Length: ${payload.length}`);
    else if (framing < 0.8) {
      // Declares more than it sends, then half-closes: a truncated body.
      headers.push(`Content-Length: ${payload.length + int(r, 1, 5000)}`);
      endAfterWrite = true;
    } else if (framing < 0.9) {
      headers.push('Transfer-Encoding: chunked');
      payload = Buffer.concat([
        Buffer.from(`${payload.length.toString(16)}\r\n`),
        payload,
        Buffer.from(r() < 0.5 ? '\r\n0\r\n\r\n' : '\r\nzz\r\n'),
      ]);
      endAfterWrite = true;
    } else {
      headers.push(
        pick(r, [
          'Content-Length: -1',
          'Content-Length: abc',
          `Content-Length: ${payload.length}`,
          'Content-Length: 99999999999999999999',
        ]),
      );
      if (r() < 0.5) headers.push('Transfer-Encoding: chunked');
      endAfterWrite = true;
    }
  }
  if (r() < 0.1) headers.push(`Connection: ${pick(r, ['Upgrade', 'close', 'keep-alive'])}`, 'Upgrade: tcp');
  if (r() < 0.05) headers.push(`X-Long: ${'h'.repeat(int(r, 100, 20_000))}`);
  if (r() < 0.05) for (let i = 0; i < int(r, 190, 400); i++) headers.push(`X-${i}: v`);
  if (r() < 0.05) headers.push('traceparent: 00-zz-zz-zz', 'Content-Type: application/json');
  headers.push('Connection: close');
  const head = Buffer.from(`${method} ${target} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`, 'latin1');
  const slow = r() < 0.05;
  const streams = method === 'GET' && /\/events\/?(\?|$)|\/logs\/?\?.*follow=(1|true)/i.test(target);
  return {
    bytes: Buffer.concat([head, payload]),
    slow,
    endAfterWrite,
    streams,
    label: `#${index} ${method} ${target.length > 120 ? `${target.slice(0, 120)}…` : target} (${payload.length} body bytes${slow ? ', slow' : ''}${endAfterWrite ? ', half-closed' : ''})`,
  };
}

/** The repository registryFuzzCase pulls and pushes, in the registry it is given; tag `v1` should exist there. */
export const FUZZ_REPO = 'fuzz/app';

function registryAuth(r: Rand): string | undefined {
  const b64 = (text: string) => Buffer.from(text).toString(pick(r, ['base64', 'base64url'] as const));
  return pick(r, [
    () => undefined,
    () => '',
    () => b64('{}'),
    () => '!!!not base64!!!',
    () => b64('null'),
    () => b64('[1,2]'),
    () => b64('{"username": 1, "password": {"x": []}}'),
    () => b64('{"username": "u", "password": "p", "serveraddress": "127.0.0.1:1"}'),
    () => b64('{"identitytoken": "' + 'x'.repeat(int(r, 10, 5000)) + '"}'),
    () => b64('{"a":'),
    () => Buffer.from(Array.from({ length: int(r, 1, 300) }, () => int(r, 0, 255))).toString('base64'),
    () => 'A'.repeat(int(r, 1000, 20_000)),
    () => '%00%ff',
  ])();
}

function repoPart(r: Rand): string {
  return pick(r, [
    () => FUZZ_REPO,
    () => FUZZ_REPO,
    () => 'fuzz/none',
    () => 'FUZZ/App',
    () => 'fuzz/app/../x',
    () => 'fuzz//app',
    () => '-fuzz',
    () => 'fuzz/' + 'a'.repeat(int(r, 200, 400)),
    () => `${FUZZ_REPO}@sha256:abc`,
    () => `${FUZZ_REPO}@sha256:${Array.from({ length: 64 }, () => pick(r, [...'0123456789abcdef'])).join('')}`,
    () => `${FUZZ_REPO}:`,
    () => `${FUZZ_REPO}:v1:v2`,
    () => 'fuzz/ünï',
    () => 'fuzz/app%00',
    () => `${FUZZ_REPO}:${'t'.repeat(int(r, 100, 200))}`,
    () => segment(r),
  ])();
}

function tagPart(r: Rand): string | undefined {
  return pick(r, [
    () => undefined,
    () => 'v1',
    () => 'v1',
    () => 'nope',
    () => '',
    () => 'sha256:' + 'a'.repeat(64),
    () => 'sha256:short',
    () => 'md5:' + 'a'.repeat(32),
    () => '../../x',
    () => 'x'.repeat(int(r, 129, 300)),
    () => 'v1@sha256:' + 'b'.repeat(64),
    () => '.hidden',
    () => 'ünï',
  ])();
}

function platformPart(r: Rand): string | undefined {
  return pick(r, [
    () => undefined,
    () => 'linux/amd64',
    () => 'linux/arm64',
    () => 'linux',
    () => 'windows/amd64',
    () => '',
    () => 'linux/amd64/v8/extra',
    () => '///',
    () => 'p'.repeat(int(r, 100, 600)),
    () => '{"os":"linux"}',
  ])();
}

/**
 * The `index`th pull or push case of the run seeded with `seed`, against the registry at `registry` (host:port on
 * 127.0.0.1): `POST /images/create` with mangled references, tags, platforms and X-Registry-Auth headers, and
 * `POST /images/{name}/push` the same way; some of them dropped by the client part-way.
 */
export function registryFuzzCase(seed: number, index: number, registry: string): FuzzCase {
  const r = seeded((seed * 1_000_033 + index) >>> 0);
  const query: string[] = [];
  const add = (k: string, v: string | undefined) => {
    if (v !== undefined) query.push(`${k}=${encodeURIComponent(v)}`);
  };
  let path: string;
  const push = r() < 0.35;
  if (push) {
    path = `/images/${registry}/${pick(r, [() => FUZZ_REPO, () => FUZZ_REPO, () => repoPart(r)])()}/push`;
    add('tag', tagPart(r));
  } else {
    path = '/images/create';
    add('fromImage', `${registry}/${repoPart(r)}`);
    add('tag', tagPart(r));
    add('platform', platformPart(r));
  }
  if (r() < 0.2) path = `/v${pick(r, ['1.41', '1.24', '1.40'])}${path}`;
  if (r() < 0.1) query.push(pick(r, ['%', '&&&', 'fromImage=', 'tag=%zz', `${'q'.repeat(2000)}=1`]));
  const target = query.length > 0 ? `${path}?${query.join('&')}` : path;
  const headers = ['Host: berthd'];
  const auth = registryAuth(r);
  if (auth !== undefined) headers.push(`X-Registry-Auth: ${auth}`);
  let payload = Buffer.alloc(0);
  if (r() < 0.2) {
    payload = Buffer.from(pick(r, ['{}', '{"a":', 'x'.repeat(int(r, 1, 100_000)), '[]']));
    headers.push('Content-Type: application/json', `Content-Length: ${payload.length}`);
  }
  headers.push('Connection: close');
  const head = Buffer.from(`POST ${target} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`, 'latin1');
  const dropAfterMs = r() < 0.15 ? int(r, 0, 300) : undefined;
  return {
    bytes: Buffer.concat([head, payload]),
    slow: false,
    endAfterWrite: false,
    streams: false,
    ...(dropAfterMs !== undefined ? { dropAfterMs } : {}),
    label: `#${index} ${push ? 'push' : 'pull'} POST ${target.length > 160 ? `${target.slice(0, 160)}…` : target}${auth !== undefined ? ` (X-Registry-Auth ${auth.length} chars)` : ''}${dropAfterMs !== undefined ? `, dropped after ${dropAfterMs} ms` : ''}`,
  };
}

/** What is wrong with `a`, the answer to `c` (or undefined when it is fine): a hang, no reply, a 5xx, a bare 4xx. */
export function answerProblem(c: FuzzCase, a: FuzzAnswer, boundMs: number): string | undefined {
  if (a.hung) return `no answer within ${boundMs} ms`;
  if (c.dropAfterMs !== undefined) return undefined;
  if (a.status === 0) return 'the connection closed without an answer';
  if (a.status < 0) return 'a malformed status line';
  if (a.status >= 500) return `status ${a.status}: ${a.body.slice(0, 300)}`;
  const head = c.bytes.toString('latin1').startsWith('HEAD ');
  if (a.status >= 400 && !head && a.status !== 101) {
    try {
      const parsed = JSON.parse(a.body) as { message?: unknown };
      if (typeof parsed.message !== 'string' || parsed.message === '')
        return `status ${a.status} without a message: ${a.body.slice(0, 200)}`;
    } catch {
      return `status ${a.status} with a body that is not JSON: ${JSON.stringify(a.body.slice(0, 200))}`;
    }
  }
  return undefined;
}

export interface FuzzAnswer {
  /** The status line's code, 0 when no answer came. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** No answer (nor a close) within the bound. */
  hung: boolean;
}

/**
 * Sends one case on a fresh connection to the unix socket and reads the answer
 * until the daemon closes the connection, the answer is complete, or `boundMs`
 * passes (then `hung`). A stream route's answer is complete at its head.
 */
export function send(socketPath: string, c: FuzzCase, boundMs: number): Promise<FuzzAnswer> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    let got = Buffer.alloc(0);
    let settled = false;
    const finish = (hung: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parse(got), hung });
    };
    const timer = setTimeout(() => finish(true), boundMs);
    if (c.dropAfterMs !== undefined) setTimeout(() => finish(false), c.dropAfterMs);
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      const a = parse(got);
      if (a.status === 0) return;
      if (c.streams && a.status < 300) return finish(false);
      const length = a.headers['content-length'];
      const headEnd = got.indexOf('\r\n\r\n');
      if (length !== undefined && got.length - headEnd - 4 >= Number(length)) finish(false);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => finish(false));
    void (async () => {
      if (!c.slow) {
        socket.write(c.bytes);
      } else {
        // A slow client: the request in small pieces, each after a short pause.
        for (let i = 0; i < c.bytes.length && !settled; i += 64) {
          socket.write(c.bytes.subarray(i, i + 64));
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      if (c.endAfterWrite && !settled) socket.end();
    })();
  });
}

function parse(raw: Buffer): Omit<FuzzAnswer, 'hung'> {
  const text = raw.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return { status: 0, headers: {}, body: '' };
  const [statusLine, ...lines] = text.slice(0, headEnd).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine ?? '');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const colon = l.indexOf(':');
    if (colon > 0) headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
  }
  return {
    status: m ? Number(m[1]) : -1,
    headers,
    body: raw.subarray(Buffer.byteLength(text.slice(0, headEnd + 4), 'latin1')).toString('utf8'),
  };
}
