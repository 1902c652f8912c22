// berthd put together: takes the root's lock, writes the pid file, brings the
// engine up (restoring containers left by an earlier run), serves the API on
// every -H address, and shuts down in the reverse order: stop listening, cancel
// the requests in flight, stop the engine (containers stopped and recorded),
// remove sockets, pid file and lock.
import { mkdirSync, unlinkSync } from 'node:fs';
import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { wrap } from '../errdefs/errors.js';
import { writeFileAtomic } from '../fsutil/atomic-write.js';
import type { Engine } from '../jobs/engine.js';
import { withSignal, type Context } from '../trace/context.js';
import { createApiServer } from './api-server.js';
import { idleTimer, type IdleTimer } from './idle-trim.js';
import type { DaemonFlags } from './daemon-flags.js';
import { listenOn, removeSocket } from './listeners.js';
import { TraceStore } from './request-trace.js';
import { lockRoot } from './root-lock.js';
import { Router } from './router.js';
import { containerRoutes } from './routes/container-routes.js';
import { execRoutes, networkRoutes, volumeRoutes } from './routes/exec-and-network-routes.js';
import { imageRoutes } from './routes/image-routes.js';
import { systemRoutes } from './routes/system-routes.js';

export interface EngineHandle {
  engine: Engine;
  /** Stops the containers (their stop timeout) and records them; releases what the engine holds. */
  shutdown(ctx: Context): Promise<void>;
}

/** Builds the engine for the daemon's flags (jobs/builtins.ts createEngine in berthd; a fake in tests). */
export type EngineFactory = (ctx: Context, flags: DaemonFlags) => Promise<EngineHandle>;

export interface RunningDaemon {
  /** Where it listens, as clients name it (`unix:///…`, `tcp://127.0.0.1:PORT`). */
  readonly addresses: string[];
  readonly pidfile: string;
  /** Shuts down (idempotent); resolves when everything is released. */
  close(ctx: Context): Promise<void>;
}

/** Every route berthd serves, in one router. */
export function daemonRouter(traces: TraceStore): Router {
  return new Router([
    ...systemRoutes(traces),
    ...imageRoutes(),
    ...containerRoutes(),
    ...execRoutes(),
    ...networkRoutes(),
    ...volumeRoutes(),
  ]);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

export interface DaemonOptions {
  /** Called once the daemon had no request for `ms` after its start or its last request (idle-trim.ts). */
  idle?: { ms: number; onIdle: () => void };
}

/**
 * Starts berthd. Fails CONFLICT when another daemon holds the root, and with the
 * listen or engine error otherwise — undoing what it had done.
 */
export async function startDaemon(
  ctx: Context,
  flags: DaemonFlags,
  createEngine: EngineFactory,
  serverVersion: string,
  options: DaemonOptions = {},
): Promise<RunningDaemon> {
  mkdirSync(flags.root, { recursive: true, mode: 0o711 });
  mkdirSync(flags.execRoot, { recursive: true, mode: 0o755 });
  const lock = lockRoot(flags.root);
  const pidfile = flags.pidfile ?? join(flags.execRoot, 'berthd.pid');
  const shutdown = new AbortController();
  const daemonCtx = withSignal(ctx, shutdown.signal);
  const servers: Server[] = [];
  let handle: EngineHandle | undefined;
  let idle: IdleTimer | undefined;
  const undo = async (): Promise<void> => {
    idle?.stop();
    shutdown.abort(new Error('daemon shutting down'));
    await Promise.all(servers.map(closeServer));
    for (const s of servers) s.closeAllConnections();
    if (handle !== undefined) await handle.shutdown(ctx);
    for (const h of flags.hosts) removeSocket(h);
    try {
      unlinkSync(pidfile);
    } catch {
      // not written or already gone
    }
    lock.release();
  };
  try {
    await writeFileAtomic(pidfile, `${process.pid}\n`);
    handle = await createEngine(daemonCtx, flags);
    const traces = new TraceStore();
    const router = daemonRouter(traces);
    const addresses: string[] = [];
    for (const host of flags.hosts) {
      const server = createApiServer({ ctx: daemonCtx, engine: handle.engine, router, serverVersion, traces });
      servers.push(server);
      addresses.push(await listenOn(server, host));
    }
    if (options.idle !== undefined) {
      const timer = idleTimer(options.idle.ms, options.idle.onIdle);
      idle = timer;
      // a request's start and its end are activity; an open stream (events, attach) between them is not
      for (const server of servers) {
        server.on('request', (_req, res: ServerResponse) => {
          timer.touch();
          res.once('close', timer.touch);
        });
        server.on('upgrade', (_req, socket: Socket) => {
          timer.touch();
          socket.once('close', timer.touch);
        });
      }
    }
    ctx.logger.info('berthd: API listening', { addresses: addresses.join(' '), root: flags.root, pid: process.pid });
    let closing: Promise<void> | undefined;
    return {
      addresses,
      pidfile,
      close(closeCtx: Context) {
        closing ??= (async () => {
          closeCtx.logger.info('berthd: shutting down');
          await undo();
          closeCtx.logger.info('berthd: stopped');
        })();
        return closing;
      },
    };
  } catch (err) {
    await undo().catch(() => undefined);
    throw wrap(err, 'berthd start');
  }
}
