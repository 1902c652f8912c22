// The execdriver: turns an OCI bundle into a running container process through the
// native core (clone with namespaces, setup in a C-only child, execve), with the
// create/start split of the runtime spec, cgroups joined while the child waits, and
// exit status read from a pidfd without blocking the event loop.
//
// Lifecycle of one container:
//   create: clone → [cgroup create + attach of what the child does not join itself,
//           options.beforeSetup] → "setup" → child joins its v1 cgroups, brings lo up,
//           mounts → ["hooks": options.createContainerHooks → "resume"] → pivot_root
//           [terminal: "terminal" carries the pty master] → caps / user … → "created"
//           (status created)
//   start:  "start" → execve → the sync socket closes (status running); in detached
//           mode the exec FIFO is opened for reading instead
//   wait:   the pidfd reports the exit (status stopped), the child is reaped
//   delete: SIGKILL what is left, destroy the cgroup, forget the container
//
// Each call returns the steps it timed as data (the child's own clock reads come up
// its sync socket; the cgroup, hooks and setup waits are read here): TimedSteps on
// the result, or in the error's details.steps. execDriverBoundary tells the
// instrument layer how they become child spans; this file records no span.
import { closeSync } from 'node:fs';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import {
  alreadyExists,
  BerthError,
  failedPrecondition,
  internal,
  invalidArgument,
  notFound,
  wrap,
} from '../errdefs/errors.js';
import { checkContainerId } from '../fsutil/container-id.js';
import { fromMonotonicNs, nowNs } from '../trace/clock.js';
import { background, throwIfCancelled, type Context } from '../trace/context.js';
import type { InstrumentOptions, TimedStep } from '../trace/instrument.js';
import { native, spawnContainer, type NativeChildMessage, type NativeSpawned } from '../../native/index.js';
import type { Cgroup, CgroupManager } from './cgroups/types.js';
import { allowDeviceNodes } from './cgroups/convert.js';
import { createCgroupManager } from './cgroups/manager.js';
import { childError } from './child-error.js';
import { releaseExecFifo } from './exec-fifo.js';
import { nativeConfig } from './native-config.js';
import type { ContainerStatus, Process, Spec } from './spec/types.js';
import { nativeExecConfig } from './exec-config.js';
import { prepareStdio, type StdioOption } from './stdio.js';

export type { StdioOption } from './stdio.js';

/** A bundle: its directory and its validated config.json (loadBundleSpec). */
export interface Bundle {
  dir: string;
  spec: Spec;
}

export interface CreateOptions {
  /**
   * Fds 0, 1, 2 of the container; each 'ignore' (/dev/null) unless given. 'terminal'
   * (exactly when the spec sets process.terminal): a pty from the container's devpts
   * is its controlling terminal on 0–2, and ContainerProcess.terminal is its master.
   */
  stdio?: [StdioOption?, StdioOption?, StdioOption?] | 'terminal';
  /**
   * Detached mode (for `berth-runtime create`): the created child does not wait on
   * this process but opens this FIFO for writing at its start point, so it survives
   * the exit of the process that created it; start() — or releaseExecFifo() from
   * another process — opens it for reading. The FIFO must exist (mkfifo, mode 0622
   * so a non-root container user can open it) and the spec needs a /proc mount.
   * Use files or inherited fds for stdio in this mode.
   */
  execFifo?: string;
  /**
   * Runs while the child waits before its setup, after it joined its cgroup: the
   * place to move a network interface into its namespace (/proc/<pid>/ns/net).
   */
  beforeSetup?: (ctx: Context, pid: number) => Promise<void>;
  /**
   * The OCI createContainer point: runs while the child waits after its mounts and
   * before pivot_root (its mount namespace holds the container's mounts under the
   * rootfs path, the old root still visible). A rejection fails create (with the
   * usual cleanup). Without it the child makes no such stop.
   */
  createContainerHooks?: (ctx: Context, pid: number) => Promise<void>;
  /**
   * The rootfs as a detached mount (an fd of fsmount or open_tree, e.g. the graphdriver's getDetached): the child
   * attaches it over spec.root.path in its own mount namespace instead of binding that path, so this process's mount
   * table holds nothing of the container. The fd stays the caller's (the child gets a copy, closed at its execve).
   * Needs a new mount namespace and no idmapped rootfs.
   */
  rootfsMount?: number;
}

