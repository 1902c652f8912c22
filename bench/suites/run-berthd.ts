// The private berthd of the suites that run the static image through a daemon (run,
// lifecycle, reliability): private-berthd.ts's daemon on a bridge of its own, holding
// the static image pushed to an embedded registry on 127.0.0.1 and pulled by the daemon.
import { join } from 'node:path';
import { blobOf, push } from '../../engine/registry/client/test-registry.js';
import { createRegistryServer } from '../../engine/registry/server/index.js';
import { PrivateBerthd } from './private-berthd.js';
import { STATIC_IMAGE, staticImageConfig, staticImageLayers } from './runtime-image.js';

/** The private daemon's bridge (at most 15 characters). */
export const BERTHD_BRIDGE = `bbd${process.pid}`.slice(0, 15);

/**
 * Pushes the static image to a registry at `registryRoot` on 127.0.0.1 (closed again
 * afterwards) and has `pull` fetch it from there.
 */
export async function throughRegistry(
  registryRoot: string,
  pull: (registryHost: string, repo: string, tag: string) => Promise<void>,
): Promise<void> {
  const registry = await createRegistryServer({ root: registryRoot, addr: '127.0.0.1:0' });
  try {
    const layers = await staticImageLayers();
    const layerBlobs = layers.map((b) => blobOf('application/vnd.oci.image.layer.v1.tar', b));
    const config = blobOf('application/vnd.oci.image.config.v1+json', staticImageConfig(layers));
    const desc = (b: { mediaType: string; digest: string; size: number }) => ({
      mediaType: b.mediaType,
      digest: b.digest,
      size: b.size,
    });
    const mt = 'application/vnd.oci.image.manifest.v1+json';
    const manifest = blobOf(
      mt,
      JSON.stringify({ schemaVersion: 2, mediaType: mt, config: desc(config), layers: layerBlobs.map(desc) }),
    );
    const [repo, tag] = STATIC_IMAGE.split(':') as [string, string];
    await push(registry.url, repo, [config, ...layerBlobs], manifest, tag);
    await pull(registry.host, repo, tag);
  } finally {
    await registry.close();
  }
}

/** A private berthd holding STATIC_IMAGE, the image going in the way a user's does. */
export function staticImageBerthd(dataRoot: string): PrivateBerthd {
  return new PrivateBerthd(dataRoot, {
    bridge: BERTHD_BRIDGE,
    subnetBase: 50,
    tmpfsSize: '512m',
    seed: async (_ctx, berthd) =>
      throughRegistry(join(berthd.folder!, 'registry'), async (registryHost, repo, tag) => {
        const client = berthd.client();
        await client.pull(`${registryHost}/${repo}:${tag}`);
        await client.tag(`${registryHost}/${repo}:${tag}`, repo, tag);
      }),
  });
}
