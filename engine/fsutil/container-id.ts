// The one grammar of a container id, shared by every module that takes one (execdriver,
// berth-runtime's state store, the layer store's rw layers, the networkdriver): an id
// names directories and files (`<root>/<id>/`, `mounts/<id>/`, `<id>.json`), so it
// must be a single safe path segment everywhere alike.
import { invalidArgument } from '../errdefs/errors.js';

/** The longest id accepted. */
export const CONTAINER_ID_MAX = 128;

const GRAMMAR = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;

/**
 * True when `id` is a valid container id: 1 to 128 characters from runc's alphabet
 * (letters, digits, `_ . + -`), the first a letter or digit.
 *
 * runc's grammar (libcontainer's validateID) is the reference, since berth-runtime
 * must take the ids runc takes: the same alphabet, `+` included, and never `.` or
 * `..` (impossible here since the first character is a letter or digit). Two
 * limits are stricter than runc's: the first character may not be a symbol (an id
 * never starts a hidden file such as the atomic writer's `.<name>.<pid>.<n>` temps,
 * nor reads as a command-line flag), and the length is capped at 128 (runc has no
 * cap but the file system's NAME_MAX of 255), leaving room for the suffixes and temp
 * names berth derives from an id. Docker's 64-hex ids and runtime-tools' UUIDs fit.
 */
export function isContainerId(id: unknown): id is string {
  return typeof id === 'string' && id.length <= CONTAINER_ID_MAX && GRAMMAR.test(id);
}

/** Fails INVALID_ARGUMENT `container "<id>": invalid id (…)` unless isContainerId(id). */
export function checkContainerId(id: unknown): asserts id is string {
  if (!isContainerId(id)) {
    throw invalidArgument(
      `container ${JSON.stringify(id)}: invalid id (1 to ${CONTAINER_ID_MAX} letters, digits and _ . + -, starting with a letter or digit)`,
    );
  }
}
