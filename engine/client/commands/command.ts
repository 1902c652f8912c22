// What every `berth` command gets: the API client, its output streams and stdin,
// and the environment; a command resolves to its exit code.
import type { Readable } from 'node:stream';
import { invalidArgument } from '../../errdefs/errors.js';
import type { ApiClient } from '../api-client.js';
import type { Out } from '../cli-output.js';

export interface Cli {
  client: ApiClient;
  stdout: Out & { raw?: NodeJS.WritableStream };
  stderr: Out & { raw?: NodeJS.WritableStream };
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  env: NodeJS.ProcessEnv;
  /** Terminal size of stdout, when it is one. */
  size(): { rows: number; columns: number } | undefined;
}

export type Command = (cli: Cli, argv: string[]) => Promise<number>;

/** A usage error: Docker's CLI exits 125 for those. */
export class UsageError extends Error {}

export function requireArgs(positionals: string[], min: number, usage: string): void {
  if (positionals.length < min)
    throw new UsageError(
      `"berth ${usage.split(' ')[0]}" requires at least ${min} argument${min === 1 ? '' : 's'}.\nUsage: berth ${usage}`,
    );
}

export function intOption(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^-?\d+$/.test(value))
    throw invalidArgument(`${flag}: ${JSON.stringify(value)} is not an integer`);
  return Number(value);
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
