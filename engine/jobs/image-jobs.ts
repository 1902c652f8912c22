// The image jobs: pull (registry → graph) and push (graph → registry), each with
// Docker's JSON progress on the job's channel, image_list, image_inspect,
// image_delete and tag.
import type { ImageDeleteResponseItem, ImageInspect, ImageSummary, JSONMessage } from '../api/types.js';
import { conflict, invalidArgument, isBerthError, notFound } from '../errdefs/errors.js';
import type { Graph, ImageDetails } from '../graph/graph.js';
import { pull } from './pull.js';
import { toDockerProgress, toDockerPushProgress } from '../registry/client/progress.js';
import { push } from './push.js';
import { DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN } from '../graph/reference.js';
import { DOCKER_HUB_ENDPOINT } from '../registry/client/endpoint.js';
import { RegistryClient } from '../registry/client/registry-client.js';
import type { Context } from '../trace/context.js';
import type { ContainerStore } from '../container/store.js';
import type { Engine } from './engine.js';
import type { EventBus } from './event-bus.js';
import type { Filters, RegistryAuth } from './job-map.js';
import type { Instrumenter } from '../trace/instrument.js';

export interface ImageJobDeps {
  graph: Graph;
  store: ContainerStore;
  events: EventBus;
  driverName: string;
  /** Registries reached over plain HTTP although not loopback. */
  insecureRegistries?: string[];
  /** How the composer wraps the parts a pull or push composes (trace's instrument()); none by default. */
  instrument?: Instrumenter;
}

async function imageSize(ctx: Context, graph: Graph, image: ImageDetails): Promise<number> {
  let size = 0;
  for (let chain = image.chainID; chain !== null;) {
    const layer = await graph.layers.get(ctx, chain).catch(() => undefined);
    if (layer === undefined) break;
    size += layer.size;
    chain = layer.parent;
  }
  return size;
}

function tagsAndDigests(image: ImageDetails): { tags: string[]; digests: string[] } {
  return {
    tags: image.references.filter((r) => !r.includes('@')),
    digests: image.references.filter((r) => r.includes('@')),
  };
}

function imageMatches(image: ImageDetails, filters: Filters | undefined): boolean {
  for (const [key, values] of Object.entries(filters ?? {})) {
    if (values.length === 0) continue;
    const labels = (image.config.config?.Labels ?? {}) as Record<string, string>;
    const ok = values.some((v) => {
      switch (key) {
        case 'dangling':
          return (v === 'true' || v === '1') === (image.references.length === 0);
        case 'reference': {
          const re = new RegExp(`^${v.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(:|$)`);
          return image.references.some((r) => re.test(r));
        }
        case 'label': {
          const i = v.indexOf('=');
          return i < 0 ? v in labels : labels[v.slice(0, i)] === v.slice(i + 1);
        }
        default:
          throw invalidArgument(`filter ${JSON.stringify(key)}: invalid filter for images`);
      }
    });
    if (!ok) return false;
  }
  return true;
}

