// The command line of a dockerd of one's own, shared by the bench suites and the tests that start one: everything the
// daemon writes (exec root, pid file, socket, config and its trust key) stays under one folder, so two at once, and
// the host's own /etc/docker, never share a file.
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * dockerd 20.10 writes its trust key (the key its ID comes from) to /etc/docker/key.json unless its config file
 * names another path under this key; no command-line flag takes it (later dockerds still accept the key in a config
 * file).
 */
const TRUST_KEY_DIRECTIVE = 'deprecated-key-path';

/** A private dockerd's files and the command line that keeps it to them. */
export interface PrivateDockerdFiles {
  /** `dockerd --data-root … --exec-root … --pidfile … -H unix://… --config-file …` then the caller's flags. */
  argv: string[];
  socket: string;
  /** `unix://<socket>`, for `docker -H` and the API client. */
  host: string;
  execRoot: string;
  pidFile: string;
  config: string;
  trustKey: string;
}

/**
 * Writes `<dir>/daemon.json` (the trust key at `<dir>/key.json`) and returns the command line of a dockerd that keeps
 * its socket (`docker.sock`), pid file (`dockerd.pid`) and exec root (`exec/`) in `dir` and its data in `dataRoot`
 * (default `<dir>/data`), followed by `flags`. Idempotent: a restart on the same folder gets the same files. The
 * caller makes `dir`; unix socket paths are short (108 bytes), so it should be too.
 */
export function privateDockerd(
  dir: string,
  options: { dataRoot?: string; flags?: readonly string[] } = {},
): PrivateDockerdFiles {
  const socket = join(dir, 'docker.sock');
  const files = {
    socket,
    host: `unix://${socket}`,
    execRoot: join(dir, 'exec'),
    pidFile: join(dir, 'dockerd.pid'),
    config: join(dir, 'daemon.json'),
    trustKey: join(dir, 'key.json'),
  };
  writeFileSync(files.config, `${JSON.stringify({ [TRUST_KEY_DIRECTIVE]: files.trustKey })}\n`);
  const argv = [
    'dockerd',
    '--data-root',
    options.dataRoot ?? join(dir, 'data'),
    '--exec-root',
    files.execRoot,
    '--pidfile',
    files.pidFile,
    '-H',
    files.host,
    '--config-file',
    files.config,
    ...(options.flags ?? []),
  ];
  return { argv, ...files };
}

/** The host's dockerd configuration folder, which no private dockerd may touch. */
export const HOST_DOCKER_CONFIG = '/etc/docker';

/**
 * What `dir` (by default /etc/docker) holds now, one line per entry with its kind, size and modification time, and
 * the folder's own modification time: two reads differ when anything in it was made, removed or rewritten.
 */
export function folderState(dir = HOST_DOCKER_CONFIG): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch {
    return [`${dir}: absent`];
  }
  const line = (path: string, name: string) => {
    const s = statSync(path, { throwIfNoEntry: false });
    if (s === undefined) return `${name}: gone`;
    return `${name}: ${s.isDirectory() ? 'dir' : 'file'} ${s.size} B, mtime ${s.mtimeMs}`;
  };
  return [line(dir, dir), ...entries.map((name) => line(join(dir, name), name))];
}
