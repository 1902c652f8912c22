// Reads a JSON file for the harness (result files, bounds files) with errors that
// start with the file's subject: unreadable (errno class kept) or not JSON.
import { readFile } from 'node:fs/promises';
import { invalidArgument, wrap } from '../engine/errdefs/errors.js';

/** The parsed content of `path`; errors start with `subject` (e.g. `result file x.json`). */
export async function readJsonFile(path: string, subject: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw wrap(err, subject);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw invalidArgument(`${subject}: not JSON: ${(err as Error).message}`, { cause: err });
  }
}
