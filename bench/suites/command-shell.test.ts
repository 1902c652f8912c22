// The bench's long-lived shell: output and status per script, in order, quoting,
// a timeout that fails the pending scripts and a fresh shell after it.
import { afterEach, describe, expect, it } from 'vitest';
import { CommandShell, shellQuote } from './command-shell.js';

describe('CommandShell', () => {
  let shell: CommandShell | undefined;
  afterEach(async () => {
    await shell?.close();
    shell = undefined;
  });

  it('returns each script output (stderr too) and exit status, in order, from one shell', async () => {
    shell = new CommandShell('test shell');
    const [a, b, c] = await Promise.all([
      shell.run('echo one; echo two'),
      shell.run('echo oops >&2; exit 3'),
      shell.run('echo $$'),
    ]);
    expect(a).toEqual({ exitCode: 0, output: 'one\ntwo' });
    expect(b).toEqual({ exitCode: 3, output: 'oops' });
    // `exit` inside the script's group ends the group, not the shell: the same shell ran the next one
    const again = await shell.run('echo $$');
    expect(again.output).toBe(c!.output);
    expect(Number(again.output)).not.toBe(process.pid);
  });

  it('quotes arguments, here-documents reach the command, and stdin is not the script stream', async () => {
    shell = new CommandShell('test shell');
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect((await shell.runArgv(['printf', '%s|', 'a b', "it's", '$HOME'])).output).toBe("a b|it's|$HOME|");
    expect((await shell.run("cat <<'END'\nx\ny\nEND")).output).toBe('x\ny');
    expect((await shell.run('cat; echo after')).output).toBe('after');
  });

  it('fails a script past its timeout (ending it) and starts a fresh shell for the next', async () => {
    shell = new CommandShell('test shell');
    const first = (await shell.run('echo $$')).output;
    await expect(shell.run('sleep 30', 200)).rejects.toThrow(/test shell: a command ran longer than 200 ms: sleep 30/);
    const next = await shell.run('echo $$');
    expect(next.exitCode).toBe(0);
    expect(next.output).not.toBe(first);
  });
});