export type ExitStatus =
  { exitCode: number; signal?: undefined } | { signal: NodeJS.Signals | number; exitCode?: undefined };

export interface ContainerProcess {
  id: string;
  /** The host pid of the container's process (pid 1 in its pid namespace). */
  pid: number;
  /** Present for stdio 'pipe'. */
  stdin: Writable | undefined;
  stdout: Readable | undefined;
  stderr: Readable | undefined;
  /**
   * With stdio 'terminal': the pty master (close-on-exec), owned by the caller from
   * here on — read the container's output from it, write its input to it, close it
   * when done (the container then gets SIGHUP). Reading it fails EIO once every
   * holder of the peer exited.
   */
  terminal?: number;
  /** The steps of the set-up, timed (`libcontainer.clone`, `execdriver.cgroup`, the child's own, …). */
  steps?: TimedStep[];
}

/** What start timed: the wait for execve (`libcontainer.execve`). */
export interface StartResult {
  steps: TimedStep[];
}

export interface ExecOptions {
  /**
   * Fds 0, 1, 2 of the new process, as CreateOptions.stdio; 'terminal' exactly when
   * process.terminal: a new pty from the container's devpts, its master in
   * ExecProcess.terminal.
   */
  stdio?: [StdioOption?, StdioOption?, StdioOption?] | 'terminal';
}

/** A process started by exec in a running container. */
export interface ExecProcess {
  /** Its host pid. */
  pid: number;
  stdin: Writable | undefined;
  stdout: Readable | undefined;
  stderr: Readable | undefined;
  /** With stdio 'terminal': the pty master, owned by the caller (as ContainerProcess.terminal). */
  terminal?: number;
  /** Resolves with its exit status once it exited (the driver reaps it). */
  exited: Promise<ExitStatus>;
  /** Signals it (through its pidfd); a no-op once it exited. */
  kill(signal: NodeJS.Signals | number): void;
  /** The steps of its set-up and execve, timed. */
  steps?: TimedStep[];
}

export interface ContainerState {
  id: string;
  status: ContainerStatus;
  pid: number | undefined;
  /** Set once stopped. */
  exit: ExitStatus | undefined;
  /** The cgroup path, when the container has one. */
  cgroup: string | undefined;
  /** Its cgroup, for reading counters (the OOM kills at exit) without opening it again; undefined once deleted. */
  cgroupHandle?: Cgroup;
}

export interface ExecDriver {
  /**
   * Creates the container's process and runs its whole setup; resolves with the
   * process waiting to execve (status created). Fails ALREADY_EXISTS for a known
   * id, INVALID_ARGUMENT / NOT_FOUND / NOT_IMPLEMENTED for a spec the core cannot
   * run, and with the child's error naming the step, subject and errno
   * (`container c1: mount proc on /proc: EPERM`). On failure nothing is left: the
   * child is killed and reaped, the cgroup removed, the id forgotten.
   * Cost: one clone (a new network namespace is its dearest part), the cgroup
   * writes, and the child's mounts.
   */
  create(ctx: Context, id: string, bundle: Bundle, options?: CreateOptions): Promise<ContainerProcess>;
  /**
   * Lets a created container execve its args. Resolves once execve succeeded (status
   * running); fails with the child's error (`execve /nope: ENOENT`, the process then
   * exits 127) or FAILED_PRECONDITION when the container is not created.
   */
  start(ctx: Context, id: string): Promise<StartResult>;
  /**
   * Resolves with the exit status once the process exited; any number of callers. Cancelling ctx stops only the
   * waiting.
   */
  wait(ctx: Context, id: string): Promise<ExitStatus>;
  /**
   * Sends a signal (name or number) to the container's process through its pidfd
   * (never to a reused pid). A stopped container fails FAILED_PRECONDITION. A created
   * (not started) process has every signal blocked: only SIGKILL acts on it. As pid 1
   * of a pid namespace the process ignores signals it has no handler for, SIGKILL aside.
   */
  kill(ctx: Context, id: string, signal: NodeJS.Signals | number): Promise<void>;
  /**
   * Starts a new process in the running container `id`: in all its namespaces (its
   * pid namespace included) and its cgroup, with `process`'s user, capabilities,
   * rlimits, no_new_privileges, env and cwd and the container's seccomp filter.
   * Resolves once the process execve'd. Fails NOT_FOUND for an unknown id,
   * FAILED_PRECONDITION when the container is not running, INVALID_ARGUMENT for a
   * bad process, and with the child's error when execve failed — then
   * details.exitCode is 127 (not found) or 126 (cannot execute), as the exec's
   * exit status. Cost: one clone without new namespaces, a cgroup write, setns calls.
   */
  exec(ctx: Context, id: string, process: Process, options?: ExecOptions): Promise<ExecProcess>;
  /** The container's status and pid; NOT_FOUND for an unknown id. */
  state(ctx: Context, id: string): Promise<ContainerState>;
  /**
   * Kills what is left (SIGKILL; the cgroup's other processes too when it cannot be
   * removed), waits for the exit, closes the stdin pipe, removes the cgroup and
   * forgets the id. NOT_FOUND for an unknown id (so a second delete fails).
   */
  delete(ctx: Context, id: string): Promise<void>;
}

