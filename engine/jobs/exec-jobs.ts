// The exec jobs: exec_create records a command to run in a running container,
// exec_start runs it through the execdriver (in the container's namespaces and
// cgroup, with the container's capabilities, seccomp filter and environment) and
// streams its output, exec_inspect and exec_resize look at and size it. Exec
// instances live in memory, as Docker's do, until their container is gone.
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import tty from 'node:tty';
import type { ExecConfig, ExecInspect } from '../api/types.js';
import type { ContainerRecord } from '../container/record.js';
import { capabilitiesFor } from '../container/spec-builder.js';
import { resolveUser } from '../container/user.js';
import { conflict, invalidArgument, isBerthError, notFound, wrap } from '../errdefs/errors.js';
import type { ExecDriver, ExecOptions, ExecProcess, ExitStatus } from '../execdriver/execdriver.js';
import type { Process } from '../execdriver/spec/types.js';
import type { Context } from '../trace/context.js';
import { native } from '../../native/index.js';
import type { Engine, Job } from './engine.js';
import type { ExecStartArgs, OutputChunk } from './job-map.js';

export interface ExecJobDeps {
  /** Resolves a container reference (id, name, prefix) as Docker does; NOT_FOUND "No such container: ref". */
  container(ref: string): ContainerRecord;
  /** Whether a container (full id) still exists; exec instances of removed ones are forgotten. */
  exists(id: string): boolean;
  exec: ExecDriver;
  /** Where exec_create / exec_start / exec_die events go, when given. */
  events?: { publish(type: 'container', action: string, id: string, attributes?: Record<string, string>): unknown };
}

/** What registerExecJobs gives back: the exec ids of a container, for its inspect (ExecIDs). */
export interface ExecRegistry {
  execIds(containerId: string): string[];
  /** Drops an exec instance that has run (a health probe's, as Docker drops them); a running one stays. */
  forget(execId: string): void;
}

interface ExecInstance {
  id: string;
  containerId: string;
  config: ExecConfig;
  started: boolean;
  running: boolean;
  exitCode: number | null;
  pid: number;
  /** The pty master while a TTY exec runs (for resize). */
  master: number | undefined;
  /**
   * A resize that came while the exec was starting (the docker CLI sends one right after start): applied once it runs.
   */
  pendingSize: [number, number] | undefined;
  /** Dropped from the table once it ends (forget() came while it ran). */
  forgotten?: boolean;
}

/** Docker's exit code of a status: the code, or 128 + the signal's number. */
function exitCodeOf(status: ExitStatus): number {
  if (status.exitCode !== undefined) return status.exitCode;
  const n =
    typeof status.signal === 'number'
      ? status.signal
      : ((osConstants.signals as Record<string, number>)[status.signal] ?? 0);
  return 128 + n;
}

/** Validates an exec_create body; INVALID_ARGUMENT naming the field. */
function checkConfig(config: ExecConfig): void {
  if (config === null || typeof config !== 'object')
    throw invalidArgument('exec create: the body must be a JSON object');
  if (!Array.isArray(config.Cmd) || config.Cmd.length === 0 || config.Cmd.some((c) => typeof c !== 'string')) {
    throw invalidArgument('exec create: Cmd must be a non-empty list of strings');
  }
  if (config.Env != null && (!Array.isArray(config.Env) || config.Env.some((e) => typeof e !== 'string')))
    throw invalidArgument('exec create: Env must be a list of strings');
  if (
    config.WorkingDir !== undefined &&
    config.WorkingDir !== '' &&
    (typeof config.WorkingDir !== 'string' || !config.WorkingDir.startsWith('/'))
  ) {
    throw invalidArgument(`exec create: WorkingDir ${JSON.stringify(config.WorkingDir)} must be an absolute path`);
  }
  if (config.User !== undefined && typeof config.User !== 'string')
    throw invalidArgument('exec create: User must be a string');
  if (config.ConsoleSize != null) checkSize(config.ConsoleSize, 'exec create: ConsoleSize');
}

function checkSize(size: unknown, field: string): asserts size is [number, number] {
  if (!Array.isArray(size) || size.length !== 2 || size.some((n) => !Number.isInteger(n) || n < 0 || n > 65535)) {
    throw invalidArgument(`${field}: must be [height, width], each 0-65535`);
  }
}

/** Env lists merged by name, later entries winning (the container's env, then the exec's). */
function mergeEnv(...lists: (readonly string[] | null | undefined)[]): string[] {
  const byName = new Map<string, string>();
  for (const list of lists) for (const e of list ?? []) byName.set(e.split('=', 1)[0]!, e);
  return [...byName.values()];
}

