// The typed client of berthd's API (the Docker Engine API subset), over a unix
// socket or loopback TCP. Used by the `berth` CLI, the tests and the bench. It
// imports nothing of the engine but the API types (and the shared error and trace
// helpers): an error answer becomes a BerthError whose code follows the status.
import { Duplex, PassThrough } from 'node:stream';
import type {
  AuthResponse,
  ContainerCreateRequest,
  ContainerCreateResponse,
  ContainerInspect,
  ContainerSummary,
  ContainerWaitResponse,
  EventMessage,
  ExecConfig,
  ExecCreateResponse,
  ExecInspect,
  ImageDeleteResponseItem,
  ImageInspect,
  ImageSummary,
  JSONMessage,
  NetworkCreateRequest,
  NetworkCreateResponse,
  NetworkResource,
  Volume,
  VolumeCreateRequest,
  VolumeListResponse,
  VolumePruneResponse,
  SystemInfo,
  SystemVersion,
  WaitCondition,
} from '../api/types.js';
import { BerthError, ErrorCode, invalidArgument, unavailable } from '../errdefs/errors.js';
import { encodeRegistryAuth } from './auth-config.js';
import { Http1Pool, http1Request, type Http1Request, type Http1Response } from './http1.js';

/** A streamed answer of the daemon: status, lower-case headers, the body as a readable stream of Buffers. */
export type ApiResponse = Http1Response;

export const DEFAULT_HOST = 'unix:///run/berth/berth.sock';
export const CLIENT_API_VERSION = '1.41';
/** X-Registry-Auth without credentials: `{}` encoded (padded URL-safe base64, as the docker CLI sends it). */
const NO_REGISTRY_AUTH = encodeRegistryAuth('{}');

/** The daemon address: `unix:///path` or `tcp://127.0.0.1:PORT` (also `http://`). */
export function parseHost(host: string): { socketPath: string } | { host: string; port: number } {
  const unix = /^unix:(?:\/\/)?(\/.+)$/.exec(host);
  if (unix !== null) return { socketPath: unix[1] as string };
  const tcp = /^(?:tcp|http):\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(host);
  if (tcp !== null) return { host: (tcp[1] as string).replace(/^\[|\]$/g, ''), port: Number(tcp[2]) };
  throw invalidArgument(`daemon host ${JSON.stringify(host)}: expected unix:///path/to.sock or tcp://HOST:PORT`);
}

const codeByStatus: Record<number, ErrorCode> = {
  400: ErrorCode.INVALID_ARGUMENT,
  401: ErrorCode.UNAUTHENTICATED,
  403: ErrorCode.PERMISSION_DENIED,
  404: ErrorCode.NOT_FOUND,
  409: ErrorCode.CONFLICT,
  413: ErrorCode.INVALID_ARGUMENT,
  431: ErrorCode.INVALID_ARGUMENT,
  501: ErrorCode.NOT_IMPLEMENTED,
  503: ErrorCode.UNAVAILABLE,
};

/** The error for a non-2xx answer: the daemon's message, the code its status stands for. */
function responseError(status: number, body: Buffer | string): BerthError {
  const text = body.toString().trim();
  let message = text;
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not JSON: keep the text
  }
  return new BerthError(codeByStatus[status] ?? ErrorCode.INTERNAL, message || `HTTP ${status}`, {
    details: { httpStatus: status },
  });
}

export interface CallOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface ClientOptions {
  /** The API version in request paths (1.41 by default). */
  version?: string;
  /** A `traceparent` header value for each request (the trace command joins client and daemon spans). */
  traceparent?: () => string | undefined;
  /** Kept connections shared with other clients of the same host (by default each client keeps its own). */
  pool?: Http1Pool;
}

export interface LogsOptions {
  follow?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  timestamps?: boolean;
  tail?: number | 'all';
  since?: number;
}

