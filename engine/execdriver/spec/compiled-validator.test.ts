import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compiledValidator } from './compiled-validator.js';

const schema = (max: number) =>
  JSON.stringify({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    required: ['n'],
    properties: { n: { type: 'integer', maximum: max } },
    additionalProperties: false,
  });

describe('compiledValidator', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-validator-'));
  });
  afterEach(() => {
    chmodSync(dir, 0o755);
    rmSync(dir, { recursive: true, force: true });
  });

  it('validates, writes the generated module, and the module validates the same way', () => {
    writeFileSync(join(dir, 's.json'), schema(5));
    const first = compiledValidator(join(dir, 's.json'), dir, 's');
    expect(first({ n: 3 })).toBe(true);
    expect(first({ n: 9 })).toBe(false);
    expect(first.errors?.[0]?.instancePath).toBe('/n');
    const files = readdirSync(join(dir, '.generated'));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^s\.[0-9a-f]{16}\.cjs$/);
    const loaded = compiledValidator(join(dir, 's.json'), dir, 's');
    expect(loaded).not.toBe(first); // the generated module, not the in-memory compile
    expect(loaded({ n: 3 })).toBe(true);
    expect(loaded({ n: 9 })).toBe(false);
    expect(loaded({ n: 1, extra: true })).toBe(false);
  });

  it('compiles again when the schema changed (a new hash), never using the stale module', () => {
    writeFileSync(join(dir, 's.json'), schema(5));
    compiledValidator(join(dir, 's.json'), dir, 's');
    writeFileSync(join(dir, 's.json'), schema(50));
    const v = compiledValidator(join(dir, 's.json'), dir, 's');
    expect(v({ n: 9 })).toBe(true);
    expect(readdirSync(join(dir, '.generated'))).toHaveLength(2);
  });

  it('still validates when the folder cannot be written', () => {
    writeFileSync(join(dir, 's.json'), schema(5));
    chmodSync(dir, 0o555);
    const asRoot = process.getuid?.() === 0; // root writes anyway: then the module is there
    const v = compiledValidator(join(dir, 's.json'), dir, 's');
    expect(v({ n: 9 })).toBe(false);
    if (!asRoot) expect(() => readdirSync(join(dir, '.generated'))).toThrow();
  });
});
