// How every berth command module starts: `main(argv) → exit code` runs only when the
// module is the program itself (not when a test imports it), and a crash prints
// the command's name with the stack and sets the command's crash exit code.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** True when the module at moduleUrl is the script node was started with. */
export function invokedDirectly(moduleUrl: string): boolean {
  if (process.argv[1] === undefined) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/** Runs main with the command-line arguments when moduleUrl is the program; sets the exit code. */
export function runIfMain(
  moduleUrl: string,
  name: string,
  main: (argv: string[]) => Promise<number>,
  crashCode = 1,
): void {
  if (!invokedDirectly(moduleUrl)) return;
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = crashCode;
    },
  );
}
