// Where berth-runtime keeps what it knows about each container between its separate
// invocations (create, start, state, kill, delete are different processes).
//
// Layout under --root (default /run/berth-runtime):
//   <root>/<id>/state.json   the ContainerRecord, replaced atomically (temp + rename)
//   <root>/<id>/exec.fifo    the FIFO a created container's init blocks on until `start`
//
// Its file calls are synchronous: each invocation is a short process that waits for them
// anyway, and neither a thread-pool round trip per call nor node:fs/promises (which loads
// streams and readline) is worth a command's start-up (README "Start-up of the commands").
import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { alreadyExists, notFound, wrap } from '../errdefs/errors.js';
import type { HostMountRoot } from '../execdriver/host-mount-root.js';
import type { ContainerStatus, Spec } from '../execdriver/spec/types.js';
import { writeFileAtomicSync } from '../fsutil/atomic-write.js';
import { checkContainerId, isContainerId } from '../fsutil/container-id.js';

export const DEFAULT_ROOT = '/run/berth-runtime';

/** What the runtime records about one container. */
export interface ContainerRecord {
  id: string;
  /** The bundle's ociVersion, reported back by `state`. */
  ociVersion: string;
  /** Absolute bundle path. */
  bundle: string;
  /**
   * What the runtime last did; the live status also looks at the process and the exec FIFO (container-status.ts):
   * a started container keeps 'created'.
   */
  phase: ContainerStatus;
  pid?: number;
  /** /proc/<pid>/stat start time, to tell the init from a recycled pid. */
  pidStartTime?: string;
  /** ISO time the container was created. */
  created: string;
  annotations?: Record<string, string>;
  /** The cgroup path the container's processes live in, for kill --all and delete. */
  cgroupPath?: string;
  /** A spec without a mount namespace: the rootfs bind left in the host's namespace, removed by delete. */
  hostMountRoot?: HostMountRoot;
  /** The validated spec, for the hooks later verbs run. */
  spec: Spec;
}

export class StateStore {
  constructor(readonly root: string = DEFAULT_ROOT) {}

  dir(id: string): string {
    checkContainerId(id);
    return join(this.root, id);
  }

  fifoPath(id: string): string {
    return join(this.dir(id), 'exec.fifo');
  }

  /** Makes the container's directory; fails ALREADY_EXISTS when the id is taken. */
  async reserve(id: string): Promise<string> {
    const dir = this.dir(id);
    try {
      mkdirSync(this.root, { recursive: true, mode: 0o711 });
      mkdirSync(dir, { mode: 0o711 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(`container ${id}: already exists`);
      throw wrap(err, `container ${id}: state dir ${dir}`);
    }
    return dir;
  }

  /** Replaces state.json atomically (a crash leaves the old or the new record). */
  async write(record: ContainerRecord): Promise<void> {
    writeFileAtomicSync(join(this.dir(record.id), 'state.json'), `${JSON.stringify(record)}\n`, {
      mode: 0o600,
      subject: `container ${record.id}: write state`,
    });
  }

  /** Fails NOT_FOUND `container <id>: does not exist`. */
  async read(id: string): Promise<ContainerRecord> {
    let text: string;
    try {
      text = readFileSync(join(this.dir(id), 'state.json'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`container ${id}: does not exist`);
      throw wrap(err, `container ${id}: read state`);
    }
    try {
      return JSON.parse(text) as ContainerRecord;
    } catch (err) {
      throw wrap(err, `container ${id}: state.json is corrupt`, 'DATA_LOSS');
    }
  }

  /** Ids of every container directory under the root, sorted; empty when the root does not exist. */
  async list(): Promise<string[]> {
    try {
      const entries = readdirSync(this.root, { withFileTypes: true });
      return entries
        .filter((e) => e.isDirectory() && isContainerId(e.name))
        .map((e) => e.name)
        .sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw wrap(err, `state root ${this.root}: list`);
    }
  }

  /**
   * Removes the container's directory; idempotent, also against another process removing
   * it at the same time. Its files (state.json, exec.fifo, a writer's temp file) go one by
   * one; anything else in it (a subdirectory) through a recursive rm.
   */
  async remove(id: string): Promise<void> {
    const dir = this.dir(id);
    const gone = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';
    try {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch (err) {
        if (gone(err)) return;
        throw err;
      }
      try {
        for (const name of names) {
          try {
            unlinkSync(join(dir, name));
          } catch (err) {
            if (!gone(err)) throw err;
          }
        }
        rmdirSync(dir);
      } catch (err) {
        if (gone(err)) return;
        rmSync(dir, { recursive: true, force: true });
      }
    } catch (err) {
      throw wrap(err, `container ${id}: remove state dir`);
    }
  }
}