export interface ExecDriverOptions {
  /** The cgroup manager; by default one for this host, made on first use; null: no cgroups. */
  cgroups?: CgroupManager | null;
  /** Cgroup path of a container whose spec has no linux.cgroupsPath: `<cgroupParent>/<id>` (default "berth"). */
  cgroupParent?: string;
  /**
   * The cgroupParent's levels stay when a container's cgroup goes (its owner removes them when it stops and at its next
   * start): each create then makes only the container's own level below them.
   */
  keepCgroupParent?: boolean;
}

interface Container {
  id: string;
  /** The container's spec: exec joins its namespaces and applies its seccomp filter. */
  spec: Spec;
  status: ContainerStatus;
  pid: number;
  pidfd: number | undefined;
  syncFd: number | undefined;
  execFifo: string | undefined;
  cgroup: Cgroup | undefined;
  exited: Promise<ExitStatus>;
  exit: ExitStatus | undefined;
  /** The pipe into the container's fd 0: closed by delete, when nobody can read it any more. */
  stdin: Writable | undefined;
  /** A containerRecv polls syncFd: closing it must wait. */
  receiving: boolean;
  closeWanted: boolean;
}

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, num]) => [num, name as NodeJS.Signals]),
);

function signalNumber(signal: NodeJS.Signals | number, subject: string): number {
  if (typeof signal === 'number') {
    if (!Number.isInteger(signal) || signal < 0 || signal > 64)
      throw invalidArgument(`${subject}: invalid signal ${signal}`);
    return signal;
  }
  const num = (constants.signals as Record<string, number>)[signal];
  if (num === undefined) throw invalidArgument(`${subject}: unknown signal ${JSON.stringify(signal)}`);
  return num;
}

/** The execdriver on the native core. The composer instruments it (execDriverBoundary). */
export function createExecDriver(options: ExecDriverOptions = {}): ExecDriver {
  return new NativeExecDriver(options);
}

/** The steps a failed call carries in its error's details. */
function errorSteps(error: unknown): readonly TimedStep[] {
  const steps = (error as { details?: { steps?: unknown } } | undefined)?.details?.steps;
  return Array.isArray(steps) ? (steps as TimedStep[]) : [];
}

/**
 * The boundary as instrument('execdriver', driver, execDriverBoundary) wraps it:
 * each method a span `execdriver.<method>`, the steps its result (or error)
 * carries as child spans.
 */