/** Registers exec_create, exec_start, exec_inspect and exec_resize on `engine`. */
export function registerExecJobs(engine: Engine, deps: ExecJobDeps): ExecRegistry {
  const execs = new Map<string, ExecInstance>();

  const forgetRemoved = () => {
    for (const [id, e] of execs) if (!e.running && !deps.exists(e.containerId)) execs.delete(id);
  };
  const get = (execId: string): ExecInstance => {
    const e = execs.get(execId);
    if (e === undefined || !deps.exists(e.containerId)) throw notFound(`No such exec instance: ${execId}`);
    return e;
  };
  const runningContainer = (ref: string): ContainerRecord => {
    const rec = deps.container(ref);
    if (rec.state.status !== 'running' || rec.state.pid === 0) throw conflict(`Container ${rec.id} is not running`);
    return rec;
  };

  engine.register('exec_create', async (_ctx, job) => {
    const { id, config } = job.args;
    checkConfig(config);
    const rec = runningContainer(id);
    forgetRemoved();
    const execId = randomBytes(32).toString('hex');
    execs.set(execId, {
      id: execId,
      containerId: rec.id,
      config,
      started: false,
      running: false,
      exitCode: null,
      pid: 0,
      master: undefined,
      pendingSize: undefined,
    });
    deps.events?.publish('container', `exec_create: ${config.Cmd.join(' ')}`, rec.id, { execID: execId });
    return { Id: execId };
  });

  engine.register('exec_inspect', async (_ctx, job) => {
    const e = get(job.args.execId);
    const c = e.config;
    return {
      ID: e.id,
      ContainerID: e.containerId,
      Running: e.running,
      ExitCode: e.exitCode,
      Pid: e.pid,
      OpenStdin: c.AttachStdin === true,
      OpenStdout: c.AttachStdout === true,
      OpenStderr: c.AttachStderr === true,
      CanRemove: false,
      DetachKeys: c.DetachKeys ?? '',
      ProcessConfig: {
        tty: c.Tty === true,
        entrypoint: c.Cmd[0]!,
        arguments: c.Cmd.slice(1),
        privileged: c.Privileged === true,
        user: c.User ?? '',
      },
    } satisfies ExecInspect;
  });

  engine.register('exec_resize', async (_ctx, job) => {
    const { execId, height, width } = job.args;
    const e = get(execId);
    checkSize([height, width], `exec ${execId}: resize`);
    if (e.started && !e.running && e.exitCode === null) {
      e.pendingSize = [height, width];
      return;
    }
    if (!e.running || e.master === undefined) throw conflict(`exec ${execId}: resize: not a running TTY exec`);
    try {
      native().ptyResize(e.master, height, width);
    } catch (err) {
      throw wrap(err, `exec ${execId}: resize`);
    }
  });

  engine.register('exec_start', async (ctx, job) => {
    const a = job.args;
    const e = get(a.execId);
    if (e.started) throw conflict(`Exec command ${e.id} ${e.running ? 'is already running' : 'has already run'}`);
    const rec = runningContainer(e.containerId);
    e.started = true;
    const c = e.config;
    const terminal = a.tty ?? c.Tty === true;
    const size = a.consoleSize ?? c.ConsoleSize ?? undefined;
    if (size != null) checkSize(size, `exec ${e.id}: consoleSize`);
    let process: Process;
    try {
      process = await execProcess(rec, c, terminal, size ?? undefined);
    } catch (err) {
      e.started = false;
      throw err;
    }
    const detach = a.detach === true;
    const stdio: ExecOptions['stdio'] = terminal
      ? 'terminal'
      : detach
        ? ['ignore', 'ignore', 'ignore']
        : [
            c.AttachStdin === true && a.stdin !== undefined ? 'pipe' : 'ignore',
            c.AttachStdout === true ? 'pipe' : 'ignore',
            c.AttachStderr === true ? 'pipe' : 'ignore',
          ];
    let p: ExecProcess;
    try {
      p = await deps.exec.exec(ctx, rec.id, process, { stdio });
    } catch (err) {
      const code = isBerthError(err) ? err.details?.exitCode : undefined;
      if (typeof code !== 'number') {
        e.started = false;
        throw err;
      }
      // The program could not run: the exec ran and failed, as Docker reports it (126/127).
      e.exitCode = code;
      deps.events?.publish('container', 'exec_die', rec.id, { execID: e.id, exitCode: String(code) });
      if (!detach)
        job.emit({ stream: terminal ? 'stdout' : 'stderr', data: Buffer.from(`${(err as Error).message}\n`) });
      return;
    }
    e.running = true;
    e.pid = p.pid;
    e.master = p.terminal;
    if (e.pendingSize !== undefined && p.terminal !== undefined) {
      try {
        native().ptyResize(p.terminal, e.pendingSize[0], e.pendingSize[1]);
      } catch {
        // the exec already closed its terminal
      }
      e.pendingSize = undefined;
    }
    deps.events?.publish('container', `exec_start: ${c.Cmd.join(' ')}`, rec.id, { execID: e.id });

    // The pty master is read through a tty stream, which owns and closes the fd.
    const master = p.terminal !== undefined ? new tty.ReadStream(p.terminal) : undefined;
    master?.on('error', () => undefined); // EIO once the exec and its children closed the peer
    master?.once('close', () => {
      e.master = undefined;
    });
    const outputs: [Readable, OutputChunk['stream']][] = master !== undefined ? [[master, 'stdout']] : [];
    if (p.stdout !== undefined) outputs.push([p.stdout, 'stdout']);
    if (p.stderr !== undefined) outputs.push([p.stderr, 'stderr']);

    const finished = p.exited.then((status) => {
      e.exitCode = exitCodeOf(status);
      e.running = false;
      deps.events?.publish('container', 'exec_die', rec.id, { execID: e.id, exitCode: String(e.exitCode) });
      if (e.forgotten === true) execs.delete(e.id);
    });
    if (detach) {
      for (const [s] of outputs) s.resume(); // a TTY exec must not block on a full pty
      return;
    }
    // Armed: the caller may answer its client now. An interactive client sends its
    // input only once answered, and `cat` writes nothing before it has input.
    job.emit({ stream: 'stdout', data: Buffer.alloc(0) });
    const input: Writable | undefined = master ?? p.stdin;
    if (a.stdin !== undefined && input !== undefined) pipeStdin(a.stdin, input, master === undefined);
    const streamed = Promise.all(outputs.map(([s, name]) => pump(ctx, job, s, name, a.waitForRoom)));
    // A client that goes away stops the streaming, not the exec (its output is then discarded).
    const gone = new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([Promise.all([streamed, finished]), gone]);
  });

  return {
    execIds(containerId: string): string[] {
      return [...execs.values()].filter((e) => e.containerId === containerId).map((e) => e.id);
    },
    forget(execId: string): void {
      const e = execs.get(execId);
      if (e === undefined) return;
      if (e.running) e.forgotten = true;
      else execs.delete(execId);
    },
  };
}

