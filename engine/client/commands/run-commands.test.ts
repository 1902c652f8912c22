// `berth run` when the start fails after attach and wait were armed: the attach connection
// is dropped without ending the process, the start's message reaches the user with Docker's
// exit status, and --rm removes the container that never ran.
import { Duplex, PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ApiClient } from '../api-client.js';
import type { Cli } from './command.js';
import { ExitError, runCommand } from './run-commands.js';

function fakeCli(removed: string[]): Cli {
  const client = {
    containerCreate: async () => ({ Id: 'c0ffee', Warnings: [] }),
    // a stream made of a request and its response, as the client's attach returns: destroyed unread, it errors
    containerAttach: async () => Duplex.from({ readable: new PassThrough(), writable: new PassThrough() }),
    containerWait: async () => ({ result: new Promise<never>(() => undefined) }),
    containerStart: async () => {
      throw new Error('chdir /proc/self/fd/15: not a directory inside the container');
    },
    containerRemove: async (id: string) => {
      removed.push(id);
    },
  } as unknown as ApiClient;
  const out = { write: () => undefined };
  return {
    client,
    stdout: out,
    stderr: out,
    stdin: new PassThrough(),
    env: {},
    size: () => undefined,
  } as unknown as Cli;
}

describe('berth run: a start that fails', () => {
  it('drops the armed attach connection quietly and exits with the start message', async () => {
    const removed: string[] = [];
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const err = await runCommand(fakeCli(removed), ['--rm', 'img', '/bin/probe']).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ExitError);
      expect((err as ExitError).message).toMatch(/\/proc\/self\/fd\/15/);
      expect((err as ExitError).status).toBe(125);
      // the destroyed stream's AbortError, if unheard, surfaces on a later tick
      await new Promise((r) => setTimeout(r, 50));
      expect(uncaught).toEqual([]);
      expect(removed).toEqual(['c0ffee']);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
