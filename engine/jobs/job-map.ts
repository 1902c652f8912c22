// The table of berth's jobs: for each name, its args, its result and the events it
// emits on its output channel, so `engine.job(ctx, 'create', args)` is typed end to
// end. Args and results use the Docker API shapes of engine/api where one exists.
import type { Readable } from 'node:stream';
import type {
  ContainerCreateRequest,
  ContainerCreateResponse,
  ContainerInspect,
  ContainerSummary,
  ContainerWaitResponse,
  EventMessage,
  ExecConfig,
  ExecCreateResponse,
  ExecInspect,
  ImageDeleteResponseItem,
  ImageInspect,
  ImageSummary,
  JSONMessage,
  NetworkCreateRequest,
  NetworkCreateResponse,
  NetworkResource,
  SystemInfo,
  SystemVersion,
  Volume,
  VolumeCreateRequest,
  VolumeListResponse,
  VolumePruneResponse,
  WaitCondition,
} from '../api/types.js';
import type {
  AllocateInterfaceRequest,
  InterfaceAllocation,
  PortRecord,
  ReleaseInterfaceOptions,
} from '../networkdriver/driver.js';

/** Docker's list filters: `{"status": ["running"], "label": ["a=b"]}`. */
export type Filters = Record<string, string[]>;

/** Registry credentials, as `X-Registry-Auth` carries them. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
  serveraddress?: string;
}

/** A piece of a container's (or exec's) output on the job's channel. */
export interface OutputChunk {
  stream: 'stdout' | 'stderr';
  data: Buffer;
  /** When the container wrote it (logs), RFC 3339 with nanoseconds. */
  time?: string;
}

export interface PullArgs {
  /** `busybox`, `127.0.0.1:5000/x:tag`, `repo@sha256:…`. */
  reference: string;
  /** `os/arch[/variant]`, the host's by default. */
  platform?: string;
  auth?: RegistryAuth;
}

export interface PullJobResult {
  imageId: string;
  /** The reference stored, fully qualified. */
  reference: string;
  manifestDigest: string;
}

export interface CreateArgs {
  /** Docker's name grammar `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, with or without a leading `/`; generated when absent. */
  name?: string;
  config: ContainerCreateRequest;
}

export interface StopArgs {
  id: string;
  /** Seconds between the stop signal and SIGKILL; the container's StopTimeout (else 10) when absent. */
  timeout?: number;
  /** The signal; the container's StopSignal (else SIGTERM) when absent. */
  signal?: string;
}

export interface LogsArgs {
  id: string;
  follow?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  /** Unix seconds (may be fractional). */
  since?: number;
  until?: number;
  timestamps?: boolean;
  /** Lines from the end, or 'all'. */
  tail?: number | 'all';
  /** Awaited after each event before more is read: resolves when the consumer has room (back-pressure). */
  waitForRoom?: () => Promise<void>;
}

export interface AttachArgs {
  id: string;
  /** The client's input, forwarded to the container's stdin when it has one open. */
  stdin?: Readable;
  stdout?: boolean;
  stderr?: boolean;
  /** Replay the log before the live output. */
  logs?: boolean;
  /** Stream live output (Docker's `stream=1`). */
  stream?: boolean;
  detachKeys?: string;
  /** Awaited after each event before more is read: resolves when the consumer has room (back-pressure). */
  waitForRoom?: () => Promise<void>;
}

export interface ExecStartArgs {
  execId: string;
  detach?: boolean;
  tty?: boolean;
  stdin?: Readable;
  /** [height, width] of the exec's pty. */
  consoleSize?: [number, number];
  /** Awaited after each event before more is read: resolves when the consumer has room (back-pressure). */
  waitForRoom?: () => Promise<void>;
}

export interface EventsArgs {
  /** Unix seconds: replay buffered events since then. */
  since?: number;
  /** Unix seconds: stop at this time (else run until ctx is cancelled). */
  until?: number;
  filters?: Filters;
}

