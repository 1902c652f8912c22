// Layer ids become directory names: only a safe alphabet is accepted, so an id can
// never name a path outside the driver's home.
import { invalidArgument } from '../errdefs/errors.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Throws INVALID_ARGUMENT naming the driver and the id unless `id` is a safe layer id. */
export function checkId(driver: string, id: string): void {
  if (typeof id !== 'string' || !ID.test(id) || id.includes('..')) {
    throw invalidArgument(
      `${driver} layer ${JSON.stringify(id)}: invalid id (expected [A-Za-z0-9][A-Za-z0-9_.-]*, at most 128 characters)`,
    );
  }
}

/** Throws INVALID_ARGUMENT for any storage option: none is supported by `driver` yet. */
export function checkNoStorageOpt(driver: string, id: string, storageOpt: Record<string, string> | undefined): void {
  const keys = Object.keys(storageOpt ?? {});
  if (keys.length > 0) throw invalidArgument(`${driver} layer ${id}: storage option ${keys[0]} not supported`);
}
