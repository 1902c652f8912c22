// The volume jobs (create, list, inspect, delete, prune): the local volume store
// as Docker's /volumes API shows it; a volume that any container uses is not
// removed (CONFLICT naming the containers).
import type { Volume } from '../api/types.js';
import type { VolumeRecord, VolumeStore } from '../container/volume-store.js';
import { conflict, invalidArgument, isBerthError } from '../errdefs/errors.js';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Engine } from './engine.js';
import type { EventBus } from './event-bus.js';
import type { Filters } from './job-map.js';

export interface VolumeJobDeps {
  volumes: VolumeStore;
  events: EventBus;
  /** The ids of the containers (any state) that use a volume. */
  usedBy: (name: string) => string[];
}

function view(volumes: VolumeStore, rec: VolumeRecord): Volume {
  return {
    Name: rec.name,
    Driver: 'local',
    Mountpoint: volumes.mountpoint(rec.name),
    CreatedAt: rec.createdAt,
    Labels: rec.labels,
    Scope: 'local',
    Options: {},
  };
}

/** `name`, `label` (key or key=value), `dangling` (true: unused) and `driver` filters, as Docker's. */
function matches(rec: VolumeRecord, filters: Filters | undefined, used: boolean): boolean {
  for (const [key, values] of Object.entries(filters ?? {})) {
    if (values.length === 0) continue;
    const ok = values.some((v) => {
      switch (key) {
        case 'name':
          return rec.name.includes(v);
        case 'label': {
          const eq = v.indexOf('=');
          return eq < 0 ? v in rec.labels : rec.labels[v.slice(0, eq)] === v.slice(eq + 1);
        }
        case 'dangling':
          if (v !== 'true' && v !== 'false' && v !== '1' && v !== '0')
            throw invalidArgument(`filter dangling=${v}: expected true or false`);
          return (v === 'true' || v === '1') === !used;
        case 'driver':
          return v === 'local';
        default:
          throw invalidArgument(`volume filter ${JSON.stringify(key)}: not supported (name, label, dangling, driver)`);
      }
    });
    if (!ok) return false;
  }
  return true;
}

/** Bytes under dir (regular files' sizes), for prune's SpaceReclaimed. */
async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await sizeOf(p);
    else if (e.isFile()) total += (await lstat(p).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

export function registerVolumeJobs(engine: Engine, deps: VolumeJobDeps): void {
  const { volumes, events } = deps;

  engine.register('volume_create', async (ctx, job) => {
    const req = job.args ?? {};
    if (req.Driver && req.Driver !== 'local')
      throw invalidArgument(`volume create: driver ${JSON.stringify(req.Driver)} is not supported (only local)`);
    if (req.DriverOpts && Object.keys(req.DriverOpts).length > 0)
      throw invalidArgument('volume create: DriverOpts are not supported by the local driver of berth');
    const known = req.Name ? volumes.find(req.Name) !== undefined : false;
    const rec = await volumes.create(ctx, { ...(req.Name ? { name: req.Name } : {}), labels: req.Labels ?? {} });
    if (!known) events.publish('volume', 'create', rec.name, {});
    return view(volumes, rec);
  });

  engine.register('volume_list', async (_ctx, job) => ({
    Volumes: volumes
      .list()
      .filter((v) => matches(v, job.args.filters, deps.usedBy(v.name).length > 0))
      .map((v) => view(volumes, v)),
    Warnings: [],
  }));

  engine.register('volume_inspect', async (_ctx, job) => view(volumes, volumes.get(job.args.name)));

  engine.register('volume_delete', async (ctx, job) => {
    const { name, force } = job.args;
    if (volumes.find(name) === undefined && force) return;
    volumes.get(name);
    const users = deps.usedBy(name);
    if (users.length > 0) throw conflict(`remove ${name}: volume is in use - [${users.join(', ')}]`);
    await volumes.remove(ctx, name).catch((err: unknown) => {
      if (!(force && isBerthError(err, 'NOT_FOUND'))) throw err;
    });
    events.publish('volume', 'destroy', name, {});
  });

  engine.register('volume_prune', async (ctx, job) => {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const v of volumes.list()) {
      if (deps.usedBy(v.name).length > 0 || !matches(v, job.args.filters, false)) continue;
      const size = await sizeOf(volumes.mountpoint(v.name));
      await volumes.remove(ctx, v.name);
      events.publish('volume', 'destroy', v.name, {});
      deleted.push(v.name);
      reclaimed += size;
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
  });
}