// A type (not an interface) so it satisfies the Engine's JobSpecs constraint
// without an index signature: an unknown job name is a type error.
export type JobMap = {
  /** Checks credentials against a registry (`docker login`); Docker Hub when serveraddress is absent. */
  auth: { args: RegistryAuth; result: { Status: string; IdentityToken: string }; event: never };
  pull: { args: PullArgs; result: PullJobResult; event: JSONMessage };
  push: {
    args: { reference: string; auth?: RegistryAuth };
    result: { digest: string; size: number; tag: string; reference: string };
    event: JSONMessage;
  };
  image_inspect: { args: { name: string }; result: ImageInspect; event: never };
  image_list: { args: { all?: boolean; filters?: Filters }; result: ImageSummary[]; event: never };
  image_delete: {
    args: { name: string; force?: boolean; noprune?: boolean };
    result: ImageDeleteResponseItem[];
    event: never;
  };
  tag: { args: { source: string; repo: string; tag?: string }; result: void; event: never };

  create: { args: CreateArgs; result: ContainerCreateResponse; event: never };
  /** `changed` false: it was running already (Docker's 304). */
  start: { args: { id: string }; result: { changed: boolean }; event: never };
  /** Emits `{armed: true}` once its condition is registered (next-exit counts from there), before it blocks. */
  wait: { args: { id: string; condition?: WaitCondition }; result: ContainerWaitResponse; event: { armed: true } };
  kill: { args: { id: string; signal?: string }; result: void; event: never };
  /** `changed` false: it was not running (Docker's 304). */
  stop: { args: StopArgs; result: { changed: boolean }; event: never };
  restart: { args: StopArgs; result: void; event: never };
  delete: { args: { id: string; force?: boolean; volumes?: boolean; link?: boolean }; result: void; event: never };
  inspect: { args: { id: string }; result: ContainerInspect; event: never };
  list: {
    args: { all?: boolean; limit?: number; size?: boolean; filters?: Filters };
    result: ContainerSummary[];
    event: never;
  };

  logs: { args: LogsArgs; result: void; event: OutputChunk };
  attach: { args: AttachArgs; result: void; event: OutputChunk };
  resize: { args: { id: string; height: number; width: number }; result: void; event: never };
  exec_create: { args: { id: string; config: ExecConfig }; result: ExecCreateResponse; event: never };
  exec_start: { args: ExecStartArgs; result: void; event: OutputChunk };
  exec_inspect: { args: { execId: string }; result: ExecInspect; event: never };
  exec_resize: { args: { execId: string; height: number; width: number }; result: void; event: never };

  allocate_interface: { args: AllocateInterfaceRequest; result: InterfaceAllocation; event: never };
  release_interface: { args: { containerId: string } & ReleaseInterfaceOptions; result: void; event: never };
  allocate_port: { args: { containerId: string; spec: string }; result: PortRecord; event: never };
  release_port: { args: { containerId: string; spec?: string }; result: void; event: never };
  network_create: { args: NetworkCreateRequest; result: NetworkCreateResponse; event: never };
  network_delete: { args: { id: string }; result: void; event: never };
  network_list: { args: { filters?: Filters }; result: NetworkResource[]; event: never };
  network_inspect: { args: { id: string }; result: NetworkResource; event: never };

  volume_create: { args: VolumeCreateRequest; result: Volume; event: never };
  volume_list: { args: { filters?: Filters }; result: VolumeListResponse; event: never };
  volume_inspect: { args: { name: string }; result: Volume; event: never };
  volume_delete: { args: { name: string; force?: boolean }; result: void; event: never };
  volume_prune: { args: { filters?: Filters }; result: VolumePruneResponse; event: never };

  /** Runs until ctx is cancelled (or `until`), emitting each event. */
  events: { args: EventsArgs; result: void; event: EventMessage };
  info: { args: Record<string, never>; result: SystemInfo; event: never };
  version: { args: Record<string, never>; result: SystemVersion; event: never };
};

export type JobName = keyof JobMap & string;