export const execDriverBoundary: InstrumentOptions<ExecDriver> = {
  methods: ['create', 'start', 'wait', 'kill', 'exec', 'state', 'delete'],
  attributes: {
    create: (_ctx, id) => ({ id }),
    start: (_ctx, id) => ({ id }),
    wait: (_ctx, id) => ({ id }),
    kill: (_ctx, id, signal) => ({ id, signal: String(signal) }),
    exec: (_ctx, id, process) => ({ id, args: Array.isArray(process?.args) ? process.args.join(' ') : '' }),
    state: (_ctx, id) => ({ id }),
    delete: (_ctx, id) => ({ id }),
  },
  steps: {
    create: (r) => r.steps ?? [],
    start: (r) => r.steps,
    exec: (r) => r.steps ?? [],
  },
  errorSteps,
};

/** A step timed in this process. */
function nodeStep(module: string, method: string, startNs: number, attributes?: TimedStep['attributes']): TimedStep {
  return { module, method, startNs, endNs: nowNs(), origin: 'node', ...(attributes ? { attributes } : {}) };
}

/** err with `steps` added to its details (a BerthError keeps its code and message). */
function withSteps(err: unknown, steps: TimedStep[]): unknown {
  if (err instanceof BerthError)
    (err as { details: Record<string, unknown> | undefined }).details = { ...err.details, steps };
  return err;
}

class NativeExecDriver implements ExecDriver {
  private readonly containers = new Map<string, Container>();
  private manager: CgroupManager | null | undefined;

  constructor(private readonly options: ExecDriverOptions) {
    this.manager = options.cgroups;
  }

  private cgroups(): CgroupManager | null {
    if (this.manager === undefined) this.manager = createCgroupManager();
    return this.manager;
  }

  private get(id: string): Container {
    const c = this.containers.get(id);
    if (c === undefined) throw notFound(`container ${id}: not found`);
    return c;
  }

