// Flag parsing as runc's users type it, and signal names.
import { describe, expect, it } from 'vitest';
import { containerIdArg, flagBool, flagString, parseFlags, type FlagSpec } from './args.js';
import { parseSignal, signalName } from './signals.js';

const specs: FlagSpec[] = [
  { name: 'bundle', short: 'b', value: true },
  { name: 'force', short: 'f' },
  { name: 'pid-file', value: true },
];

describe('parseFlags', () => {
  it.each([
    [['-b', '/x', 'id'], '/x', false, ['id']],
    [['--bundle=/x', 'id'], '/x', false, ['id']],
    [['--bundle', '/x', '--force', 'id'], '/x', true, ['id']],
    [['id', '-f'], undefined, true, ['id']],
    [['--force=false', 'id'], undefined, false, ['id']],
    [['--', '-b'], undefined, false, ['-b']],
  ] as [string[], string | undefined, boolean, string[]][])('%j', (argv, bundle, force, positionals) => {
    const p = parseFlags(argv, specs, 'create');
    expect(flagString(p, 'bundle')).toBe(bundle);
    expect(flagBool(p, 'force')).toBe(force);
    expect(p.positionals).toEqual(positionals);
  });

  it('stops at the verb for global flags', () => {
    const p = parseFlags(
      ['--root', '/r', 'state', '--x', 'id'],
      [{ name: 'root', value: true }],
      'berth-runtime',
      true,
    );
    expect(flagString(p, 'root')).toBe('/r');
    expect(p.rest).toEqual(['state', '--x', 'id']);
  });

  it.each([
    [['--nope'], 'create: unknown flag --nope'],
    [['-z'], 'create: unknown flag -z'],
    [['--bundle'], 'create: flag --bundle needs a value'],
    [['--force=maybe'], 'create: flag --force takes true or false, not "maybe"'],
  ])('rejects %j', (argv, message) => {
    expect(() => parseFlags(argv, specs, 'create')).toThrow(message);
  });

  it('wants exactly one container id', () => {
    expect(() => containerIdArg(parseFlags([], specs, 'start'), 'start')).toThrow('start: missing container id');
    expect(() => containerIdArg(parseFlags(['a', 'b'], specs, 'start'), 'start')).toThrow(
      'start: unexpected argument "b"',
    );
    expect(containerIdArg(parseFlags(['a', 'KILL'], specs, 'kill'), 'kill', 1)).toBe('a');
  });
});

describe('parseSignal', () => {
  it.each([
    ['9', 9],
    ['KILL', 9],
    ['SIGKILL', 9],
    ['sigterm', 15],
    ['term', 15],
    ['HUP', 1],
    ['SIGUSR1', 10],
    ['34', 34],
  ])('%s → %i', (value, num) => expect(parseSignal(value)).toBe(num));
  it.each(['0', '65', 'SIGNOPE', '-1'])('rejects %s', (value) => expect(() => parseSignal(value)).toThrow(/^signal /));
  it('names signals', () => {
    expect(signalName(15)).toBe('SIGTERM');
    expect(signalName(40)).toBe('40');
  });
});
