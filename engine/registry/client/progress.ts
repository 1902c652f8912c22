// Per-layer pull progress: the events the CLI's progress bars and the daemon's
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
  return { status: statusOf[e.phase], id: e.id, progressDetail: detailed ? { current: e.current, total: e.total } : {} };
}

/** `sha256:0123456789abcdef…` → `0123456789ab`. */
export function shortLayerID(digest: string): string {
  const colon = digest.indexOf(':');
  return digest.slice(colon + 1, colon + 13);
}
