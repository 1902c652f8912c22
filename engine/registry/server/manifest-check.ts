// Parses a pushed manifest of one of the four supported media types and says what
// it references: the blobs (config, layers) and child manifests that must already
// exist in the repository, its subject, and the artifactType the referrers API shows.
import { distributionError } from './distribution-errors.js';
import { parseDigest } from './reference-grammar.js';

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

const supported = new Set<string>(Object.values(MediaType));
const indexTypes = new Set<string>([MediaType.ociIndex, MediaType.dockerManifestList]);

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: unknown;
}

/** A descriptor and where the manifest holds it: `config`, `layers[2]`, `manifests[0]`, `subject`. */
export interface Located {
  where: string;
  descriptor: Descriptor;
  /** A layer with `urls`: it may live elsewhere, so the repository need not hold it. */
  foreign: boolean;
}

export interface CheckedManifest {
  mediaType: string;
  isIndex: boolean;
  /** Blobs (config and layers), each of which must be in the repository unless foreign. */
  blobs: Located[];
  /** Manifests an index lists; each must be a manifest of the repository. */
  children: Located[];
  subject: Descriptor | undefined;
  /** The value the referrers API reports: artifactType, else the config's mediaType for an image manifest. */
  artifactType: string | undefined;
  annotations: Record<string, string> | undefined;
}

function invalid(subject: string, why: string): Error {
  return distributionError('MANIFEST_INVALID', `${subject}: ${why}`);
}

function checkDescriptor(value: unknown, where: string, subject: string): Descriptor {
  const d = value as Partial<Descriptor> | null;
  if (typeof d !== 'object' || d === null) throw invalid(subject, `${where}: not a descriptor`);
  if (typeof d.mediaType !== 'string' || d.mediaType === '') throw invalid(subject, `${where}: mediaType missing`);
  if (typeof d.digest !== 'string') throw invalid(subject, `${where}: digest missing`);
  try {
    parseDigest(d.digest, `${where} digest`);
  } catch (err) {
    throw invalid(subject, (err as Error).message);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0)
    throw invalid(subject, `${where}: size must be a non-negative integer`);
  if (d.urls !== undefined && !Array.isArray(d.urls)) throw invalid(subject, `${where}: urls must be an array`);
  return d as Descriptor;
}

function located(value: unknown, where: string, subject: string): Located {
  const descriptor = checkDescriptor(value, where, subject);
  return { where, descriptor, foreign: Array.isArray(descriptor.urls) && descriptor.urls.length > 0 };
}

/**
 * Parses `body` as a manifest. `contentType` is the request's Content-Type (without
 * parameters, possibly empty). Throws MANIFEST_INVALID for bad JSON, an unsupported
 * media type, a mediaType field that contradicts Content-Type, or malformed
 * descriptors. Pure; cost proportional to the manifest's size.
 */
export function checkManifest(body: Buffer, contentType: string, subject: string): CheckedManifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw invalid(subject, `not JSON (${(err as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid(subject, 'not a JSON object');
  if (doc.schemaVersion !== 2)
    throw invalid(subject, `schemaVersion ${JSON.stringify(doc.schemaVersion)} unsupported (expected 2)`);
  const field = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const generic =
    contentType === '' || contentType === 'application/json' || contentType === 'application/octet-stream';
  if (field !== undefined && !generic && field !== contentType) {
    throw invalid(subject, `mediaType ${field} differs from Content-Type ${contentType}`);
  }
  let mediaType = field ?? (generic ? undefined : contentType);
  if (mediaType === undefined) mediaType = Array.isArray(doc.manifests) ? MediaType.ociIndex : MediaType.ociManifest;
  if (!supported.has(mediaType)) throw invalid(subject, `media type ${mediaType} unsupported`);
  const isIndex = indexTypes.has(mediaType);
  const annotations =
    doc.annotations !== undefined && typeof doc.annotations === 'object' && doc.annotations !== null
      ? (doc.annotations as Record<string, string>)
      : undefined;
  const subjectDescriptor = doc.subject === undefined ? undefined : checkDescriptor(doc.subject, 'subject', subject);
  const declaredArtifactType =
    typeof doc.artifactType === 'string' && doc.artifactType !== '' ? doc.artifactType : undefined;
  if (isIndex) {
    if (!Array.isArray(doc.manifests)) throw invalid(subject, 'manifests must be an array');
    const children = doc.manifests.map((m, i) => located(m, `manifests[${i}]`, subject));
    return {
      mediaType,
      isIndex,
      blobs: [],
      children,
      subject: subjectDescriptor,
      artifactType: declaredArtifactType,
      annotations,
    };
  }
  const config = { ...located(doc.config, 'config', subject), foreign: false };
  if (!Array.isArray(doc.layers)) throw invalid(subject, 'layers must be an array');
  const layers = doc.layers.map((l, i) => located(l, `layers[${i}]`, subject));
  const blobs = [config, ...layers];
  return {
    mediaType,
    isIndex,
    blobs,
    children: [],
    subject: subjectDescriptor,
    artifactType: declaredArtifactType ?? config.descriptor.mediaType,
    annotations,
  };
}
