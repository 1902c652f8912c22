// `berth login` and `berth logout`: credentials checked by the daemon against their
// registry (POST /auth, as docker login does), then kept in the client's config.json
// (auth-config.ts); a refused login writes nothing.
import { invalidArgument } from '../../errdefs/errors.js';
import { configPath, removeAuth, serverKey, storeAuth } from '../auth-config.js';
import { parseCommandArgs } from '../cli-args.js';
import { UsageError, type Cli, type Command } from './command.js';

async function readStdin(cli: Cli): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of cli.stdin as AsyncIterable<Buffer | string>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}

export const loginCommand: Command = async (cli, argv) => {
  const { options, positionals } = parseCommandArgs(argv, [
    { name: 'username', short: 'u', type: 'string' },
    { name: 'password', short: 'p', type: 'string' },
    { name: 'password-stdin', type: 'bool' },
  ]);
  if (positionals.length > 1)
    throw new UsageError(
      `"berth login" accepts at most 1 argument.\nUsage: berth login [SERVER] -u USER [-p PASS | --password-stdin]`,
    );
  const username = options.username as string | undefined;
  if (username === undefined || username === '') throw invalidArgument('login: a username is required (-u USER)');
  let password = options.password as string | undefined;
  if (options['password-stdin'] === true) {
    if (password !== undefined) throw invalidArgument('login: --password and --password-stdin are mutually exclusive');
    password = (await readStdin(cli)).replace(/[\r\n]+$/, '');
  } else if (password !== undefined) {
    cli.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  }
  if (password === undefined || password === '')
    throw invalidArgument('login: a password is required (-p PASS or --password-stdin)');
  const serveraddress = serverKey(positionals[0]);
  const answer = await cli.client.auth({ username, password, serveraddress });
  const path = await storeAuth(cli.env, { username, password, serveraddress });
  cli.stderr.write(`Credentials for ${serveraddress} stored in ${path}\n`);
  cli.stdout.write(`${answer.Status || 'Login Succeeded'}\n`);
  return 0;
};

export const logoutCommand: Command = async (cli, argv) => {
  const { positionals } = parseCommandArgs(argv, []);
  if (positionals.length > 1)
    throw new UsageError(`"berth logout" accepts at most 1 argument.\nUsage: berth logout [SERVER]`);
  const server = serverKey(positionals[0]);
  if (await removeAuth(cli.env, server)) cli.stdout.write(`Removing login credentials for ${server}\n`);
  else cli.stdout.write(`Not logged in to ${server} (no credentials in ${configPath(cli.env)})\n`);
  return 0;
};
