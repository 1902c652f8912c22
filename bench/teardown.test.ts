import { describe, expect, it } from 'vitest';
import { Teardown } from './teardown.js';

describe('Teardown', () => {
  it('runs every step and names each failure in one error at the end', async () => {
    const t = new Teardown();
    const ran: string[] = [];
    await t.attempt('first', async () => {
      ran.push('first');
      throw new Error('boom');
    });
    await t.attempt('second', async () => void ran.push('second'));
    await t.attempt('third', () => Promise.reject('plain'));
    expect(ran).toEqual(['first', 'second']);
    expect(() => t.finish('cleanup')).toThrow('cleanup: first: boom; third: plain');
  });

  it('finishes quietly when nothing failed', async () => {
    const t = new Teardown();
    await t.attempt('ok', async () => undefined);
    expect(() => t.finish('cleanup')).not.toThrow();
  });
});
