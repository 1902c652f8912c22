// Exec endpoints (start hijacked like attach, inspect, resize) and network
// and volume endpoints (list, create, inspect, delete; volumes also prune), each one job.
import type { NetworkCreateRequest, VolumeCreateRequest } from '../../api/types.js';
import { invalidArgument } from '../../errdefs/errors.js';
import { httpError } from '../http-status.js';
import type { Reply, RouteRequest, RouteSpec } from '../route-types.js';
import { boolParam, intParam, parseFilters } from './query.js';
import { execStartShape, networkCreateShape, volumeCreateShape } from './request-shapes.js';
import { HijackSession } from './stream-output.js';

const execId = (r: RouteRequest): string => r.params.id as string;

async function execStart(r: RouteRequest, reply: Reply): Promise<void> {
  const body = await r.json<{ Detach?: boolean; Tty?: boolean; ConsoleSize?: number[] | null }>(execStartShape, true);
  const info = await r.engine.job(r.ctx, 'exec_inspect', { execId: execId(r) });
  const tty = body.Tty ?? info.ProcessConfig.tty;
  const consoleSize =
    Array.isArray(body.ConsoleSize) && body.ConsoleSize.length === 2
      ? (body.ConsoleSize as [number, number])
      : undefined;
  if (body.Detach === true) {
    await r.engine.job(r.ctx, 'exec_start', { execId: execId(r), detach: true, tty, consoleSize });
    reply.empty(200);
    return;
  }
  const session = new HijackSession(reply, tty);
  try {
    await r.engine.job(
      r.ctx,
      'exec_start',
      {
        execId: execId(r),
        detach: false,
        tty,
        consoleSize,
        stdin: info.OpenStdin ? session.stdin : undefined,
        waitForRoom: () => session.room(),
      },
      { onEvent: (chunk) => session.write(chunk) },
    );
  } catch (err) {
    if (!reply.started) throw err;
    r.ctx.logger.debug('exec stream ended with an error', { error: httpError(err).body.message });
  }
  await session.end();
}

export function execRoutes(): RouteSpec[] {
  return [
    { method: 'POST', pattern: '/exec/{id}/start', handler: execStart },
    {
      method: 'GET',
      pattern: '/exec/{id}/json',
      handler: async (r, reply) => reply.json(200, await r.engine.job(r.ctx, 'exec_inspect', { execId: execId(r) })),
    },
    {
      method: 'POST',
      pattern: '/exec/{id}/resize',
      handler: async (r, reply) => {
        await r.engine.job(r.ctx, 'exec_resize', {
          execId: execId(r),
          height: intParam(r.query.get('h'), 'h') ?? 0,
          width: intParam(r.query.get('w'), 'w') ?? 0,
        });
        reply.send(200, 'text/plain; charset=utf-8', '');
      },
    },
  ];
}

export function volumeRoutes(): RouteSpec[] {
  const name = (r: RouteRequest): string => r.params.name as string;
  return [
    {
      method: 'GET',
      pattern: '/volumes',
      handler: async (r, reply) =>
        reply.json(200, await r.engine.job(r.ctx, 'volume_list', { filters: parseFilters(r.query.get('filters')) })),
    },
    {
      method: 'POST',
      pattern: '/volumes/create',
      handler: async (r, reply) =>
        reply.json(
          201,
          await r.engine.job(r.ctx, 'volume_create', await r.json<VolumeCreateRequest>(volumeCreateShape, true)),
        ),
    },
    {
      method: 'POST',
      pattern: '/volumes/prune',
      handler: async (r, reply) =>
        reply.json(200, await r.engine.job(r.ctx, 'volume_prune', { filters: parseFilters(r.query.get('filters')) })),
    },
    {
      method: 'GET',
      pattern: '/volumes/{name}',
      handler: async (r, reply) => reply.json(200, await r.engine.job(r.ctx, 'volume_inspect', { name: name(r) })),
    },
    {
      method: 'DELETE',
      pattern: '/volumes/{name}',
      handler: async (r, reply) => {
        await r.engine.job(r.ctx, 'volume_delete', { name: name(r), force: boolParam(r.query.get('force'), 'force') });
        reply.empty(204);
      },
    },
  ];
}

export function networkRoutes(): RouteSpec[] {
  return [
    {
      method: 'GET',
      pattern: '/networks',
      handler: async (r, reply) =>
        reply.json(200, await r.engine.job(r.ctx, 'network_list', { filters: parseFilters(r.query.get('filters')) })),
    },
    {
      method: 'POST',
      pattern: '/networks/create',
      handler: async (r, reply) => {
        const body = await r.json<NetworkCreateRequest>(networkCreateShape);
        if (typeof body.Name !== 'string' || body.Name === '')
          throw invalidArgument('POST /networks/create: Name is required');
        reply.json(201, await r.engine.job(r.ctx, 'network_create', body));
      },
    },
    {
      method: 'GET',
      pattern: '/networks/{id}',
      handler: async (r, reply) =>
        reply.json(200, await r.engine.job(r.ctx, 'network_inspect', { id: r.params.id as string })),
    },
    {
      method: 'DELETE',
      pattern: '/networks/{id}',
      handler: async (r, reply) => {
        await r.engine.job(r.ctx, 'network_delete', { id: r.params.id as string });
        reply.empty(204);
      },
    },
  ];
}
