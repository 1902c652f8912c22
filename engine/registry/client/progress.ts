// Per-layer pull and push progress: the events the CLI's progress bars and the daemon's
// JSON progress stream consume, and their Docker JSON progress message form.

export type LayerPhase = 'waiting' | 'downloading' | 'verifying' | 'extracting' | 'done' | 'already-exists';

export interface ProgressEvent {
  /** Short layer id as Docker shows it: the first 12 hex digits of the layer digest. */
  id: string;
  /** The layer's (compressed) digest. */
  digest: string;
  phase: LayerPhase;
  /** Bytes done in this phase (downloaded, or decompressed-and-applied compressed bytes). */
  current: number;
  /** The layer's compressed size. */
  total: number;
}

export type ProgressListener = (event: ProgressEvent) => void;

/** Docker's JSON progress message (`docker pull` over the Engine API). */
export interface DockerProgressMessage {
  status: string;
  id: string;
  progressDetail: { current?: number; total?: number };
}

const statusOf: Record<LayerPhase, string> = {
  waiting: 'Waiting',
  downloading: 'Downloading',
  verifying: 'Verifying Checksum',
  extracting: 'Extracting',
  done: 'Pull complete',
  'already-exists': 'Already exists',
};

/** The Docker JSON progress message for an event (progressDetail empty outside downloading/extracting). */
export function toDockerProgress(e: ProgressEvent): DockerProgressMessage {
  const detailed = e.phase === 'downloading' || e.phase === 'extracting';
  return {
    status: statusOf[e.phase],
    id: e.id,
    progressDetail: detailed ? { current: e.current, total: e.total } : {},
  };
}

/** `sha256:0123456789abcdef…` → `0123456789ab`. */
export function shortLayerID(digest: string): string {
  const colon = digest.indexOf(':');
  return digest.slice(colon + 1, colon + 13);
}

/** A layer's state during a push, as Docker names it. */
export type PushPhase = 'preparing' | 'waiting' | 'pushing' | 'pushed' | 'exists' | 'mounted';

export interface PushProgressEvent {
  /** Short layer id as Docker shows it in a push: the first 12 hex digits of the diffID. */
  id: string;
  /** The compressed blob's digest. */
  digest: string;
  phase: PushPhase;
  /** Bytes uploaded (pushing). */
  current: number;
  /** The compressed blob's size (0 while it is not known yet). */
  total: number;
  /** The repository a mounted blob came from. */
  from?: string;
}

export type PushProgressListener = (event: PushProgressEvent) => void;

const pushStatusOf: Record<Exclude<PushPhase, 'mounted'>, string> = {
  preparing: 'Preparing',
  waiting: 'Waiting',
  pushing: 'Pushing',
  pushed: 'Pushed',
  exists: 'Layer already exists',
};

/** The Docker JSON progress message `docker push` shows for an event. */
export function toDockerPushProgress(e: PushProgressEvent): DockerProgressMessage {
  const status = e.phase === 'mounted' ? `Mounted from ${e.from ?? ''}` : pushStatusOf[e.phase];
  return { status, id: e.id, progressDetail: e.phase === 'pushing' ? { current: e.current, total: e.total } : {} };
}