/** The OCI process of an exec: the container's process settings with the exec's command, user, env and cwd. */
async function execProcess(
  rec: ContainerRecord,
  c: ExecConfig,
  terminal: boolean,
  size: [number, number] | undefined,
): Promise<Process> {
  const base = rec.spec.process;
  const rootfs = rec.spec.root?.path;
  if (base === undefined || rootfs === undefined) throw conflict(`Container ${rec.id} is not running`);
  const userText = c.User !== undefined && c.User !== '' ? c.User : (rec.config.User ?? '');
  const user = await resolveUser(rootfs, userText, rec.hostConfig.GroupAdd ?? []).catch((err: unknown) => {
    throw wrap(err, `exec in container ${rec.id}`);
  });
  const env = mergeEnv(
    base.env,
    c.Env,
    terminal && !(c.Env ?? []).some((v) => v.startsWith('TERM=')) ? ['TERM=xterm'] : [],
  );
  let capabilities = base.capabilities;
  if (c.Privileged === true) {
    const all = capabilitiesFor({ Privileged: true });
    capabilities = { bounding: all, effective: all, permitted: all };
  }
  const process: Process = {
    args: c.Cmd,
    env,
    cwd: c.WorkingDir !== undefined && c.WorkingDir !== '' ? c.WorkingDir : base.cwd,
    user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    terminal,
    ...(capabilities !== undefined ? { capabilities } : {}),
    ...(base.rlimits !== undefined ? { rlimits: base.rlimits } : {}),
    ...(base.noNewPrivileges !== undefined ? { noNewPrivileges: base.noNewPrivileges } : {}),
    ...(terminal && size !== undefined ? { consoleSize: { height: size[0], width: size[1] } } : {}),
  };
  return process;
}

/** Emits a stream's chunks as events, pausing while the consumer has no room; resolves at its end. */
function pump(
  ctx: Context,
  job: Job<ExecStartArgs, OutputChunk>,
  stream: Readable,
  name: OutputChunk['stream'],
  waitForRoom: (() => Promise<void>) | undefined,
): Promise<void> {
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      if (ctx.signal.aborted) return; // the client is gone: keep reading so the exec never blocks
      job.emit({ stream: name, data: chunk });
      if (waitForRoom !== undefined) {
        stream.pause();
        void waitForRoom().finally(() => stream.resume());
      }
    });
    stream.once('end', () => resolve());
    stream.once('close', () => resolve());
    stream.on('error', () => undefined);
  });
}

/** The client's input into the exec; its end closes a pipe (EOF), not a pty. */
function pipeStdin(input: Readable, target: Writable, closeAtEnd: boolean): void {
  target.on('error', () => undefined); // EPIPE once the exec closed its stdin
  input.on('data', (chunk: Buffer) => {
    if (target.destroyed || target.writableEnded) return;
    if (!target.write(chunk)) {
      input.pause();
      target.once('drain', () => input.resume());
    }
  });
  input.once('end', () => {
    if (closeAtEnd && !target.writableEnded) target.end();
  });
  input.on('error', () => undefined);
}
