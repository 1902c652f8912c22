// The manifest and layer media types the distribution client understands, the
// Accept header it sends, and the checks that turn an unknown type into a clear error.
import { invalidArgument } from '../../errdefs/errors.js';

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

/** Sent on every manifest request: the two index types first, then the two image manifest types. */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.dockerManifestList,
  MediaType.ociManifest,
  MediaType.dockerManifest,
].join(', ');

const indexTypes = new Set<string>([MediaType.ociIndex, MediaType.dockerManifestList]);
const manifestTypes = new Set<string>([MediaType.ociManifest, MediaType.dockerManifest]);
const configTypes = new Set<string>([MediaType.ociConfig, MediaType.dockerConfig]);

/** Layer media types and the compression each one declares (the bytes' magic decides in the end). */
const layerTypes: Record<string, 'none' | 'gzip' | 'zstd'> = {
  'application/vnd.oci.image.layer.v1.tar': 'none',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd': 'zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  'application/vnd.docker.image.rootfs.diff.tar': 'none',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar': 'none',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.diff.tar.zstd': 'zstd',
};

export function isIndexType(mediaType: string): boolean {
  return indexTypes.has(mediaType);
}

export function isManifestType(mediaType: string): boolean {
  return manifestTypes.has(mediaType);
}

/** Fails INVALID_ARGUMENT naming the media type and `subject` unless it is one of the four manifest types. */
export function checkManifestType(mediaType: string, subject: string): void {
  if (!indexTypes.has(mediaType) && !manifestTypes.has(mediaType)) {
    throw invalidArgument(
      `${subject}: unsupported manifest media type ${JSON.stringify(mediaType)} (supported: ${MANIFEST_ACCEPT})`,
      { details: { mediaType } },
    );
  }
}

/** Fails INVALID_ARGUMENT naming the media type and `subject` unless it is an image config type. */
export function checkConfigType(mediaType: string, subject: string): void {
  if (!configTypes.has(mediaType))
    throw invalidArgument(`${subject}: unsupported config media type ${JSON.stringify(mediaType)}`, {
      details: { mediaType },
    });
}

/**
 * The compression a layer media type declares; fails INVALID_ARGUMENT naming the type and `subject` for a non-layer
 * type.
 */
export function layerCompression(mediaType: string, subject: string): 'none' | 'gzip' | 'zstd' {
  const c = layerTypes[mediaType];
  if (c === undefined)
    throw invalidArgument(`${subject}: unsupported layer media type ${JSON.stringify(mediaType)}`, {
      details: { mediaType },
    });
  return c;
}
