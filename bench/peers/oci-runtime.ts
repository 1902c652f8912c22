// Finds and drives the OCI runtime command lines the harness compares on one bundle
// (runc, crun, berth-runtime): where each is, its version, the host quirks it needs,
// and `run` / `delete -f` with a private --root state directory.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unavailable, wrap } from '../../engine/errdefs/errors.js';
import { onPath } from '../../engine/fsutil/on-path.js';
import { crunQuirks, type PeerQuirk } from './quirks.js';

export const RUNTIME_NAMES = ['berth-runtime', 'runc', 'crun'] as const;
export type RuntimeName = (typeof RUNTIME_NAMES)[number];

/** A runtime found on this host, ready to drive. */
export interface PeerRuntime {
  name: RuntimeName;
  /** The executable (berth-runtime: its bin.cjs). */
  path: string;
  /** First line of `--version`, or null when it printed none. */
  version: string | null;
  /** The argv prefix of every call, before the runtime's own flags (quirks not applied). */
  command: string[];
  /** Workarounds applied to every call, in order. */
  quirks: PeerQuirk[];
}

/** A runtime the harness looked for and could not use, with the reason. */
export interface MissingRuntime {
  name: RuntimeName;
  reason: string;
}

/** berth's own OCI command line, run with this Node. */
export const BERTH_RUNTIME_BIN = fileURLToPath(new URL('../../engine/runtime-cli/bin.cjs', import.meta.url));

export { onPath };

/** What a finished call printed and how it ended. */
export interface CallResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Spawns argv and resolves when it exited and its output was read (never rejects
 * for a non-zero exit; rejects when it cannot be started). stdout is collected
 * only when `captureStdout`. Output written by processes it left behind more than
 * 200 ms after its exit is not waited for.
 */
export function call(
  argv: readonly string[],
  options: { cwd?: string; captureStdout?: boolean } = {},
): Promise<CallResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', options.captureStdout === true ? 'pipe' : 'ignore', 'pipe'],
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    child.once('error', reject);
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    };
    child.once('close', finish);
    // A process it left running (a created container's init) may hold the pipes open:
    // after the exit, wait briefly for the rest of the output, not for them.
    child.once('exit', (code, signal) => {
      setTimeout(() => finish(code, signal), 200);
    });
  });
}

/** The argv of one call of `peer`: its command, the call's args, then every quirk's wrapper. */
export function argvFor(peer: PeerRuntime, args: readonly string[]): string[] {
  let argv = [...peer.command, ...args];
  for (const q of peer.quirks) argv = q.wrap(argv);
  return argv;
}

/**
 * Looks for one runtime: runc and crun on PATH, berth-runtime in this repository.
 * Asks each for its version (one short process, synchronous; for
 * berth-runtime a Node start-up). Never throws: a runtime that is absent or does
 * not answer --version comes back as missing, with the reason.
 */
export function findRuntime(name: RuntimeName): PeerRuntime | MissingRuntime {
  let path: string | undefined;
  let command: string[];
  if (name === 'berth-runtime') {
    if (!existsSync(BERTH_RUNTIME_BIN))
      return { name, reason: `berth-runtime not built (${BERTH_RUNTIME_BIN} missing)` };
    path = BERTH_RUNTIME_BIN;
    // as a user runs it: its bin (a shell script that starts node from PATH without NODE_EXTRA_CA_CERTS)
    command = [path];
  } else {
    path = onPath(name);
    if (path === undefined) return { name, reason: `${name} not installed (not on PATH)` };
    command = [path];
  }
  const r = spawnSync(command[0]!, [...command.slice(1), '--version'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined) return { name, reason: `${name}: cannot start ${path}: ${r.error.message}` };
  if (r.status !== 0)
    return {
      name,
      reason: `${name} --version failed (exit ${r.status ?? r.signal}): ${String(r.stderr).trim().split('\n')[0] ?? ''}`,
    };
  const version = String(r.stdout).trim().split('\n')[0] ?? null;
  return { name, path, version: version === '' ? null : version, command, quirks: name === 'crun' ? crunQuirks() : [] };
}

/** Whether a findRuntime answer is a usable runtime. */
export function isFound(r: PeerRuntime | MissingRuntime): r is PeerRuntime {
  return 'command' in r;
}

/** Every runtime of RUNTIME_NAMES, found or missing. */
export function findRuntimes(): { found: PeerRuntime[]; missing: MissingRuntime[] } {
  const all = RUNTIME_NAMES.map((n) => findRuntime(n));
  return { found: all.filter(isFound), missing: all.filter((r): r is MissingRuntime => !isFound(r)) };
}

export interface RunRequest {
  /** The runtime's --root: a state directory of the caller's own. */
  root: string;
  bundle: string;
  id: string;
  /** Collect the container's stdout (default: /dev/null). */
  captureStdout?: boolean;
}

/**
 * `<runtime> --root R run --bundle B <id>` in the foreground: creates, starts,
 * waits for and deletes the container. Resolves with how the runtime exited
 * (the container's status, for runc-like runtimes); rejects only when it cannot start.
 * Cost: the runtime's own start-up plus the container's life.
 */
export function runContainer(peer: PeerRuntime, req: RunRequest): Promise<CallResult> {
  return call(argvFor(peer, ['--root', req.root, 'run', '--bundle', req.bundle, req.id]), {
    cwd: req.bundle,
    captureStdout: req.captureStdout === true,
  });
}

/**
 * `<runtime> --root R delete -f <id>`: removes the container whatever its state.
 * Idempotent: a container the runtime does not know (already deleted by `run`) is
 * fine. Fails UNAVAILABLE naming the runtime and id when the state directory is
 * still there afterwards.
 */
export async function forceDelete(peer: PeerRuntime, root: string, id: string): Promise<void> {
  let r: CallResult;
  try {
    r = await call(argvFor(peer, ['--root', root, 'delete', '-f', id]));
  } catch (err) {
    throw wrap(err, `${peer.name} delete -f ${id}`);
  }
  if (r.code !== 0 && existsSync(join(root, id))) {
    throw unavailable(`${peer.name} delete -f ${id}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  }
}
