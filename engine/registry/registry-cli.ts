// The `berth-registry` command: runs the embedded registry server until SIGINT or
// SIGTERM (or, with --exit-with-stdin, until its stdin closes).
// `berth-registry --addr 127.0.0.1:5000 --root DIR [--read-only] [--no-delete]
// [--upload-ttl 168h] [--upload-purge-interval 24h] [--allow-non-loopback]
// [--exit-with-stdin] [--log-level info] [--auth-user USER --auth-password-file FILE]`.
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger, parseLogLevel } from '../trace/logger.js';
import { createRegistryServer } from './server/registry-server.js';

const usage = `usage: berth-registry --root DIR [--addr HOST:PORT] [--read-only] [--no-delete] [--upload-ttl DURATION] [--upload-purge-interval DURATION] [--allow-non-loopback] [--exit-with-stdin] [--log-level LEVEL] [--auth-user USER --auth-password-file FILE]
  --root DIR             where repositories (one OCI image layout each) and uploads are kept
  --addr HOST:PORT       listen address, 127.0.0.1:5000 by default (loopback only unless allowed)
  --read-only            refuse every push and delete (405 UNSUPPORTED)
  --no-delete            refuse deletes of manifests, tags and blobs
  --upload-ttl DURATION  remove upload sessions nothing was written to for this long (168h by default;
                         DURATION as 500ms, 90s, 30m, 168h or 1h30m)
  --upload-purge-interval DURATION
                         how often to look for them (the TTL, within 1s … 24h, by default)
  --allow-non-loopback   allow a listen address outside 127.0.0.0/8 and ::1
  --exit-with-stdin      also stop when stdin closes (a supervisor's pipe: the registry goes when its parent does)
  --log-level LEVEL      debug|info|warn|error|silent (info by default: one access-log line per request)
  --auth-user USER       every request needs HTTP Basic credentials: this user, with
  --auth-password-file FILE
                         the password in FILE (its first line)`;

/** Runs the command with `argv` (without node and script); resolves to the exit code: 0, 1 (failure), 2 (usage). */
export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        root: { type: 'string' },
        addr: { type: 'string', default: '127.0.0.1:5000' },
        'read-only': { type: 'boolean', default: false },
        'no-delete': { type: 'boolean', default: false },
        'upload-ttl': { type: 'string' },
        'upload-purge-interval': { type: 'string' },
        'allow-non-loopback': { type: 'boolean', default: false },
        'exit-with-stdin': { type: 'boolean', default: false },
        'log-level': { type: 'string', default: 'info' },
        'auth-user': { type: 'string' },
        'auth-password-file': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`berth-registry: ${(err as Error).message}\n${usage}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (values.root === undefined) {
    process.stderr.write(`berth-registry: --root is required\n${usage}\n`);
    return 2;
  }
  let uploadIdleMs: number | undefined;
  let uploadPurgeIntervalMs: number | undefined;
  try {
    uploadIdleMs = values['upload-ttl'] === undefined ? undefined : parseDuration(values['upload-ttl'], '--upload-ttl');
    uploadPurgeIntervalMs =
      values['upload-purge-interval'] === undefined
        ? undefined
        : parseDuration(values['upload-purge-interval'], '--upload-purge-interval');
    if (uploadPurgeIntervalMs === 0) throw new Error('--upload-purge-interval: must be above 0');
  } catch (err) {
    process.stderr.write(`berth-registry: ${(err as Error).message}\n${usage}\n`);
    return 2;
  }
  let credentials: { username: string; password: string } | undefined;
  if ((values['auth-user'] === undefined) !== (values['auth-password-file'] === undefined)) {
    process.stderr.write(`berth-registry: --auth-user and --auth-password-file go together\n${usage}\n`);
    return 2;
  }
  if (values['auth-user'] !== undefined) {
    const file = values['auth-password-file']!;
    let password: string;
    try {
      password = readFileSync(file, 'utf8').split(/\r?\n/)[0]!;
    } catch (err) {
      process.stderr.write(`berth-registry: --auth-password-file ${file}: ${(err as Error).message}\n`);
      return 2;
    }
    if (values['auth-user'] === '' || values['auth-user'].includes(':') || password === '') {
      process.stderr.write('berth-registry: --auth-user must be a name without ":" and the password file not empty\n');
      return 2;
    }
    credentials = { username: values['auth-user'], password };
  }
  const logger = createLogger(parseLogLevel(values['log-level'], 'info'));
  const server = await createRegistryServer({
    root: values.root,
    addr: values.addr,
    readOnly: values['read-only'],
    deleteEnabled: !values['no-delete'],
    uploadIdleMs,
    uploadPurgeIntervalMs,
    allowNonLoopback: values['allow-non-loopback'],
    ...(credentials ? { credentials } : {}),
    logger,
  });
  process.stdout.write(`berth-registry listening on ${server.url}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (values['exit-with-stdin'])
      process.stdin
        .once('end', resolve)
        .once('error', () => resolve())
        .resume();
  });
  await server.close();
  return 0;
}

const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration as Go writes them (distribution's configuration does too):
 * one or more `<number><unit>` with unit ms, s, m or h (`500ms`, `1.5h`, `1h30m`).
 * Returns milliseconds; throws naming `option` for anything else.
 */
export function parseDuration(text: string, option: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new Error(`${option}: ${JSON.stringify(text)} is not a duration (use e.g. 500ms, 90s, 30m, 168h, 1h30m)`);
  }
  return Math.round(parts.reduce((ms, p) => ms + Number(p[1]) * (units[p[2] as string] as number), 0));
}

// Run when executed directly (`node --import tsx registry-cli.ts …`); a bin shim
// that imports this module calls main() itself.
const entry = process.argv[1];
if (entry !== undefined && realpathSync(entry) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`berth-registry: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
