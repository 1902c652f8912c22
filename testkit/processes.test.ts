// Tests of the leftover checks tests share: the iptables one says it cannot check on a host without iptables-save
// instead of answering "no rule", and processes are found by a word of their command line.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { needs, tool } from './needs.js';
import { iptablesRulesNaming, processesNaming, TestProcesses } from './processes.js';

describe('testkit leftover checks', () => {
  const procs = new TestProcesses();
  afterEach(() => procs.killAll());

  it('iptablesRulesNaming throws naming iptables-save when it is not on PATH', () => {
    const path = process.env.PATH;
    const empty = mkdtempSync(join(os.tmpdir(), `berth-testkit-path-${process.pid}-`));
    try {
      process.env.PATH = empty;
      expect(() => iptablesRulesNaming('bnoexist')).toThrow(
        'iptables rules naming bnoexist: cannot check, iptables-save is not on PATH',
      );
    } finally {
      process.env.PATH = path;
      rmSync(empty, { recursive: true, force: true });
    }
  });

  needs(tool('iptables-save', 'iptables')).it('iptablesRulesNaming lists no rule for a word nothing uses', () => {
    expect(iptablesRulesNaming(`berth-no-such-word-${process.pid}`)).toEqual([]);
  });

  it('processesNaming finds a child by its command line, not this process', () => {
    const seconds = 600 + (process.pid % 97);
    const child = procs.sleeper(seconds);
    expect(processesNaming(`sleep ${seconds}`.replace(' ', '\0'))).toEqual([child.pid]);
    expect(processesNaming('vitest')).not.toContain(process.pid);
  });
});
