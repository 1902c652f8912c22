// The runtime-spec validator as generated code. Compiling the JSON Schema with ajv
// costs more than starting a container, and every `berth-runtime create` would pay
// it. So the compiled validator is kept as a standalone CommonJS module in
// `.generated/` beside the schema, keyed by a hash of the schema text and ajv's
// version: loading it is one module load. A missing or stale file is compiled again (and
// rewritten, atomically; a read-only install just compiles in memory each time).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv/dist/2020.js';

const require = createRequire(import.meta.url);

/**
 * The validator of `schemaPath`, from `.generated/<name>.<hash>.cjs` when present,
 * else compiled (and cached there). Options are fixed: strict, first error only.
 */
export function compiledValidator(schemaPath: string, dir: string, name: string): ValidateFunction {
  const text = readFileSync(schemaPath, 'utf8');
  const ajvVersion = (require('ajv/package.json') as { version: string }).version;
  const hash = createHash('sha256').update(text).update('\0').update(ajvVersion).digest('hex').slice(0, 16);
  const file = join(dir, '.generated', `${name}.${hash}.cjs`);
  try {
    return require(file) as ValidateFunction;
  } catch {
    // not generated yet, or for another schema: compile below
  }
  const { Ajv2020 } = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
  const standaloneCode = (
    require('ajv/dist/standalone/index.js') as { default: typeof import('ajv/dist/standalone/index.js').default }
  ).default;
  const ajv = new Ajv2020({ allErrors: false, strict: true, strictTuples: false, code: { source: true } });
  const validate = ajv.compile(JSON.parse(text) as object);
  try {
    mkdirSync(join(dir, '.generated'), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, standaloneCode(ajv, validate));
    renameSync(tmp, file);
  } catch {
    // a read-only install: the in-memory validator serves this process
  }
  return validate;
}
