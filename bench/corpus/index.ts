// The image corpus's public surface: the spec per profile, the cached builder, the
// corpus.json reader and the push into a registry.
export { buildCorpus, zstdVersion, type BuildCorpusOptions } from './build-corpus.js';
export { refOf } from './build-image.js';
export {
  corpusFile,
  generatorVersion,
  readCorpusManifest,
  type CorpusImage,
  type CorpusLayer,
  type CorpusManifest,
} from './corpus-manifest.js';
export {
  corpusSpec,
  defaultImages,
  imageNames,
  isImageName,
  type CorpusSpec,
  type ImageName,
  type ImageSpec,
  type LayerSpec,
} from './corpus-spec.js';
export { sources, type DistributionSource } from './distributions.js';
export { pushCorpusToRegistry, type PushedRef, type PushOptions, type PushTarget } from './push-corpus.js';
export { compressions, layerMediaTypes, type Compression } from './write-layer.js';
