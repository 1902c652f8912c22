// The set-up the execdriver's kernel tests share: a temp bundle folder with the
// workload rootfs, a cgroup manager under a parent unique to the test process, an
// instrumented driver, and the clean-up of every container, cgroup and file they
// made (also after a failure); plus readers for a container's pipes and pty.
import { chmodSync, mkdtempSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { background } from '../trace/context.js';
import { instrument } from '../trace/instrument.js';
import { createCgroupManager } from './cgroups/manager.js';
import type { CgroupManager } from './cgroups/types.js';
import { createExecDriver, execDriverBoundary, type ExecDriver } from './execdriver.js';
import { makeWorkloadRootfs } from './workload-rootfs.js';

export interface ExecDriverWorld {
  /** The bundle folder (mode 0755, so a user-namespaced root reaches the rootfs). */
  readonly base: string;
  /** The workload rootfs under base. */
  readonly rootfs: string;
  readonly manager: CgroupManager;
  /** The cgroup parent of the driver's containers, unique to this process. */
  readonly cgroupParent: string;
  /** The driver, instrumented as the engine composes it (spans `execdriver.*`, `libcontainer.*`). */
  readonly driver: ExecDriver;
  /** A container id unique to this process, deleted after the test. */
  nextId(): string;
}

/**
 * Registers the hooks of one describe block: before all, the folder, rootfs
 * (`prepare` adds to it), cgroups and driver; after each test, every container
 * nextId() named is deleted; after all, stale cgroups and the folder go. `name`
 * goes into the folder, cgroup parent and container ids.
 */
export function useExecDriverWorld(
  name: string,
  prepare: (w: { base: string; rootfs: string }) => void = () => {},
): ExecDriverWorld {
  const ctx = background();
  const cgroupParent = `berth-${name}-test-${process.pid}`;
  const created: string[] = [];
  let seq = 0;
  let state: { base: string; rootfs: string; manager: CgroupManager; driver: ExecDriver } | undefined;
  const get = () => {
    if (state === undefined) throw new Error(`${name} test world: not set up (beforeAll failed?)`);
    return state;
  };

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), `berth-${name}-${process.pid}-`));
    chmodSync(dir, 0o755);
    const rootfs = makeWorkloadRootfs(join(dir, 'rootfs'));
    prepare({ base: dir, rootfs });
    const manager = createCgroupManager();
    state = {
      base: dir,
      rootfs,
      manager,
      driver: instrument('execdriver', createExecDriver({ cgroups: manager, cgroupParent }), execDriverBoundary),
    };
  });

  afterEach(async () => {
    for (const id of created.splice(0)) await state?.driver.delete(ctx, id).catch(() => undefined);
  });

  afterAll(async () => {
    await state?.manager.cleanupStale(ctx, cgroupParent).catch(() => undefined);
    if (state) rmSync(state.base, { recursive: true, force: true });
  });

  return {
    get base() {
      return get().base;
    },
    get rootfs() {
      return get().rootfs;
    },
    get manager() {
      return get().manager;
    },
    cgroupParent,
    get driver() {
      return get().driver;
    },
    nextId() {
      const id = `${name.slice(0, 2)}${process.pid}-${++seq}`;
      created.push(id);
      return id;
    },
  };
}

/** All of a stream, as UTF-8; '' for none. */
export async function readAll(stream: Readable | undefined): Promise<string> {
  if (stream === undefined) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads a pty master until EIO (every holder of its peer exited). Blocking: the process must exit on its own. */
export function readMaster(fd: number): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(4096);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EIO') break;
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw err;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}
