// The skip gate: what it reports missing, and that a skipped test carries its reason in
// its title (the test below that must be skipped fails if it ever runs).
import { describe, expect, it } from 'vitest';
import { firstMissing, needs, reasonInTitle, skipTitle, tool, when } from './needs.js';

describe('needs', () => {
  it('names the missing tool and its package, and finds one on PATH', () => {
    expect(tool('berth-no-such-tool', 'berth-pkg')).toBe('needs berth-no-such-tool (apt package berth-pkg)');
    expect(tool('sh')).toBeUndefined();
    expect(firstMissing(undefined, when(false, 'b'), 'c')).toBe('b');
  });

  it('puts the reason in the title, where reasonInTitle finds it again', () => {
    expect(skipTitle('runs', undefined)).toBe('runs');
    expect(skipTitle('runs', 'needs x (apt package y)')).toBe('runs (skipped: needs x (apt package y))');
    expect(reasonInTitle('runs (skipped: needs x (apt package y))')).toBe('needs x (apt package y)');
    expect(reasonInTitle('runs')).toBeUndefined();
  });

  const missing = needs(undefined, 'skipped on purpose: the gate testing itself');
  missing.it('never runs', () => {
    throw new Error('a gated test ran although its gate reported a reason');
  });

  it('skips with the reason in the title', ({ task }) => {
    const gated = task.suite!.tasks.find((t) => t.name.startsWith('never runs'))!;
    expect(gated.name).toBe('never runs (skipped: skipped on purpose: the gate testing itself)');
    expect(gated.mode).toBe('skip');
  });

  const present = needs(undefined, when(true, 'unused'));
  present.it('runs when nothing is missing', ({ task }) => {
    expect(present.reason).toBeUndefined();
    expect(task.mode).toBe('run');
  });
});
