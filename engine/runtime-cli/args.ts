// Command-line parsing for berth-runtime: runc's shape, `berth-runtime [global flags]
// <verb> [verb flags] <args…>`, flags as `--name value`, `--name=value`, `-n value`.
import { invalidArgument } from '../errdefs/errors.js';

export interface FlagSpec {
  /** Long name without dashes. */
  name: string;
  /** One-letter alias. */
  short?: string;
  /** Takes a value (else a boolean switch). */
  value?: boolean;
}

export interface Parsed {
  flags: Map<string, string | true>;
  positionals: string[];
}

/**
 * Parses argv against `specs`. Stops at the first positional when `stopAtPositional`
 * (global flags end where the verb starts); `--` ends flags. Fails INVALID_ARGUMENT
 * naming the flag for an unknown flag or a missing value.
 */
export function parseFlags(
  argv: readonly string[],
  specs: readonly FlagSpec[],
  context: string,
  stopAtPositional = false,
): Parsed & { rest: string[] } {
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (stopAtPositional) return { flags, positionals, rest: argv.slice(i) };
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith('--');
    const body = arg.slice(long ? 2 : 1);
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = long || name.length > 1 ? byLong.get(name) : byShort.get(name);
    if (!spec) throw invalidArgument(`${context}: unknown flag ${long ? '--' : '-'}${name}`);
    if (!spec.value) {
      if (eq >= 0) {
        const v = body.slice(eq + 1);
        if (v === 'false') flags.delete(spec.name);
        else if (v === 'true') flags.set(spec.name, true);
        else throw invalidArgument(`${context}: flag --${spec.name} takes true or false, not ${JSON.stringify(v)}`);
      } else flags.set(spec.name, true);
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (i + 1 < argv.length) value = argv[++i];
    if (value === undefined) throw invalidArgument(`${context}: flag --${spec.name} needs a value`);
    flags.set(spec.name, value);
  }
  return { flags, positionals, rest: [] };
}

export function flagString(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function flagBool(p: Parsed, name: string): boolean {
  return p.flags.get(name) === true;
}

/** The single container id a verb takes; fails naming the verb when missing or extra. */
export function containerIdArg(p: Parsed, verb: string, extra = 0): string {
  const id = p.positionals[0];
  if (id === undefined)
    throw invalidArgument(`${verb}: missing container id (usage: berth-runtime ${verb} <container-id>)`);
  if (p.positionals.length > 1 + extra)
    throw invalidArgument(`${verb}: unexpected argument ${JSON.stringify(p.positionals[1 + extra])}`);
  return id;
}
