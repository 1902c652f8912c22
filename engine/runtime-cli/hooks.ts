// Runs the spec's lifecycle hooks: each gets the container's state JSON on stdin, its
// own args and env, and is killed at its timeout. Whether a failure stops the container
// (prestart, createRuntime, createContainer, startContainer) or is only a warning
// (poststart, poststop) is the caller's choice of runHooks or runHooksWarning.
import { deadlineExceeded, failedPrecondition, wrap, type BerthError } from '../errdefs/errors.js';
import type { Context } from '../trace/context.js';
import type { Hook, HookName, NamespaceType, State } from '../execdriver/spec/types.js';

/** nsenter's flag for each namespace type. */
const NSENTER_FLAGS: Record<NamespaceType, string> = {
  pid: '--pid',
  network: '--net',
  mount: '--mount',
  ipc: '--ipc',
  uts: '--uts',
  user: '--user',
  cgroup: '--cgroup',
};

export interface HookOptions {
  /**
   * Run the hook inside the namespaces of process `pid` (the container's init) through
   * util-linux nsenter, so the hook's path resolves in the container's mount namespace.
   */
  enter?: { pid: number; namespaces: readonly NamespaceType[] };
  /** How much of the hook's stdout+stderr an error message quotes (4096 bytes). */
  maxOutput?: number;
}

const MAX_OUTPUT = 4096;

function envObject(env: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/**
 * Runs one hook to completion. Fails FAILED_PRECONDITION on a non-zero exit or a
 * signal (`hook prestart[0] /x: exit status 3: <its stderr>`), DEADLINE_EXCEEDED at its
 * timeout (the hook is SIGKILLed), CANCELLED with ctx, NOT_FOUND when the path is
 * missing. Costs a fork+exec (plus nsenter's when entering the container).
 */
export async function runHook(
  ctx: Context,
  phase: HookName,
  index: number,
  hook: Hook,
  state: State,
  options: HookOptions = {},
): Promise<void> {
  const subject = `hook ${phase}[${index}] ${hook.path}`;
  const args = hook.args ?? [hook.path];
  let file = hook.path;
  let argv = args.slice(1);
  if (options.enter) {
    file = 'nsenter';
    argv = [
      '--target',
      String(options.enter.pid),
      ...options.enter.namespaces.map((ns) => NSENTER_FLAGS[ns]),
      '--',
      hook.path,
      ...argv,
    ];
  }
  // loaded here: a container without hooks (berth-runtime run's usual case) never needs child_process
  const { spawn } = await import('node:child_process');
  return new Promise<void>((resolve, reject) => {
    let output = '';
    let settled = false;
    let timedOut = false;
    const finish = (err?: BerthError) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const child = spawn(file, argv, {
      argv0: options.enter ? 'nsenter' : (args[0] ?? hook.path),
      env: envObject(hook.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const onAbort = () => child.kill('SIGKILL');
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const timer =
      hook.timeout !== undefined
        ? setTimeout(() => ((timedOut = true), child.kill('SIGKILL')), hook.timeout * 1000)
        : undefined;
    const collect = (b: Buffer) => {
      if (output.length < (options.maxOutput ?? MAX_OUTPUT)) output += b.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.stdin.on('error', () => undefined); // a hook that does not read its stdin
    child.stdin.end(JSON.stringify(state));
    child.on('error', (err) => finish(wrap(err, subject)));
    child.on('close', (code, signal) => {
      const tail = output.trim().slice(0, options.maxOutput ?? MAX_OUTPUT);
      const said = tail === '' ? '' : `: ${tail}`;
      if (timedOut) return finish(deadlineExceeded(`${subject}: timed out after ${hook.timeout}s${said}`));
      if (ctx.signal.aborted) return finish(wrap(Object.assign(new Error('aborted'), { name: 'AbortError' }), subject));
      if (code === 0) return finish();
      const how = signal ? `killed by ${signal}` : `exit status ${code}`;
      finish(
        failedPrecondition(`${subject}: ${how}${said}`, {
          details: { phase, index, ...(code !== null ? { exitCode: code } : { signal }) },
        }),
      );
    });
  });
}

/** Runs `hooks` in order and stops at the first failure, which it throws. */
export async function runHooks(
  ctx: Context,
  phase: HookName,
  hooks: readonly Hook[] | undefined,
  state: State,
  options: HookOptions = {},
): Promise<void> {
  for (const [i, hook] of (hooks ?? []).entries()) await runHook(ctx, phase, i, hook, state, options);
}

/** Runs every hook; a failure is logged as a warning and the rest still run. Returns the failures. */
export async function runHooksWarning(
  ctx: Context,
  phase: HookName,
  hooks: readonly Hook[] | undefined,
  state: State,
  options: HookOptions = {},
): Promise<BerthError[]> {
  const failures: BerthError[] = [];
  for (const [i, hook] of (hooks ?? []).entries()) {
    try {
      await runHook(ctx, phase, i, hook, state, options);
    } catch (err) {
      const e = wrap(err, `container ${state.id}`);
      ctx.logger.warn(e.message);
      failures.push(e);
    }
  }
  return failures;
}