export function registerImageJobs(engine: Engine, deps: ImageJobDeps): void {
  const { graph, events } = deps;

  engine.register('auth', async (ctx, job) => {
    const { username, password, serveraddress } = job.args;
    const domain = registryDomain(serveraddress);
    if (!username || !password)
      throw invalidArgument(`login to registry ${domain}: a username and a password are required`);
    const client = new RegistryClient({
      credentials: () => ({ username, password }),
      ...(deps.insecureRegistries ? { insecure: deps.insecureRegistries } : {}),
    });
    await client.checkLogin(ctx, domain);
    return { Status: 'Login Succeeded', IdentityToken: '' };
  });

  engine.register('pull', async (ctx, job) => {
    const { reference, platform, auth } = job.args;
    if (typeof reference !== 'string' || reference === '') throw invalidArgument('pull: a reference is required');
    const emit = (m: JSONMessage) => job.emit(m);
    emit({ status: `Pulling from ${reference}` });
    const result = await pull(ctx, graph, reference, {
      ...(platform ? { platform } : {}),
      ...(auth ? { auth: credentialsOf(auth) } : {}),
      ...(deps.insecureRegistries ? { insecure: deps.insecureRegistries } : {}),
      ...(deps.instrument ? { instrument: deps.instrument } : {}),
      onProgress: (e) => emit(toDockerProgress(e)),
    });
    const fresh = result.layers.some((l) => !l.skipped);
    emit({ status: `Digest: ${result.manifestDigest}` });
    emit({
      status: fresh
        ? `Status: Downloaded newer image for ${reference}`
        : `Status: Image is up to date for ${reference}`,
    });
    events.publish('image', 'pull', result.reference, { name: result.reference });
    return { imageId: result.imageId, reference: result.reference, manifestDigest: result.manifestDigest };
  });

  engine.register('push', async (ctx, job) => {
    const { reference, auth } = job.args;
    if (typeof reference !== 'string' || reference === '') throw invalidArgument('push: a reference is required');
    const emit = (m: JSONMessage) => job.emit(m);
    // the first message starts the 200 stream: it waits until the image is found (an unknown one is a 404)
    const result = await push(ctx, graph, reference, {
      onStart: (repository) => emit({ status: `The push refers to repository [${repository}]` }),
      onNote: (message) => emit({ status: message }),
      ...(auth ? { auth: credentialsOf(auth) } : {}),
      ...(deps.insecureRegistries ? { insecure: deps.insecureRegistries } : {}),
      ...(deps.instrument ? { instrument: deps.instrument } : {}),
      onProgress: (e) => emit(toDockerPushProgress(e)),
    });
    emit({ status: `${result.tag === '' ? '' : `${result.tag}: `}digest: ${result.digest} size: ${result.size}` });
    emit({ progressDetail: {}, aux: { Tag: result.tag, Digest: result.digest, Size: result.size } });
    events.publish('image', 'push', result.reference, { name: result.reference });
    return { digest: result.digest, size: result.size, tag: result.tag, reference: result.reference };
  });

  engine.register('image_list', async (ctx, job) => {
    const images = await graph.listImages(ctx);
    const used = new Map<string, number>();
    for (const c of deps.store.list()) used.set(c.imageId, (used.get(c.imageId) ?? 0) + 1);
    const out: ImageSummary[] = [];
    for (const image of images) {
      if (!imageMatches(image, job.args.filters)) continue;
      const size = await imageSize(ctx, graph, image);
      const { tags, digests } = tagsAndDigests(image);
      out.push({
        Id: image.id,
        ParentId: '',
        RepoTags: tags,
        RepoDigests: digests,
        Created: image.config.created ? Math.floor(Date.parse(image.config.created) / 1000) : 0,
        Size: size,
        SharedSize: -1,
        VirtualSize: size,
        Labels: (image.config.config?.Labels as Record<string, string> | null | undefined) ?? null,
        Containers: used.get(image.id) ?? 0,
      });
    }
    return out.sort((a, b) => b.Created - a.Created);
  });

  engine.register('image_inspect', async (ctx, job) => {
    const image = await getImage(ctx, graph, job.args.name);
    const { tags, digests } = tagsAndDigests(image);
    const size = await imageSize(ctx, graph, image);
    const c = image.config;
    const inspect: ImageInspect = {
      Id: image.id,
      RepoTags: tags,
      RepoDigests: digests,
      Parent: '',
      Comment: '',
      Created: c.created ?? '',
      Container: '',
      DockerVersion: '',
      Author: c.author ?? '',
      Config: (c.config ?? {}) as ImageInspect['Config'],
      Architecture: c.architecture,
      ...(c.variant ? { Variant: c.variant } : {}),
      Os: c.os,
      Size: size,
      VirtualSize: size,
      GraphDriver: { Name: deps.driverName, Data: null },
      RootFS: { Type: 'layers', Layers: c.rootfs.diff_ids },
      Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
    };
    return inspect;
  });

  engine.register('image_delete', async (ctx, job) => {
    const { name, force } = job.args;
    const image = await getImage(ctx, graph, name);
    const users = deps.store.list().filter((c) => c.imageId === image.id);
    const byId = image.id === name || image.id.replace(/^sha256:/, '').startsWith(name.replace(/^sha256:/, ''));
    if (users.length > 0 && !force && (byId || image.references.length <= 1)) {
      throw conflict(
        `image ${name}: conflict, unable to delete (must be forced): it is used by container ${users[0]!.id.slice(0, 12)}`,
      );
    }
    const r = await graph.deleteImage(ctx, name, force ? { force: true } : {});
    const items: ImageDeleteResponseItem[] = [
      ...r.untagged.map((u) => ({ Untagged: u })),
      ...r.deleted.map((d) => ({ Deleted: d })),
      ...r.layers.map((l) => ({ Deleted: l })),
    ];
    for (const u of r.untagged) events.publish('image', 'untag', image.id, { name: u });
    for (const d of r.deleted) events.publish('image', 'delete', d, { name });
    return items;
  });

  engine.register('tag', async (ctx, job) => {
    const { source, repo, tag } = job.args;
    if (!repo) throw invalidArgument(`tag ${source}: a repository is required`);
    const target = tag ? `${repo}:${tag}` : repo;
    await getImage(ctx, graph, source);
    await graph.tag(ctx, target, source);
    const image = await graph.getImage(ctx, target);
    events.publish('image', 'tag', image.id, { name: target });
  });
}

async function getImage(ctx: Context, graph: Graph, name: string): Promise<ImageDetails> {
  if (typeof name !== 'string' || name === '') throw invalidArgument('image: a name or id is required');
  try {
    return await graph.getImage(ctx, name);
  } catch (err) {
    if (isBerthError(err, 'NOT_FOUND')) throw notFound(`No such image: ${name}`, { cause: err });
    throw err;
  }
}

/** The credential source of X-Registry-Auth: only for the registry its serveraddress names (any, without one). */
export function credentialsOf(
  auth: RegistryAuth,
): (host: string) => { username: string; password: string } | undefined {
  if (auth.username === undefined || auth.password === undefined) return () => undefined;
  const creds = { username: auth.username, password: auth.password };
  // no server address: the credentials are for the registry of the reference (what the client looked them up for)
  if (auth.serveraddress === undefined || auth.serveraddress.trim() === '') return () => creds;
  let server: string;
  try {
    server = registryDomain(auth.serveraddress);
  } catch {
    return () => undefined;
  }
  return (host) => {
    try {
      return server === registryDomain(host) ? creds : undefined;
    } catch {
      return undefined;
    }
  };
}

/**
 * The registry a login's server address names, as a reference's domain: `host[:port]` without scheme and path;
 * Docker Hub's names (`https://index.docker.io/v1/`, `index.docker.io`, `registry-1.docker.io`) and an empty address
 * are `docker.io`. Fails INVALID_ARGUMENT for anything that is not a host.
 */
export function registryDomain(serveraddress: string | undefined): string {
  const host = (serveraddress ?? '')
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  if (host === '' || host === LEGACY_DEFAULT_DOMAIN || host === DEFAULT_DOMAIN || host === DOCKER_HUB_ENDPOINT)
    return DEFAULT_DOMAIN;
  if (!/^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:\d{1,5})?$/.test(host))
    throw invalidArgument(`login: server address ${JSON.stringify(serveraddress)} is not a registry host[:port]`);
  return host;
}