  async create(ctx: Context, id: string, bundle: Bundle, options: CreateOptions = {}): Promise<ContainerProcess> {
    const subject = `container ${id}`;
    checkContainerId(id);
    if (this.containers.has(id)) throw alreadyExists(`${subject}: already exists`);
    throwIfCancelled(ctx, subject);
    const spec = bundle.spec;
    const terminal = options.stdio === 'terminal';
    if (terminal !== (spec.process?.terminal === true)) {
      throw invalidArgument(
        terminal
          ? `${subject}: stdio 'terminal' needs process.terminal in the spec`
          : `${subject}: process.terminal: the container's stdio must be 'terminal'`,
      );
    }
    let config: ReturnType<typeof nativeConfig>;
    try {
      config = nativeConfig(spec, bundle.dir, {
        stdio: [-1, -1, -1],
        ...(options.execFifo !== undefined ? { execFifo: options.execFifo } : {}),
        ...(options.createContainerHooks !== undefined ? { createContainerHooks: true } : {}),
        ...(options.rootfsMount !== undefined ? { rootfsMount: options.rootfsMount } : {}),
      });
    } catch (err) {
      throw wrap(err, subject);
    }
    // The cgroup is made while the child is cloned; only attach needs its pid.
    const manager = this.cgroups();
    const cgroupPath = spec.linux?.cgroupsPath ?? `${this.options.cgroupParent ?? 'berth'}/${id}`;
    // The child joins the v1 hierarchies itself right after "setup" (see selfJoinFiles);
    // not from a user namespace, where the host's cgroup files may not be its to write.
    const selfJoin =
      manager !== null && !(spec.linux?.namespaces ?? []).some((ns) => ns.type === 'user')
        ? manager.selfJoinFiles(cgroupPath)
        : [];
    if (selfJoin.length > 0) config.cgroupTasks = selfJoin;
    const cgroupStart = nowNs();
    const cgroup =
      manager === null
        ? undefined
        : manager.create(ctx, cgroupPath, allowDeviceNodes(spec.linux?.resources, spec.linux?.devices), {
            // a cgroupsPath from the spec may name a cgroup made beforehand: it is joined (as runc and crun do)
            joinExisting: spec.linux?.cgroupsPath !== undefined,
            keepParents: spec.linux?.cgroupsPath === undefined && this.options.keepCgroupParent === true,
          });
    cgroup?.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
    // A cgroup2 directory the child can be cloned straight into (the clone then waits for the create).
    const cloneInto = manager === null ? undefined : manager.cloneIntoDir(cgroupPath);
    if (cloneInto !== undefined) {
      try {
        await cgroup;
      } catch (err) {
        throw withSteps(wrap(err, subject), [nodeStep('execdriver', 'cgroup', cgroupStart, { path: cgroupPath })]);
      }
      config.cloneIntoCgroup = cloneInto;
    }

    let io: ReturnType<typeof prepareStdio>;
    let spawned: NativeSpawned;
    try {
      io = prepareStdio(terminal ? undefined : (options.stdio as StdioOption[] | undefined), subject);
    } catch (err) {
      await destroyCgroup(background(), cgroup);
      throw err;
    }
    try {
      config.stdio = io.childFds;
      spawned = await spawnContainer(config);
    } catch (err) {
      io.destroy();
      await destroyCgroup(background(), cgroup);
      throw wrap(err, `${subject}: clone`);
    } finally {
      io.closeChildEnds();
    }
    const steps: TimedStep[] = [cloneStep(spawned, { pid: spawned.pid })];

    const c: Container = {
      id,
      spec,
      status: 'creating',
      pid: spawned.pid,
      pidfd: spawned.pidfd,
      syncFd: spawned.syncFd,
      execFifo: options.execFifo,
      cgroup: undefined,
      exited: undefined as unknown as Promise<ExitStatus>,
      exit: undefined,
      stdin: io.stdin,
      receiving: false,
      closeWanted: false,
    };
    // A detached container may outlive this process: its wait must not keep Node alive.
    c.exited = this.watchExit(c, options.execFifo !== undefined);
    this.containers.set(id, c);

    // Cancelling ctx during the setup kills the child; its socket then reaches EOF.
    const onAbort = () => {
      if (c.pidfd !== undefined && c.exit === undefined) {
        try {
          native().pidfdSendSignal(c.pidfd, constants.signals.SIGKILL);
        } catch {
          // already gone
        }
      }
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let master: number | undefined;
    try {
      if (cgroup !== undefined) {
        c.cgroup = await cgroup;
        await c.cgroup.attach(ctx, c.pid, { selfJoined: selfJoin.length > 0, clonedInto: spawned.intoCgroup });
        steps.push(nodeStep('execdriver', 'cgroup', cgroupStart, { path: cgroupPath }));
      }
      if (options.beforeSetup !== undefined) await options.beforeSetup(ctx, c.pid);
      throwIfCancelled(ctx, subject);

      const t0 = nowNs();
      this.send(c, 'setup');
      let msg = await this.recv(c);
      for (;;) {
        if (msg?.type === 'hooks' && options.createContainerHooks !== undefined) {
          steps.push(...childSteps(spec, msg));
          throwIfCancelled(ctx, subject);
          const h0 = nowNs();
          await options.createContainerHooks(ctx, c.pid);
          steps.push(nodeStep('execdriver', 'createContainerHooks', h0));
          throwIfCancelled(ctx, subject);
          this.send(c, 'resume');
        } else if (msg?.type === 'terminal' && msg.terminalFd !== undefined) {
          if (master !== undefined || !terminal) {
            closeSync(msg.terminalFd);
            throw internal(`${subject}: unexpected terminal from the child`);
          }
          master = msg.terminalFd;
        } else {
          break;
        }
        msg = await this.recv(c);
      }
      if (msg !== null) steps.push(...childSteps(spec, msg));
      throwIfCancelled(ctx, subject);
      if (msg === null || msg.type !== 'created') {
        const status = msg === null ? await c.exited : undefined;
        throw msg !== null && msg.type === 'error'
          ? childError(id, msg)
          : internal(`${subject}: the child exited during setup (${describeExit(status)})`);
      }
      steps.push(nodeStep('execdriver', 'setup', t0));
      if (terminal && master === undefined) throw internal(`${subject}: the child sent no terminal`);
      if (c.execFifo !== undefined) this.closeSync(c);
      c.status = 'created';
    } catch (err) {
      if (master !== undefined) closeSync(master);
      if (c.cgroup === undefined) await destroyCgroup(background(), cgroup);
      await this.discard(c);
      io.destroy();
      throw withSteps(err instanceof BerthError && err.message.startsWith(subject) ? err : wrap(err, subject), steps);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
    return {
      id,
      pid: c.pid,
      stdin: io.stdin,
      stdout: io.stdout,
      stderr: io.stderr,
      ...(master !== undefined ? { terminal: master } : {}),
      steps,
    };
  }

  async start(ctx: Context, id: string): Promise<StartResult> {
    const c = this.get(id);
    const subject = `container ${id}`;
    if (c.status !== 'created') throw failedPrecondition(`${subject}: cannot start: it is ${c.status}`);
    throwIfCancelled(ctx, subject);
    const t0 = nowNs();
    if (c.execFifo !== undefined) {
      await releaseExecFifo(ctx, c.execFifo);
      c.status = c.exit === undefined ? 'running' : 'stopped';
      return { steps: [nodeStep('libcontainer', 'execve', t0)] };
    }
    c.status = 'running';
    try {
      this.send(c, 'start');
    } catch (err) {
      this.closeSync(c);
      throw wrap(err, `${subject}: start`);
    }
    const msg = await this.recv(c);
    this.closeSync(c);
    const steps = [nodeStep('libcontainer', 'execve', t0)];
    if (msg !== null) {
      await c.exited;
      throw withSteps(
        msg.type === 'error'
          ? childError(id, msg)
          : internal(`${subject}: unexpected ${msg.type} message from the child`),
        steps,
      );
    }
    return { steps };
  }

  async wait(ctx: Context, id: string): Promise<ExitStatus> {
    const c = this.get(id);
    if (c.exit !== undefined) return c.exit;
    throwIfCancelled(ctx, `container ${id}: wait`);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        try {
          throwIfCancelled(ctx, `container ${id}: wait`);
        } catch (err) {
          reject(err);
        }
      };
      ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([c.exited, aborted]);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort!);
    }
  }

  async kill(_ctx: Context, id: string, signal: NodeJS.Signals | number): Promise<void> {
    const c = this.get(id);
    const subject = `container ${id}: kill`;
    const num = signalNumber(signal, subject);
    if (c.exit !== undefined || c.pidfd === undefined) throw failedPrecondition(`${subject}: the container is stopped`);
    try {
      native().pidfdSendSignal(c.pidfd, num);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return; // exiting right now
      throw wrap(err, subject);
    }
  }

  async exec(ctx: Context, id: string, process: Process, options: ExecOptions = {}): Promise<ExecProcess> {
    const c = this.get(id);
    const subject = `container ${id}: exec`;
    if (c.status !== 'running' || c.exit !== undefined)
      throw failedPrecondition(
        `${subject}: the container is not running (${c.exit !== undefined ? 'stopped' : c.status})`,
      );
    throwIfCancelled(ctx, subject);
    const terminal = options.stdio === 'terminal';
    if (terminal !== (process.terminal === true)) {
      throw invalidArgument(
        terminal
          ? `${subject}: stdio 'terminal' needs process.terminal`
          : `${subject}: process.terminal: stdio must be 'terminal'`,
      );
    }
    let config: ReturnType<typeof nativeExecConfig>;
    try {
      config = nativeExecConfig(c.spec, c.pid, process, [-1, -1, -1]);
    } catch (err) {
      throw wrap(err, subject);
    }
    const io = prepareStdio(terminal ? undefined : (options.stdio as StdioOption[] | undefined), subject);
    let spawned: NativeSpawned;
    try {
      config.stdio = io.childFds;
      spawned = await spawnContainer(config);
    } catch (err) {
      io.destroy();
      // The container's process exited meanwhile: its /proc/<pid>/ns entries are gone.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') {
        throw failedPrecondition(`${subject}: the container is not running`, { cause: err });
      }
      throw wrap(err, `${subject}: clone`);
    } finally {
      io.closeChildEnds();
    }
    const steps: TimedStep[] = [cloneStep(spawned, { pid: spawned.pid, exec: 1 })];
    let pidfd: number | undefined = spawned.pidfd;
    let syncFd: number | undefined = spawned.syncFd;
    const exited = new Promise<ExitStatus>((resolve) => {
      native().pidfdWait(spawned.pidfd, (err, st) => {
        let status: ExitStatus;
        if (err !== null || st === null) status = { exitCode: -1 };
        else if (st.signal !== null) status = { signal: signalNames.get(st.signal) ?? st.signal };
        else status = { exitCode: st.exitCode ?? -1 };
        if (pidfd !== undefined) closeSync(pidfd);
        pidfd = undefined;
        resolve(status);
      });
    });
    const kill = (signal: NodeJS.Signals | number) => {
      const num = signalNumber(signal, `${subject}: kill`);
      if (pidfd === undefined) return;
      try {
        native().pidfdSendSignal(pidfd, num);
      } catch {
        // exiting right now
      }
    };
    const recv = () =>
      new Promise<NativeChildMessage | null>((resolve, reject) => {
        native().containerRecv(syncFd!, (err, msg) =>
          err !== null ? reject(wrap(err, `${subject}: sync`)) : resolve(msg),
        );
      });
    let master: number | undefined;
    const onAbort = () => kill('SIGKILL');
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      // Into the container's cgroup before any of the process's code runs.
      if (c.cgroup !== undefined) await c.cgroup.attach(ctx, spawned.pid);
      throwIfCancelled(ctx, subject);
      const t0 = nowNs();
      native().containerSend(syncFd, 'setup');
      let msg = await recv();
      while (msg?.type === 'terminal' && msg.terminalFd !== undefined) {
        if (master !== undefined || !terminal) {
          closeSync(msg.terminalFd);
          throw internal(`${subject}: unexpected terminal from the child`);
        }
        master = msg.terminalFd;
        msg = await recv();
      }
      if (msg !== null) steps.push(...childSteps(c.spec, msg));
      if (msg === null || msg.type !== 'created') {
        const status = await exited;
        throw msg !== null && msg.type === 'error'
          ? childError(id, msg)
          : internal(`${subject}: the child exited during setup (${describeExit(status)})`);
      }
      steps.push(nodeStep('execdriver', 'exec-setup', t0));
      throwIfCancelled(ctx, subject);
      if (terminal && master === undefined) throw internal(`${subject}: the child sent no terminal`);
      const e0 = nowNs();
      native().containerSend(syncFd, 'start');
      msg = await recv();
      steps.push(nodeStep('libcontainer', 'execve', e0));
      if (msg !== null) {
        const status = await exited;
        const err =
          msg.type === 'error'
            ? childError(id, msg)
            : internal(`${subject}: unexpected ${msg.type} message from the child`);
        throw new BerthError(err.code, `${subject}: ${err.message.slice(`container ${id}: `.length)}`, {
          details: { ...err.details, exitCode: status.exitCode ?? 126 },
        });
      }
    } catch (err) {
      kill('SIGKILL');
      await exited;
      if (master !== undefined) closeSync(master);
      io.destroy();
      throw withSteps(
        err instanceof BerthError && err.message.startsWith(`container ${id}`) ? err : wrap(err, subject),
        steps,
      );
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      closeSync(syncFd);
      syncFd = undefined;
    }
    return {
      pid: spawned.pid,
      stdin: io.stdin,
      stdout: io.stdout,
      stderr: io.stderr,
      ...(master !== undefined ? { terminal: master } : {}),
      exited,
      kill,
      steps,
    };
  }

  async state(_ctx: Context, id: string): Promise<ContainerState> {
    const c = this.get(id);
    return {
      id,
      status: c.status,
      pid: c.exit === undefined ? c.pid : undefined,
      exit: c.exit,
      cgroup: c.cgroup?.path,
      ...(c.cgroup !== undefined ? { cgroupHandle: c.cgroup } : {}),
    };
  }

  async delete(ctx: Context, id: string): Promise<void> {
    const c = this.get(id);
    await this.discard(c, ctx);
  }

  /**
   * Kills and reaps the process, removes the cgroup and the record. The process
   * part never fails; a cgroup that cannot be removed fails the call (and the
   * record stays, so delete can be retried).
   */
  private async discard(c: Container, ctx: Context = background()): Promise<void> {
    if (c.exit === undefined && c.pidfd !== undefined) {
      try {
        native().pidfdSendSignal(c.pidfd, constants.signals.SIGKILL);
      } catch {
        // already exiting
      }
    }
    await c.exited;
    this.closeSync(c);
    c.stdin?.destroy();
    if (c.cgroup !== undefined) {
      const cg = c.cgroup;
      try {
        await cg.destroy(ctx);
      } catch {
        // Processes outside a pid namespace may outlive the first one: kill them all.
        await cg.kill(ctx, 'SIGKILL').catch(() => 0);
        await cg.destroy(ctx);
      }
      c.cgroup = undefined;
    }
    this.containers.delete(c.id);
  }

  /** Starts reaping: resolves once the child exited (waitid on its pidfd), closes the pidfd. */
  private watchExit(c: Container, unref: boolean): Promise<ExitStatus> {
    return new Promise<ExitStatus>((resolve) => {
      native().pidfdWait(
        c.pidfd!,
        (err, st) => {
          let status: ExitStatus;
          if (err !== null || st === null) status = { exitCode: -1 };
          else if (st.signal !== null) status = { signal: signalNames.get(st.signal) ?? st.signal };
          else status = { exitCode: st.exitCode ?? -1 };
          c.exit = status;
          c.status = 'stopped';
          if (c.pidfd !== undefined) {
            closeSync(c.pidfd);
            c.pidfd = undefined;
          }
          resolve(status);
        },
        unref,
      );
    });
  }

  private send(c: Container, message: 'setup' | 'resume' | 'start'): void {
    if (c.syncFd === undefined) throw internal(`container ${c.id}: ${message}: no sync channel`);
    native().containerSend(c.syncFd, message);
  }

  private recv(c: Container): Promise<NativeChildMessage | null> {
    return new Promise((resolve, reject) => {
      if (c.syncFd === undefined) {
        resolve(null);
        return;
      }
      c.receiving = true;
      native().containerRecv(c.syncFd, (err, msg) => {
        c.receiving = false;
        if (c.closeWanted) this.closeSync(c);
        if (err !== null) reject(wrap(err, `container ${c.id}: sync`));
        else resolve(msg);
      });
    });
  }

  /** Closes the sync socket, or marks it to be closed once a pending recv (which polls it) returns. */
  private closeSync(c: Container): void {
    if (c.receiving) {
      c.closeWanted = true;
      return;
    }
    if (c.syncFd !== undefined) {
      closeSync(c.syncFd);
      c.syncFd = undefined;
    }
  }
}

