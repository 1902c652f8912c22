// Container endpoints: create, list, inspect, start, stop, restart, kill, wait,
// attach (hijacked), logs (streamed), resize, delete, and exec create. Each is one
// job; only wait, attach and logs shape the answer around the job's events.
import type { ContainerCreateRequest, ExecConfig, WaitCondition } from '../../api/types.js';
import { invalidArgument } from '../../errdefs/errors.js';
import { httpError } from '../http-status.js';
import { OrderedWriter } from '../ordered-writer.js';
import type { Reply, RouteRequest, RouteSpec } from '../route-types.js';
import { boolParam, intParam, parseFilters, unixSeconds } from './query.js';
import { containerCreateShape, execCreateShape } from './request-shapes.js';
import { chunkBytes, HijackSession, RAW_STREAM } from './stream-output.js';

const id = (r: RouteRequest): string => r.params.id as string;

async function create(r: RouteRequest, reply: Reply): Promise<void> {
  const config = await r.json<ContainerCreateRequest>(containerCreateShape);
  if (typeof config.Image !== 'string' || config.Image === '')
    throw invalidArgument('POST /containers/create: Config.Image is required');
  const name = r.query.get('name') ?? undefined;
  reply.json(201, await r.engine.job(r.ctx, 'create', { name: name === '' ? undefined : name, config }));
}

/** Docker's stop timeout `t` (seconds; -1 waits forever). */
function stopTimeout(r: RouteRequest): number | undefined {
  return intParam(r.query.get('t') ?? r.query.get('timeout'), 't');
}

const waitConditions: readonly WaitCondition[] = ['not-running', 'next-exit', 'removed'];

/**
 * The status line goes out as soon as the wait is armed (the job's first event),
 * because Docker's CLI waits for it before it starts the container; the body
 * follows when the condition is met. A failure after the status line is reported
 * in the body's Error field, as Docker does.
 */
async function wait(r: RouteRequest, reply: Reply): Promise<void> {
  const raw = r.query.get('condition') ?? 'not-running';
  const condition = (raw === '' ? 'not-running' : raw) as WaitCondition;
  if (!waitConditions.includes(condition))
    throw invalidArgument(`wait ${id(r)}: condition ${JSON.stringify(raw)} is not one of ${waitConditions.join(', ')}`);
  const out = new OrderedWriter(reply, 'application/json');
  let result;
  try {
    result = await r.engine.job(r.ctx, 'wait', { id: id(r), condition }, { onEvent: () => out.open() });
  } catch (err) {
    if (!out.started) throw err;
    result = { StatusCode: -1, Error: { Message: httpError(err).body.message } };
  }
  out.push(`${JSON.stringify(result)}\n`);
  await out.end();
}

async function attach(r: RouteRequest, reply: Reply): Promise<void> {
  const info = await r.engine.job(r.ctx, 'inspect', { id: id(r) });
  const tty = info.Config.Tty === true;
  const session = new HijackSession(reply, tty);
  const wantsStdin = boolParam(r.query.get('stdin'), 'stdin');
  try {
    await r.engine.job(
      r.ctx,
      'attach',
      {
        id: id(r),
        stdin: wantsStdin ? session.stdin : undefined,
        stdout: boolParam(r.query.get('stdout'), 'stdout'),
        stderr: boolParam(r.query.get('stderr'), 'stderr'),
        logs: boolParam(r.query.get('logs'), 'logs'),
        stream: boolParam(r.query.get('stream'), 'stream'),
        detachKeys: r.query.get('detachKeys') ?? undefined,
        waitForRoom: () => session.room(),
      },
      { onEvent: (chunk) => session.write(chunk) },
    );
  } catch (err) {
    if (!reply.started) throw err;
    r.ctx.logger.debug('attach ended with an error', { error: httpError(err).body.message });
  }
  await session.end();
}

