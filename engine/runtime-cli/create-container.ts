// The create half of the runtime-spec lifecycle, shared by `create` and `run`: load the
// bundle, record the container, make its process through the execdriver (detached on
// an exec FIFO, or attached for a foreground run), run the create-time hooks, and hand
// a terminal's pty master to the console socket.
import { closeSync } from 'node:fs';
import { resolve } from 'node:path';
import { BerthError, ErrorCode, invalidArgument, wrap } from '../errdefs/errors.js';
import type { ExecDriver, StdioOption } from '../execdriver/execdriver.js';
import { hostMountRoot, releaseHostMountRoot } from '../execdriver/host-mount-root.js';
import { loadBundleSpec } from '../execdriver/spec/load-bundle.js';
import type { NamespaceType, Spec } from '../execdriver/spec/types.js';
import type { Context } from '../trace/context.js';
import { native } from '../../native/index.js';
import { CGROUP_PARENT, containerNamespaces } from './container-common.js';
import { toState } from './container-status.js';
import { makeFifo, writePidFile } from './files.js';
import { runHooks, runHooksWarning } from './hooks.js';
import { processInfo } from './process-info.js';
import type { ContainerRecord, StateStore } from './state-store.js';

export { CGROUP_PARENT, containerNamespaces } from './container-common.js';

export interface CreateRequest {
  id: string;
  bundle: string;
  pidFile?: string;
  /** Detached: the init waits on <state dir>/exec.fifo and outlives this process. */
  detached: boolean;
  stdio?: [StdioOption?, StdioOption?, StdioOption?];
  /**
   * runc's --console-socket: a unix stream socket that receives the pty master of a
   * process.terminal container (SCM_RIGHTS, the pty's name as payload). Required
   * exactly when the spec asks for a terminal.
   */
  consoleSocket?: string;
}

/**
 * Creates container `id` from its bundle: validates config.json, reserves the state
 * directory, clones the init through the execdriver, runs prestart and createRuntime
 * hooks (runtime namespace, while the init waits before its setup) and createContainer
 * hooks (inside the container's namespaces, while the init waits after its mounts and
 * before pivot_root: the path resolves in that mount namespace, where the host's tree
 * is still the root and the container's mounts sit under the rootfs path), sends a
 * terminal's master to the console socket, writes the pid file and records status
 * created. Fails INVALID_ARGUMENT when process.terminal and --console-socket do not go
 * together. Any failure undoes everything: the init is killed, its cgroup removed,
 * poststop hooks run (warnings) when the process existed, the state directory removed;
 * the error names the container.
 */
export async function createContainer(
  ctx: Context,
  store: StateStore,
  driver: ExecDriver,
  req: CreateRequest,
): Promise<ContainerRecord> {
  const subject = `container ${req.id}`;
  const bundle = resolve(req.bundle);
  store.dir(req.id); // validates the id before anything is made
  const spec = await loadBundleSpec(bundle, { warn: (m) => ctx.logger.warn(`${subject}: config.json: ${m}`) });
  if (spec.process === undefined) throw invalidArgument(`${subject}: config.json has no process to run`);
  const terminal = spec.process.terminal === true;
  if (terminal && req.consoleSocket === undefined)
    throw invalidArgument(
      `${subject}: process.terminal needs --console-socket (berth-runtime does not proxy a terminal itself)`,
    );
  if (!terminal && req.consoleSocket !== undefined)
    throw invalidArgument(
      `${subject}: --console-socket ${req.consoleSocket}: the spec does not ask for a terminal (process.terminal)`,
    );
  const createContainerHooks = spec.hooks?.createContainer ?? [];

  await store.reserve(req.id);
  const record: ContainerRecord = {
    id: req.id,
    ociVersion: spec.ociVersion,
    bundle,
    phase: 'creating',
    created: new Date().toISOString(),
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
    cgroupPath: spec.linux?.cgroupsPath ?? `${CGROUP_PARENT}/${req.id}`,
    spec,
  };
  const hostRoot = hostMountRoot(spec, bundle);
  if (hostRoot !== undefined) record.hostMountRoot = hostRoot;
  let made = false;
  let master: number | undefined;
  try {
    await store.write(record);
    const fifo = store.fifoPath(req.id);
    if (req.detached) await makeFifo(fifo);
    const proc = await driver.create(
      ctx,
      req.id,
      { dir: bundle, spec },
      {
        stdio: terminal ? 'terminal' : (req.stdio ?? ['inherit', 'inherit', 'inherit']),
        ...(req.detached ? { execFifo: fifo } : {}),
        beforeSetup: async (hctx: Context, pid: number) => {
          made = true;
          record.pid = pid;
          record.pidStartTime = processInfo(pid)?.startTime;
          await store.write(record);
          // The runtime spec's lifecycle runs these hooks after the create operation's
          // environment step, when the state is "created" ("creating" is that step itself).
          const state = toState(record, 'created');
          await runHooks(hctx, 'prestart', spec.hooks?.prestart, state);
          await runHooks(hctx, 'createRuntime', spec.hooks?.createRuntime, state);
        },
        ...(createContainerHooks.length > 0
          ? {
              createContainerHooks: (hctx: Context, pid: number) =>
                runHooks(hctx, 'createContainer', createContainerHooks, toState(record, 'created'), {
                  enter: { pid, namespaces: containerNamespaces(spec) },
                }),
            }
          : {}),
      },
    );
    made = true;
    master = proc.terminal;
    record.pid = proc.pid;
    record.pidStartTime = processInfo(proc.pid)?.startTime;
    if (master !== undefined) {
      const socket = resolve(req.consoleSocket!);
      try {
        native().sendFd(socket, master, native().ptyName(master));
      } catch (err) {
        // The native message already names the socket and the errno: "console socket S: connect: ENOENT (…)".
        const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? ErrorCode.NOT_FOUND : ErrorCode.UNAVAILABLE;
        throw new BerthError(code, `${subject}: ${(err as Error).message}`, { cause: err });
      }
      closeSync(master);
      master = undefined;
    }
    if (req.pidFile !== undefined) await writePidFile(resolve(req.pidFile), proc.pid);
    record.phase = 'created';
    await store.write(record);
    return record;
  } catch (err) {
    if (master !== undefined) closeSync(master);
    await driver.delete(ctx, req.id).catch(() => undefined);
    if (hostRoot !== undefined) {
      try {
        releaseHostMountRoot(subject, hostRoot);
      } catch (e) {
        ctx.logger.warn((e as Error).message);
      }
    }
    if (made) await runHooksWarning(ctx, 'poststop', spec.hooks?.poststop, toState(record, 'stopped'));
    await store.remove(req.id).catch(() => undefined);
    throw err instanceof BerthError && err.message.startsWith(subject) ? err : wrap(err, subject);
  }
}