/** The clone as timed by the addon around the syscall. */
function cloneStep(spawned: NativeSpawned, attributes: TimedStep['attributes']): TimedStep {
  return {
    module: 'libcontainer',
    method: 'clone',
    startNs: fromMonotonicNs(spawned.cloneStartNs),
    endNs: fromMonotonicNs(spawned.cloneEndNs),
    ...(attributes ? { attributes } : {}),
    origin: 'native',
  };
}

/** The child's own step stamps (`libcontainer.<step>`), a mount's step naming its destination. */
function childSteps(spec: Spec, msg: NativeChildMessage): TimedStep[] {
  return msg.steps.map((s): TimedStep => {
    const m = s.index >= 0 ? spec.mounts?.[s.index] : undefined;
    return {
      module: 'libcontainer',
      method: s.name,
      startNs: fromMonotonicNs(s.startNs),
      endNs: fromMonotonicNs(s.endNs),
      attributes: m !== undefined ? { destination: m.destination } : {},
      origin: 'native' as const,
    };
  });
}

/** Removes a cgroup whose creation may still be running or may have failed. */
async function destroyCgroup(ctx: Context, cgroup: Promise<Cgroup> | undefined): Promise<void> {
  if (cgroup === undefined) return;
  const cg = await cgroup.catch(() => undefined);
  await cg?.destroy(ctx).catch(() => undefined);
}

function describeExit(status: ExitStatus | undefined): string {
  if (status === undefined) return 'unknown status';
  return status.signal !== undefined ? `signal ${String(status.signal)}` : `exit code ${status.exitCode}`;
}