export class ApiClient {
  private readonly target: { socketPath: string } | { host: string; port: number };
  private readonly apiVersion: string;
  /** Connections kept between this client's requests (idle ones never keep the process alive). */
  private readonly pool: Http1Pool;

  constructor(
    readonly host: string = DEFAULT_HOST,
    private readonly options: ClientOptions = {},
  ) {
    this.target = parseHost(host);
    this.apiVersion = options.version ?? CLIENT_API_VERSION;
    this.pool = options.pool ?? new Http1Pool();
  }

  private request(method: string, path: string, opts: CallOptions, body: Buffer | undefined): Http1Request {
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v !== undefined) search.set(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
    }
    const qs = search.toString();
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const traceparent = this.options.traceparent?.();
    if (traceparent !== undefined) headers.traceparent = traceparent;
    const fullPath = `${path.startsWith('/_ping') || path.startsWith('/berth/') ? '' : `/v${this.apiVersion}`}${path}${qs ? `?${qs}` : ''}`;
    return { target: this.target, method, path: fullPath, headers, body, signal: opts.signal, pool: this.pool };
  }

  /** Closes the connections kept for this client's next requests (they also close on their own when idle). */
  close(): void {
    this.pool.close();
  }

  private unreachable(err: unknown): BerthError {
    const e = err as NodeJS.ErrnoException;
    if (e?.name === 'AbortError')
      return new BerthError(ErrorCode.CANCELLED, `daemon at ${this.host}: request cancelled`, { cause: err });
    return unavailable(
      `cannot connect to the berth daemon at ${this.host}: ${e?.code ?? ''} ${e?.message ?? String(err)}. Is berthd running?`,
      { cause: err },
    );
  }

  /** Sends a request and returns the streamed answer (status checked: a non-2xx becomes the thrown error). */
  async open(method: string, path: string, opts: CallOptions = {}): Promise<ApiResponse> {
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    let result;
    try {
      result = await http1Request(this.request(method, path, opts, body));
    } catch (err) {
      throw this.unreachable(err);
    }
    if (result.kind === 'upgrade') {
      result.socket.destroy();
      throw unavailable(`${method} ${path}: the daemon switched protocols unasked`);
    }
    const res = result.response;
    if (res.statusCode >= 400) throw responseError(res.statusCode, await readAll(res));
    return res;
  }

  /** A request whose whole answer is read: the parsed JSON (undefined for an empty body). */
  async call<T>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
    const res = await this.open(method, path, opts);
    const raw = await readAll(res);
    if (raw.length === 0) return undefined as T;
    const type = res.headers['content-type'] ?? '';
    return (type.includes('json') ? JSON.parse(raw.toString('utf8')) : raw.toString('utf8')) as T;
  }

  /** The status of a request without a body of interest (start and stop answer 304 when nothing changed). */
  async status(method: string, path: string, opts: CallOptions = {}): Promise<number> {
    const res = await this.open(method, path, opts);
    await readAll(res);
    return res.statusCode;
  }

  /** Reads a stream of JSON lines, calling onMessage for each; resolves at its end. */
  async jsonStream<T>(res: ApiResponse, onMessage: (m: T) => void): Promise<void> {
    let rest = '';
    for await (const chunk of res as AsyncIterable<Buffer>) {
      rest += chunk.toString('utf8');
      let nl: number;
      while ((nl = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, nl).trim();
        rest = rest.slice(nl + 1);
        if (line !== '') onMessage(JSON.parse(line) as T);
      }
    }
    if (rest.trim() !== '') onMessage(JSON.parse(rest) as T);
  }

  /**
   * Opens a hijacked connection (`Upgrade: tcp`): resolves with the duplex once the
   * daemon answered 101; an error answer is thrown.
   */
  async hijack(method: string, path: string, opts: CallOptions = {}): Promise<Duplex> {
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const request = this.request(
      method,
      path,
      { ...opts, headers: { ...(opts.headers ?? {}), Connection: 'Upgrade', Upgrade: 'tcp' } },
      body,
    );
    let result;
    try {
      result = await http1Request(request);
    } catch (err) {
      throw this.unreachable(err);
    }
    if (result.kind === 'response') {
      const res = result.response;
      const raw = await readAll(res);
      throw res.statusCode >= 400
        ? responseError(res.statusCode, raw)
        : unavailable(`${path}: the daemon did not switch protocols (HTTP ${res.statusCode})`);
    }
    const { socket, head } = result;
    // The daemon may have sent everything and closed already (a container without output): the
    // output is kept in a stream of its own that ends when the socket's input did, whenever the
    // caller reads it.
    const output = new PassThrough();
    if (head.length > 0) output.write(head);
    // `end: false` (the output is ended below): pipe() otherwise compares the target with process.stdout, which
    // makes that stream
    if (socket.readableEnded) output.end();
    else {
      socket.pipe(output, { end: false });
      socket.once('end', () => output.end());
    }
    const conn = Duplex.from({ readable: output, writable: socket });
    socket.on('close', () => {
      if (!output.writableEnded) output.end();
    });
    return conn;
  }

  // --- system
  async ping(signal?: AbortSignal): Promise<{ apiVersion: string | undefined; osType: string | undefined }> {
    const res = await this.open('GET', '/_ping', { signal });
    await readAll(res);
    return { apiVersion: res.headers['api-version'], osType: res.headers.ostype };
  }
  version(): Promise<SystemVersion> {
    return this.call('GET', '/version');
  }
  info(): Promise<SystemInfo> {
    return this.call('GET', '/info');
  }
  /** Streams events until `signal` aborts (or `until`); resolves at the stream's end. */
  async events(
    opts: { since?: number; until?: number; filters?: Record<string, string[]>; signal?: AbortSignal },
    onEvent: (e: EventMessage) => void,
  ): Promise<void> {
    const res = await this.open('GET', '/events', {
      query: { since: opts.since, until: opts.until, filters: opts.filters && JSON.stringify(opts.filters) },
      signal: opts.signal,
    });
    try {
      await this.jsonStream(res, onEvent);
    } catch (err) {
      if (!opts.signal?.aborted) throw err;
    }
  }

  // --- images
  /** Pulls `reference`; progress messages go to onProgress; an error message in the stream is thrown. */
  async pull(
    reference: string,
    onProgress: (m: JSONMessage) => void = () => undefined,
    opts: { platform?: string; signal?: AbortSignal; registryAuth?: string } = {},
  ): Promise<void> {
    const res = await this.open('POST', '/images/create', {
      query: { fromImage: reference, platform: opts.platform },
      headers: { 'X-Registry-Auth': opts.registryAuth ?? NO_REGISTRY_AUTH },
      signal: opts.signal,
    });
    await this.progress(res, onProgress, `pull ${reference}`);
  }
  /**
   * Pushes `name[:tag]` (tag `latest` when absent) or `name@digest`, as `docker push` asks: the tag (or digest) in
   * the query. `registryAuth` is the X-Registry-Auth value (base64url JSON credentials), none by default.
   */
  async push(
    reference: string,
    onProgress: (m: JSONMessage) => void = () => undefined,
    opts: { signal?: AbortSignal; registryAuth?: string } = {},
  ): Promise<void> {
    const slash = reference.lastIndexOf('/');
    const colon = reference.lastIndexOf(':');
    const at = reference.indexOf('@');
    const [name, tag] =
      at >= 0
        ? [reference.slice(0, at), reference.slice(at + 1)]
        : colon > slash
          ? [reference.slice(0, colon), reference.slice(colon + 1)]
          : [reference, 'latest'];
    const res = await this.open('POST', `/images/${name}/push`, {
      query: { tag },
      headers: { 'X-Registry-Auth': opts.registryAuth ?? NO_REGISTRY_AUTH },
      signal: opts.signal,
    });
    await this.progress(res, onProgress, `push ${reference}`);
  }
  private async progress(res: ApiResponse, onProgress: (m: JSONMessage) => void, subject: string): Promise<void> {
    let failure: string | undefined;
    await this.jsonStream<JSONMessage>(res, (m) => {
      if (m.error !== undefined || m.errorDetail !== undefined) failure = m.errorDetail?.message ?? m.error;
      else onProgress(m);
    });
    if (failure !== undefined) throw new BerthError(ErrorCode.UNAVAILABLE, `${subject}: ${failure}`);
  }
  /**
   * Checks registry credentials through the daemon (`POST /auth`, as `docker login`); an error answer (401 for
   * credentials the registry refused) is thrown.
   */
  auth(config: { username: string; password: string; serveraddress: string }): Promise<AuthResponse> {
    return this.call('POST', '/auth', { body: config });
  }
  images(opts: { all?: boolean; filters?: Record<string, string[]> } = {}): Promise<ImageSummary[]> {
    return this.call('GET', '/images/json', {
      query: { all: opts.all, filters: opts.filters && JSON.stringify(opts.filters) },
    });
  }
  imageInspect(name: string): Promise<ImageInspect> {
    return this.call('GET', `/images/${name}/json`);
  }
  imageRemove(name: string, opts: { force?: boolean; noprune?: boolean } = {}): Promise<ImageDeleteResponseItem[]> {
    return this.call('DELETE', `/images/${name}`, { query: opts });
  }
  async tag(source: string, repo: string, tag?: string): Promise<void> {
    await this.status('POST', `/images/${source}/tag`, { query: { repo, tag } });
  }

  // --- containers
  containerCreate(config: ContainerCreateRequest, name?: string): Promise<ContainerCreateResponse> {
    return this.call('POST', '/containers/create', { query: { name }, body: config });
  }
  containerList(
    opts: { all?: boolean; filters?: Record<string, string[]>; limit?: number } = {},
  ): Promise<ContainerSummary[]> {
    return this.call('GET', '/containers/json', {
      query: { all: opts.all, limit: opts.limit, filters: opts.filters && JSON.stringify(opts.filters) },
    });
  }
  containerInspect(id: string): Promise<ContainerInspect> {
    return this.call('GET', `/containers/${encodeURIComponent(id)}/json`);
  }
  /** Starts a container; false when it was running already (304). */
  async containerStart(id: string): Promise<boolean> {
    return (await this.status('POST', `/containers/${encodeURIComponent(id)}/start`)) === 204;
  }
  async containerStop(id: string, timeout?: number, signal?: string): Promise<boolean> {
    return (
      (await this.status('POST', `/containers/${encodeURIComponent(id)}/stop`, { query: { t: timeout, signal } })) ===
      204
    );
  }
  async containerRestart(id: string, timeout?: number): Promise<void> {
    await this.status('POST', `/containers/${encodeURIComponent(id)}/restart`, { query: { t: timeout } });
  }
  async containerKill(id: string, signal?: string): Promise<void> {
    await this.status('POST', `/containers/${encodeURIComponent(id)}/kill`, { query: { signal } });
  }
  async containerRemove(id: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    await this.status('DELETE', `/containers/${encodeURIComponent(id)}`, {
      query: { force: opts.force, v: opts.volumes },
    });
  }
  async containerResize(id: string, height: number, width: number): Promise<void> {
    await this.status('POST', `/containers/${encodeURIComponent(id)}/resize`, { query: { h: height, w: width } });
  }
  /**
   * Waits for `condition`. Resolves the outer promise once the daemon armed the wait
   * (its status line arrived), so the caller may start the container then; the
   * inner promise is the exit.
   */
  async containerWait(
    id: string,
    condition: WaitCondition = 'not-running',
    signal?: AbortSignal,
  ): Promise<{ result: Promise<ContainerWaitResponse> }> {
    const res = await this.open('POST', `/containers/${encodeURIComponent(id)}/wait`, { query: { condition }, signal });
    const result = readAll(res).then((raw) => JSON.parse(raw.toString('utf8')) as ContainerWaitResponse);
    result.catch(() => undefined);
    return { result };
  }
  /** Attaches: the duplex carries framed (or, with a TTY, raw) output and takes stdin. */
  containerAttach(
    id: string,
    opts: {
      stdin?: boolean;
      stdout?: boolean;
      stderr?: boolean;
      logs?: boolean;
      stream?: boolean;
      detachKeys?: string;
    },
  ): Promise<Duplex> {
    return this.hijack('POST', `/containers/${encodeURIComponent(id)}/attach`, {
      query: {
        stream: opts.stream ?? true,
        stdin: opts.stdin,
        stdout: opts.stdout ?? true,
        stderr: opts.stderr ?? true,
        logs: opts.logs,
        detachKeys: opts.detachKeys,
      },
    });
  }
  /** The raw logs answer: framed unless the container has a TTY. */
  containerLogs(id: string, opts: LogsOptions & { signal?: AbortSignal }): Promise<ApiResponse> {
    return this.open('GET', `/containers/${encodeURIComponent(id)}/logs`, {
      query: {
        follow: opts.follow,
        stdout: opts.stdout ?? true,
        stderr: opts.stderr ?? true,
        timestamps: opts.timestamps,
        tail: opts.tail,
        since: opts.since,
      },
      signal: opts.signal,
    });
  }

  // --- exec
  execCreate(id: string, config: ExecConfig): Promise<ExecCreateResponse> {
    return this.call('POST', `/containers/${encodeURIComponent(id)}/exec`, { body: config });
  }
  execStart(execId: string, opts: { tty?: boolean; consoleSize?: [number, number] }): Promise<Duplex> {
    return this.hijack('POST', `/exec/${encodeURIComponent(execId)}/start`, {
      body: { Detach: false, Tty: opts.tty ?? false, ConsoleSize: opts.consoleSize },
    });
  }
  async execStartDetached(execId: string): Promise<void> {
    await this.status('POST', `/exec/${encodeURIComponent(execId)}/start`, { body: { Detach: true } });
  }
  execInspect(execId: string): Promise<ExecInspect> {
    return this.call('GET', `/exec/${encodeURIComponent(execId)}/json`);
  }
  async execResize(execId: string, height: number, width: number): Promise<void> {
    await this.status('POST', `/exec/${encodeURIComponent(execId)}/resize`, { query: { h: height, w: width } });
  }

  // --- volumes
  volumeList(filters?: Record<string, string[]>): Promise<VolumeListResponse> {
    return this.call('GET', '/volumes', { query: { filters: filters && JSON.stringify(filters) } });
  }
  volumeCreate(request: VolumeCreateRequest): Promise<Volume> {
    return this.call('POST', '/volumes/create', { body: request });
  }
  volumeInspect(name: string): Promise<Volume> {
    return this.call('GET', `/volumes/${encodeURIComponent(name)}`);
  }
  async volumeRemove(name: string, force = false): Promise<void> {
    await this.status('DELETE', `/volumes/${encodeURIComponent(name)}`, { query: { force } });
  }
  volumePrune(filters?: Record<string, string[]>): Promise<VolumePruneResponse> {
    return this.call('POST', '/volumes/prune', { query: { filters: filters && JSON.stringify(filters) } });
  }

  // --- networks
  networkList(filters?: Record<string, string[]>): Promise<NetworkResource[]> {
    return this.call('GET', '/networks', { query: { filters: filters && JSON.stringify(filters) } });
  }
  networkCreate(request: NetworkCreateRequest): Promise<NetworkCreateResponse> {
    return this.call('POST', '/networks/create', { body: request });
  }
  networkInspect(id: string): Promise<NetworkResource> {
    return this.call('GET', `/networks/${encodeURIComponent(id)}`);
  }
  async networkRemove(id: string): Promise<void> {
    await this.status('DELETE', `/networks/${encodeURIComponent(id)}`);
  }
}

export async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}
