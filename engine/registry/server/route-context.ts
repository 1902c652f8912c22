// What every registry route handler receives: the request, the repository name it
// addresses (already validated), the path parameter, the stores and the settings,
// plus the two guards that turn a write on a read-only server into 405 UNSUPPORTED.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from '../../trace/context.js';
import { distributionError } from './distribution-errors.js';
import type { RepositoryStore } from './repository-store.js';
import type { UploadStore } from './upload-store.js';

export interface RegistrySettings {
  readOnly: boolean;
  deleteEnabled: boolean;
  maxManifestBytes: number;
}

export interface RouteContext {
  readonly ctx: Context;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** The repository name, valid by the spec's grammar. */
  readonly name: string;
  /** The last path segment: a reference, a digest or an upload id ('' for POST …/uploads/). */
  readonly param: string;
  readonly store: RepositoryStore;
  readonly uploads: UploadStore;
  readonly settings: RegistrySettings;
}

export type RouteHandler = (rc: RouteContext) => Promise<void>;

/** Throws 405 UNSUPPORTED when the server is read-only. */
export function requireWritable(rc: RouteContext, what: string): void {
  if (rc.settings.readOnly) throw distributionError('UNSUPPORTED', `${what}: registry is read-only`);
}

/** Throws 405 UNSUPPORTED when the server is read-only or deletes are disabled. */
export function requireDelete(rc: RouteContext, what: string): void {
  requireWritable(rc, what);
  if (!rc.settings.deleteEnabled)
    throw distributionError('UNSUPPORTED', `${what}: deletes are disabled on this registry`);
}
