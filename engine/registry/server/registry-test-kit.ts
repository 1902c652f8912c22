// What the registry server's tests share: a server on 127.0.0.1 over a fresh
// temporary root, removed with it, and the few HTTP calls every test makes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { createLogger } from '../../trace/logger.js';
import { createRegistryServer, type RegistryServer, type RegistryServerOptions } from './registry-server.js';
import { buildImage, sha256, type TestBlob, type TestImage } from './test-image.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

export interface TestRegistry {
  server: RegistryServer;
  root: string;
  api(path: string, init?: RequestInit): Promise<Response>;
  /** Monolithic upload; expects 201. */
  pushBlob(name: string, b: TestBlob | Buffer): Promise<void>;
  putManifest(name: string, ref: string, body: string | Buffer, mediaType?: string): Promise<Response>;
  /** Blobs then manifest under `tag`; expects 201. */
  pushImage(name: string, tag: string, seed?: string): Promise<TestImage>;
  /** Closes the server and removes its root. Idempotent. */
  close(): Promise<void>;
}

/** Starts a registry over a fresh temporary root (silent logger unless `options.logger`). */
export async function startTestRegistry(options: Partial<RegistryServerOptions> = {}): Promise<TestRegistry> {
  const root = await mkdtemp(join(tmpdir(), `berth-registry-kit-${process.pid}-`));
  let server: RegistryServer;
  try {
    server = await createRegistryServer({ root, addr: '127.0.0.1:0', logger: createLogger('silent'), ...options });
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  const api = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, init);
  const putManifest = (name: string, ref: string, body: string | Buffer, mediaType = OCI_MANIFEST) =>
    api(`/v2/${name}/manifests/${ref}`, {
      method: 'PUT',
      body: typeof body === 'string' ? body : new Uint8Array(body),
      headers: { 'Content-Type': mediaType },
    });
  const pushBlob = async (name: string, b: TestBlob | Buffer) => {
    const bytes = Buffer.isBuffer(b) ? b : b.bytes;
    const res = await api(`/v2/${name}/blobs/uploads/?digest=${sha256(bytes)}`, {
      method: 'POST',
      body: new Uint8Array(bytes),
    });
    expect(res.status).toBe(201);
  };
  let closed: Promise<void> | undefined;
  return {
    server,
    root,
    api,
    pushBlob,
    putManifest,
    async pushImage(name, tag, seed = tag) {
      const image = await buildImage({ 'f.txt': `content ${seed}\n` }, seed);
      for (const b of [image.config, ...image.layers]) await pushBlob(name, b);
      expect((await putManifest(name, tag, image.manifest.bytes)).status).toBe(201);
      return image;
    },
    close() {
      closed ??= server.close(1_000).finally(() => rm(root, { recursive: true, force: true }));
      return closed;
    },
  };
}

/** The spec error body's codes. */
export async function errorCodes(res: Response): Promise<string[]> {
  const body = (await res.json()) as { errors: { code: string }[] };
  return body.errors.map((e) => e.code);
}

/** The spec error body's entries. */
export async function errorsOf(res: Response): Promise<{ code: string; message: string; detail?: unknown }[]> {
  return ((await res.json()) as { errors: { code: string; message: string; detail?: unknown }[] }).errors;
}
