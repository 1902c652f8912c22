// Reads and validates a bundle's config.json: the one entry point for "a bundle on disk → Spec".
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { invalidArgument, wrap } from '../../errdefs/errors.js';
import { validateSpec, type ValidateOptions } from './validate.js';
import type { Spec } from './types.js';

/**
 * Loads `<bundleDir>/config.json` and validates it (validateSpec). Errors name the bundle
 * and file: NOT_FOUND when it is missing, INVALID_ARGUMENT for bad JSON or a bad field
 * (`bundle /b: config.json: linux.namespaces[2].type: unknown …`). Reads one file, synchronously: its
 * caller, berth-runtime's create, waits for it anyway (a thread-pool read is four round trips).
 */
export async function loadBundleSpec(bundleDir: string, options: ValidateOptions = {}): Promise<Spec> {
  const bundle = resolve(bundleDir);
  const subject = `bundle ${bundle}: config.json`;
  let text: string;
  try {
    text = readFileSync(join(bundle, 'config.json'), 'utf8');
  } catch (err) {
    throw wrap(err, subject);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`${subject}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  try {
    // raw was parsed here for this call alone: validated where it lies, not deep-copied first (≈ 0.3 ms with Docker's
    // seccomp profile, at every berth-runtime create)
    return validateSpec(raw, bundle, { ...options, owned: true });
  } catch (err) {
    throw wrap(err, subject);
  }
}
