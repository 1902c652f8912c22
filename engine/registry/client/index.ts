// The distribution client's public surface: the registry client, its auth,
// credentials, platforms, media types and progress events.
export { Authorizer, parseChallenges, type Challenge } from './auth.js';
export {
  defaultDockerConfigPath,
  loadDockerConfig,
  parseDockerConfig,
  type CredentialSource,
  type Credentials,
} from './credentials.js';
export { DOCKER_HUB_ENDPOINT, endpointFor, isLoopback, type Endpoint } from './endpoint.js';
export { MANIFEST_ACCEPT, MediaType } from './media-types.js';
export { choosePlatform, formatPlatform, hostPlatform, parsePlatform, type Platform } from './platform.js';
export {
  toDockerProgress,
  toDockerPushProgress,
  type DockerProgressMessage,
  type LayerPhase,
  type ProgressEvent,
  type ProgressListener,
  type PushPhase,
  type PushProgressEvent,
  type PushProgressListener,
} from './progress.js';
export {
  RegistryClient,
  type BlobDescriptor,
  type BlobResult,
  type BlobSink,
  type FetchedManifest,
  type RegistryClientOptions,
} from './registry-client.js';
export { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
