import { describe, expect, it } from 'vitest';
import { nodeStartNotes } from './node-start-notes.js';

describe('nodeStartNotes', () => {
  it('names NODE_EXTRA_CA_CERTS and NODE_OPTIONS when set, nothing otherwise', () => {
    expect(nodeStartNotes({})).toEqual([]);
    const notes = nodeStartNotes({ NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt', NODE_OPTIONS: '--x' });
    expect(notes).toHaveLength(2);
    expect(notes[0]).toMatch(/^NODE_EXTRA_CA_CERTS is set \(\/etc\/ssl\/certs\/ca-certificates\.crt\)/);
    expect(notes[1]).toBe('NODE_OPTIONS is set: "--x".');
  });
});
