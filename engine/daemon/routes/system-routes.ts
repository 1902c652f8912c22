// System endpoints: /_ping, /version, /info, /events, and berth's own
// /berth/traces/{traceId} (the daemon half of a trace joined through traceparent).
import type { EventMessage } from '../../api/types.js';
import { invalidArgument } from '../../errdefs/errors.js';
import { jsonLine, OrderedWriter } from '../ordered-writer.js';
import type { TraceStore } from '../request-trace.js';
import type { RouteSpec } from '../route-types.js';
import { parseFilters, unixSeconds } from './query.js';

export function systemRoutes(traces: TraceStore): RouteSpec[] {
  return [
    {
      method: 'GET',
      pattern: '/_ping',
      handler: async (_r, reply) => {
        reply.send(200, 'text/plain; charset=utf-8', 'OK', {
          'Cache-Control': 'no-cache, no-store, must-revalidate',
          Pragma: 'no-cache',
        });
      },
    },
    {
      method: 'GET',
      pattern: '/version',
      handler: async (r, reply) => reply.json(200, await r.engine.job(r.ctx, 'version', {})),
    },
    {
      method: 'GET',
      pattern: '/info',
      handler: async (r, reply) => reply.json(200, await r.engine.job(r.ctx, 'info', {})),
    },
    {
      method: 'GET',
      pattern: '/events',
      handler: async (r, reply) => {
        const since = unixSeconds(r.query.get('since'), 'since');
        const until = unixSeconds(r.query.get('until'), 'until');
        const filters = parseFilters(r.query.get('filters'));
        const out = new OrderedWriter(reply, 'application/json');
        out.open();
        try {
          await r.engine.job(
            r.ctx,
            'events',
            { since, until, filters },
            { onEvent: (e: EventMessage) => out.push(jsonLine(e)) },
          );
        } catch (err) {
          if (!r.ctx.signal.aborted) throw err;
        } finally {
          await out.end();
        }
      },
    },
    {
      method: 'GET',
      pattern: '/berth/traces/{traceId}',
      handler: async (r, reply) => {
        const traceId = r.params.traceId as string;
        if (!/^[0-9a-f]{32}$/.test(traceId))
          throw invalidArgument(`trace ${JSON.stringify(traceId)}: expected 32 lowercase hex digits`);
        reply.json(200, await traces.take(traceId));
      },
    },
  ];
}
