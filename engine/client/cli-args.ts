// The `berth` command line grammar, Docker's: long options (`--name x`,
// `--name=x`), short ones and bundles (`-it`, `-p 8080:80`, `-e=A=1`), repeatable
// list options, and for commands that run something (run, create, exec) option
// parsing stops at the first positional so the container's command keeps its own flags.
import { invalidArgument } from '../errdefs/errors.js';

export type OptionType = 'bool' | 'string' | 'list';

export interface OptionSpec {
  name: string;
  short?: string;
  type: OptionType;
  /** Other long names (`--net` for `--network`). */
  aliases?: string[];
}

export type OptionValues = Record<string, boolean | string | string[] | undefined>;

export interface ParsedArgs {
  options: OptionValues;
  positionals: string[];
}

/**
 * Parses `argv` against `specs`. With `stopAtPositional`, everything from the first
 * positional on is positional. `--` ends the options. Throws INVALID_ARGUMENT naming
 * the option for an unknown one or a missing value.
 */
export function parseCommandArgs(
  argv: readonly string[],
  specs: readonly OptionSpec[],
  stopAtPositional = false,
): ParsedArgs {
  const byLong = new Map<string, OptionSpec>();
  const byShort = new Map<string, OptionSpec>();
  for (const s of specs) {
    byLong.set(s.name, s);
    for (const a of s.aliases ?? []) byLong.set(a, s);
    if (s.short !== undefined) byShort.set(s.short, s);
  }
  const options: OptionValues = {};
  const positionals: string[] = [];
  const set = (spec: OptionSpec, value: string | true, shown: string): void => {
    if (spec.type === 'bool') {
      if (value === true) options[spec.name] = true;
      else if (value === 'true' || value === 'false') options[spec.name] = value === 'true';
      else
        throw invalidArgument(`invalid argument ${JSON.stringify(value)} for "${shown}" flag: expected true or false`);
    } else if (value === true) {
      throw invalidArgument(`flag needs an argument: ${shown}`);
    } else if (spec.type === 'list') {
      options[spec.name] = [...((options[spec.name] as string[] | undefined) ?? []), value];
    } else {
      options[spec.name] = value;
    }
  };
  let i = 0;
  const next = (shown: string): string => {
    if (i + 1 >= argv.length) throw invalidArgument(`flag needs an argument: ${shown}`);
    i++;
    return argv[i] as string;
  };
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = byLong.get(name);
      if (spec === undefined) throw invalidArgument(`unknown flag: --${name}`);
      if (eq >= 0) set(spec, arg.slice(eq + 1), `--${name}`);
      else set(spec, spec.type === 'bool' ? true : next(`--${name}`), `--${name}`);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j] as string;
        const spec = byShort.get(letter);
        if (spec === undefined) throw invalidArgument(`unknown shorthand flag: '${letter}' in ${arg}`);
        if (spec.type === 'bool') {
          if (arg[j + 1] === '=') {
            set(spec, arg.slice(j + 2), `-${letter}`);
            break;
          }
          set(spec, true, `-${letter}`);
          continue;
        }
        const rest = arg.slice(j + 1);
        set(spec, rest === '' ? next(`-${letter}`) : rest.startsWith('=') ? rest.slice(1) : rest, `-${letter}`);
        break;
      }
      continue;
    }
    if (stopAtPositional) {
      positionals.push(...argv.slice(i));
      break;
    }
    positionals.push(arg);
  }
  return { options, positionals };
}