async function logs(r: RouteRequest, reply: Reply): Promise<void> {
  const stdout = boolParam(r.query.get('stdout'), 'stdout');
  const stderr = boolParam(r.query.get('stderr'), 'stderr');
  if (!stdout && !stderr) throw invalidArgument('Bad parameters: you must choose at least one stream');
  const info = await r.engine.job(r.ctx, 'inspect', { id: id(r) });
  const tty = info.Config.Tty === true;
  const timestamps = boolParam(r.query.get('timestamps'), 'timestamps');
  const tailText = r.query.get('tail');
  const tail = tailText === null || tailText === '' || tailText === 'all' ? 'all' : intParam(tailText, 'tail');
  const out = new OrderedWriter(reply, RAW_STREAM);
  out.open();
  try {
    await r.engine.job(
      r.ctx,
      'logs',
      {
        id: id(r),
        follow: boolParam(r.query.get('follow'), 'follow'),
        stdout,
        stderr,
        since: unixSeconds(r.query.get('since'), 'since'),
        until: unixSeconds(r.query.get('until'), 'until'),
        timestamps,
        tail: typeof tail === 'number' && tail >= 0 ? tail : 'all',
        waitForRoom: () => out.room(),
      },
      { onEvent: (chunk) => out.push(chunkBytes(chunk, tty, timestamps)) },
    );
  } catch (err) {
    if (!r.ctx.signal.aborted)
      r.ctx.logger.warn('logs stream ended with an error', { error: httpError(err).body.message });
  }
  await out.end();
}

export function containerRoutes(): RouteSpec[] {
  return [
    { method: 'POST', pattern: '/containers/create', handler: create },
    {
      method: 'GET',
      pattern: '/containers/json',
      handler: async (r, reply) =>
        reply.json(
          200,
          await r.engine.job(r.ctx, 'list', {
            all: boolParam(r.query.get('all'), 'all'),
            limit: intParam(r.query.get('limit'), 'limit'),
            size: boolParam(r.query.get('size'), 'size'),
            filters: parseFilters(r.query.get('filters')),
          }),
        ),
    },
    {
      method: 'GET',
      pattern: '/containers/{id}/json',
      handler: async (r, reply) => reply.json(200, await r.engine.job(r.ctx, 'inspect', { id: id(r) })),
    },
    {
      method: 'POST',
      pattern: '/containers/{id}/start',
      handler: async (r, reply) => {
        const { changed } = await r.engine.job(r.ctx, 'start', { id: id(r) });
        reply.empty(changed ? 204 : 304);
      },
    },
    {
      method: 'POST',
      pattern: '/containers/{id}/stop',
      handler: async (r, reply) => {
        const { changed } = await r.engine.job(r.ctx, 'stop', {
          id: id(r),
          timeout: stopTimeout(r),
          signal: r.query.get('signal') || undefined,
        });
        reply.empty(changed ? 204 : 304);
      },
    },
    {
      method: 'POST',
      pattern: '/containers/{id}/restart',
      handler: async (r, reply) => {
        await r.engine.job(r.ctx, 'restart', {
          id: id(r),
          timeout: stopTimeout(r),
          signal: r.query.get('signal') || undefined,
        });
        reply.empty(204);
      },
    },
    {
      method: 'POST',
      pattern: '/containers/{id}/kill',
      handler: async (r, reply) => {
        await r.engine.job(r.ctx, 'kill', { id: id(r), signal: r.query.get('signal') || undefined });
        reply.empty(204);
      },
    },
    { method: 'POST', pattern: '/containers/{id}/wait', handler: wait },
    { method: 'POST', pattern: '/containers/{id}/attach', handler: attach },
    { method: 'GET', pattern: '/containers/{id}/logs', handler: logs },
    {
      method: 'POST',
      pattern: '/containers/{id}/resize',
      handler: async (r, reply) => {
        const height = intParam(r.query.get('h'), 'h') ?? 0;
        const width = intParam(r.query.get('w'), 'w') ?? 0;
        await r.engine.job(r.ctx, 'resize', { id: id(r), height, width });
        reply.send(200, 'text/plain; charset=utf-8', '');
      },
    },
    {
      method: 'DELETE',
      pattern: '/containers/{id}',
      handler: async (r, reply) => {
        await r.engine.job(r.ctx, 'delete', {
          id: id(r),
          force: boolParam(r.query.get('force'), 'force'),
          volumes: boolParam(r.query.get('v'), 'v'),
          link: boolParam(r.query.get('link'), 'link'),
        });
        reply.empty(204);
      },
    },
    {
      method: 'POST',
      pattern: '/containers/{id}/exec',
      handler: async (r, reply) => {
        const config = await r.json<ExecConfig>(execCreateShape);
        if (!Array.isArray(config.Cmd) || config.Cmd.length === 0)
          throw invalidArgument(`exec in ${id(r)}: Cmd is required`);
        reply.json(201, await r.engine.job(r.ctx, 'exec_create', { id: id(r), config }));
      },
    },
  ];
}
