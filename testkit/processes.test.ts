// Tests of the leftover checks tests share: the iptables one says it cannot check on a host without iptables-save
// instead of answering "no rule", and processes are found by a word of their command line.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { childrenOf } from '../engine/fsutil/processes-naming.js';
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

  it("childrenOf finds a child another thread started, which the main thread's children file does not list", async () => {
    // a worker thread forks the child, as a Go daemon's threads (or berth's spawn threads) do
    const worker = new Worker(
      "const { spawn } = require('node:child_process'); const { parentPort } = require('node:worker_threads');" +
        "const c = spawn('sleep', ['600'], { stdio: 'ignore' }); c.on('exit', () => parentPort.postMessage('reaped'));" +
        "parentPort.on('message', () => c.kill('SIGKILL')); parentPort.postMessage(c.pid);",
      { eval: true },
    );
    const messages: unknown[] = [];
    let wake = (): void => undefined;
    worker.on('message', (m: unknown) => {
      messages.push(m);
      wake();
    });
    const next = async (): Promise<unknown> => {
      while (messages.length === 0) await new Promise<void>((r) => (wake = r));
      return messages.shift();
    };
    const pid = (await next()) as number;
    try {
      expect(readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8').split(/\s+/)).not.toContain(String(pid));
      expect(childrenOf('self')).toContain(pid);
      expect(childrenOf(process.pid)).toContain(pid);
    } finally {
      // killed and reaped by the thread that started it
      worker.postMessage('kill');
      expect(await next()).toBe('reaped');
      await worker.terminate();
    }
    expect(childrenOf(2 ** 22 + 1)).toEqual([]);
  });
});
