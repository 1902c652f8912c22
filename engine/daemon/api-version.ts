// The Docker Engine API versions berthd speaks and the `/v1.NN` path prefix that
// picks one. Unversioned paths get the newest; a client newer than that or older
// than the oldest is refused with the message Docker gives.
import { invalidArgument } from '../errdefs/errors.js';

export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.24';

/** Compares two `major.minor` versions: negative, zero or positive. */
export function compareApiVersions(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number) as [number, number];
  const [bm, bn] = b.split('.').map(Number) as [number, number];
  return am - bm || (an ?? 0) - (bn ?? 0);
}

/**
 * Splits `/v1.41/containers/json` into version and the path the routes know.
 * Throws INVALID_ARGUMENT (400) for a version outside MIN_API_VERSION..API_VERSION.
 */
export function splitVersion(pathname: string): { version: string; path: string } {
  const m = /^\/v(\d+\.\d+)(\/.*)?$/.exec(pathname);
  if (m === null) return { version: API_VERSION, path: pathname };
  const version = m[1] as string;
  const path = m[2] ?? '/';
  if (compareApiVersions(version, API_VERSION) > 0) {
    throw invalidArgument(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
  }
  if (compareApiVersions(version, MIN_API_VERSION) < 0) {
    throw invalidArgument(
      `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
  }
  return { version, path };
}
