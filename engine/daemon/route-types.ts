// What a route handler sees: the request (its Context, path parameters, query,
// body reader) and the Reply it answers through. Routes only translate HTTP to a
// job and the job's result back; the Reply hides whether the connection is a plain
// request or one that asked to be upgraded (attach, exec start).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Engine } from '../jobs/engine.js';
import type { Context } from '../trace/context.js';
import type { Shape } from './request-body.js';

export interface RouteRequest {
  /** Cancelled when the client hangs up or the daemon shuts down. */
  readonly ctx: Context;
  readonly engine: Engine;
  readonly req: IncomingMessage;
  readonly method: string;
  /** The path without its version prefix. */
  readonly path: string;
  /** The API version the client asked for (`1.41` when unversioned). */
  readonly version: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** Reads and checks the JSON body (400 malformed or mistyped, 413 too large). */
  json<T>(shape: Shape, optional?: boolean): Promise<T>;
}

/** An answer in progress: a streamed body written piece by piece. */
export interface BodyWriter {
  /** Writes a chunk; resolves once the transport took it (back-pressure), rejects when the client left. */
  write(chunk: Buffer | string): Promise<void>;
  end(): void;
}

export interface Reply {
  /** True once a status line went out (an error then can only end the stream). */
  readonly started: boolean;
  json(status: number, body: unknown): void;
  /** A whole body of `contentType` (HEAD requests get the headers only). */
  send(status: number, contentType: string, body: string, headers?: Record<string, string>): void;
  /** An answer without a body (204, 304). */
  empty(status: number): void;
  /** Starts a 200 streamed body of `contentType` (chunked on HTTP/1.1). */
  stream(contentType: string): BodyWriter;
  /**
   * Takes the connection over (attach, exec start): answers 101 UPGRADED when the
   * client asked for `Upgrade: tcp`, else a 200 whose body is the raw stream, and
   * returns the duplex to the client. Bytes the client sent after the request are
   * the first ones read from it.
   */
  hijack(contentType: string): Duplex;
}

export type RouteHandler = (r: RouteRequest, reply: Reply) => Promise<void>;

export interface RouteSpec {
  method: string;
  /** `/containers/{id}/json`; `{name*}` matches across slashes (image names). */
  pattern: string;
  handler: RouteHandler;
}
