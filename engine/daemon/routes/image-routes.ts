// Image endpoints: pull (POST /images/create, a JSON progress stream), list,
// inspect, tag, push (also streamed) and delete, each one job.
import type { JSONMessage } from '../../api/types.js';
import { invalidArgument, notImplemented } from '../../errdefs/errors.js';
import type { RegistryAuth } from '../../jobs/job-map.js';
import { httpError } from '../http-status.js';
import { trimMemory } from '../idle-trim.js';
import { jsonLine, OrderedWriter } from '../ordered-writer.js';
import type { RouteRequest, RouteSpec, Reply } from '../route-types.js';
import { readJsonBody } from '../request-body.js';
import { boolParam, parseFilters } from './query.js';
import { authConfigShape } from './request-shapes.js';

/** Decodes `X-Registry-Auth` (base64url JSON); an empty or `{}` header is no credentials. */
export function registryAuth(header: string | string[] | undefined): RegistryAuth | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(header.trim(), 'base64url').toString('utf8'));
  } catch {
    throw invalidArgument('X-Registry-Auth: not base64url-encoded JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw invalidArgument('X-Registry-Auth: expected a JSON object');
  const auth = value as Record<string, unknown>;
  const out: RegistryAuth = {};
  for (const key of ['username', 'password', 'identitytoken', 'registrytoken', 'serveraddress'] as const) {
    if (typeof auth[key] === 'string' && auth[key] !== '') out[key] = auth[key] as string;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/** `fromImage` plus `tag` (a tag or a digest) as one reference. */
export function pullReference(fromImage: string, tag: string | null): string {
  if (tag === null || tag === '') return fromImage;
  return tag.includes(':') ? `${fromImage}@${tag}` : `${fromImage}:${tag}`;
}

/**
 * Runs a job whose events are JSON progress messages: the 200 stream starts with
 * the first message; a failure before it is an ordinary error answer, one after
 * it the stream's last line (`errorDetail`), as Docker does. Before the answer ends,
 * the allocator gives back what the transfer freed (idle-trim.ts): a pull's or a
 * push's buffers would otherwise stay resident in its arenas.
 */
async function progressJob(
  reply: Reply,
  run: (onEvent: (m: JSONMessage) => void) => Promise<JSONMessage[]>,
): Promise<void> {
  const out = new OrderedWriter(reply, 'application/json');
  try {
    const tail = await run((m) => out.push(jsonLine(m)));
    for (const m of tail) out.push(jsonLine(m));
  } catch (err) {
    if (!out.started) throw err;
    const { body } = httpError(err);
    out.push(jsonLine({ errorDetail: { message: body.message }, error: body.message }));
  } finally {
    trimMemory();
  }
  await out.end();
}

async function pull(r: RouteRequest, reply: Reply): Promise<void> {
  if (r.query.get('fromSrc') !== null)
    throw notImplemented('POST /images/create: importing an image (fromSrc) is not supported');
  const fromImage = r.query.get('fromImage');
  if (fromImage === null || fromImage === '')
    throw invalidArgument('POST /images/create: query parameter fromImage is required');
  const reference = pullReference(fromImage, r.query.get('tag'));
  const platform = r.query.get('platform') || undefined;
  const auth = registryAuth(r.req.headers['x-registry-auth']);
  await progressJob(reply, async (onEvent) => {
    await r.engine.job(r.ctx, 'pull', { reference, platform, auth }, { onEvent });
    return [];
  });
}

async function push(r: RouteRequest, reply: Reply): Promise<void> {
  const name = r.params.name as string;
  const tag = r.query.get('tag');
  // Docker's name may carry the tag itself (`repo:tag`) when the query has none
  const reference = pullReference(name, tag);
  const auth = registryAuth(r.req.headers['x-registry-auth']);
  await progressJob(reply, async (onEvent) => {
    await r.engine.job(r.ctx, 'push', { reference, auth }, { onEvent });
    return [];
  });
}

/** `POST /auth` (`docker login`): the credentials checked against their registry by the auth job. */
async function login(r: RouteRequest, reply: Reply): Promise<void> {
  const body = await readJsonBody<Record<string, string | undefined>>(r.req, authConfigShape, 'POST /auth');
  const args: RegistryAuth = {};
  for (const key of ['username', 'password', 'serveraddress', 'identitytoken', 'registrytoken'] as const) {
    const v = body[key];
    if (v !== undefined && v !== null && v !== '') args[key] = v;
  }
  reply.json(200, await r.engine.job(r.ctx, 'auth', args));
}

export function imageRoutes(): RouteSpec[] {
  return [
    { method: 'POST', pattern: '/auth', handler: login },
    { method: 'POST', pattern: '/images/create', handler: pull },
    {
      method: 'GET',
      pattern: '/images/json',
      handler: async (r, reply) =>
        reply.json(
          200,
          await r.engine.job(r.ctx, 'image_list', {
            all: boolParam(r.query.get('all'), 'all'),
            filters: parseFilters(r.query.get('filters')),
          }),
        ),
    },
    {
      method: 'GET',
      pattern: '/images/{name*}/json',
      handler: async (r, reply) =>
        reply.json(200, await r.engine.job(r.ctx, 'image_inspect', { name: r.params.name as string })),
    },
    {
      method: 'POST',
      pattern: '/images/{name*}/tag',
      handler: async (r, reply) => {
        const repo = r.query.get('repo');
        if (repo === null || repo === '')
          throw invalidArgument(`tag ${r.params.name}: query parameter repo is required`);
        await r.engine.job(r.ctx, 'tag', {
          source: r.params.name as string,
          repo,
          tag: r.query.get('tag') || undefined,
        });
        reply.empty(201);
      },
    },
    { method: 'POST', pattern: '/images/{name*}/push', handler: push },
    {
      method: 'DELETE',
      pattern: '/images/{name*}',
      handler: async (r, reply) =>
        reply.json(
          200,
          await r.engine.job(r.ctx, 'image_delete', {
            name: r.params.name as string,
            force: boolParam(r.query.get('force'), 'force'),
            noprune: boolParam(r.query.get('noprune'), 'noprune'),
          }),
        ),
    },
  ];
}
