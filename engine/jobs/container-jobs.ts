// The container jobs (create, start, wait, kill, stop, restart, delete, inspect,
// list): thin mappings from typed args to the ContainerRuntime and the views.
import { invalidArgument } from '../errdefs/errors.js';
import type { ContainerStore } from '../container/store.js';
import type { ContainerRuntime } from './container-runtime.js';
import { matchesFilters, toInspect, toSummary } from './container-views.js';
import type { Engine } from './engine.js';

export interface ContainerJobDeps {
  runtime: ContainerRuntime;
  store: ContainerStore;
  /** A volume's host directory (inspect's Mounts). */
  volumeDir?: (name: string) => string;
  /** The exec instances of a container (inspect's ExecIDs). */
  execIds?: (containerId: string) => string[];
}

function requireId(id: unknown, job: string): string {
  if (typeof id !== 'string' || id === '') throw invalidArgument(`${job}: a container id or name is required`);
  return id;
}

export function registerContainerJobs(engine: Engine, deps: ContainerJobDeps): void {
  const { runtime, store } = deps;

  engine.register('create', (ctx, job) => runtime.create(ctx, job.args.name, job.args.config));
  engine.register('start', (ctx, job) => runtime.start(ctx, requireId(job.args.id, 'start')));
  engine.register('wait', (ctx, job) =>
    runtime.wait(ctx, requireId(job.args.id, 'wait'), job.args.condition ?? 'not-running', () =>
      job.emit({ armed: true }),
    ),
  );
  engine.register('kill', (ctx, job) =>
    runtime.kill(ctx, requireId(job.args.id, 'kill'), job.args.signal ?? 'SIGKILL'),
  );
  engine.register('stop', (ctx, job) =>
    runtime.stop(ctx, requireId(job.args.id, 'stop'), job.args.timeout, job.args.signal),
  );
  engine.register('restart', (ctx, job) =>
    runtime.restart(ctx, requireId(job.args.id, 'restart'), job.args.timeout, job.args.signal),
  );
  engine.register('delete', (ctx, job) =>
    runtime.remove(ctx, requireId(job.args.id, 'delete'), {
      force: job.args.force ?? false,
      volumes: job.args.volumes ?? false,
    }),
  );
  engine.register('inspect', async (_ctx, job) => {
    const rec = store.get(requireId(job.args.id, 'inspect'));
    // with another container's network, its etc files are the ones mounted
    const netOwner = rec.hostConfig.NetworkMode?.startsWith('container:')
      ? store.find(rec.hostConfig.NetworkMode.slice('container:'.length))
      : undefined;
    const inspect = toInspect(rec, store.containerDir(netOwner?.id ?? rec.id), deps.volumeDir);
    const execs = deps.execIds?.(rec.id) ?? [];
    return { ...inspect, ExecIDs: execs.length > 0 ? execs : null };
  });
  engine.register('list', async (_ctx, job) => {
    const { all, limit, filters } = job.args;
    let out = store
      .list()
      .filter(
        (r) =>
          (all || r.state.status === 'running' || (filters?.status?.length ?? 0) > 0) && matchesFilters(r, filters),
      );
    if (limit !== undefined && limit > 0) out = out.slice(0, limit);
    return out.map(toSummary);
  });
}
