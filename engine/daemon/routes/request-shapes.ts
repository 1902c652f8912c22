// The fields of each JSON request body that berth reads, with their types, so a
// mistyped field is a 400 naming it (request-body.ts) before any job runs.
import type { FieldType, Shape } from '../request-body.js';

const portBindings: FieldType = { recordOf: { arrayOf: { shape: { HostIp: 'string', HostPort: 'string' } } } };

export const hostConfigShape: Shape = {
  Binds: 'string[]',
  NetworkMode: 'string',
  PortBindings: portBindings,
  RestartPolicy: { shape: { Name: 'string', MaximumRetryCount: 'integer' } },
  AutoRemove: 'boolean',
  CapAdd: 'string[]',
  CapDrop: 'string[]',
  Dns: 'string[]',
  DnsOptions: 'string[]',
  DnsSearch: 'string[]',
  ExtraHosts: 'string[]',
  Privileged: 'boolean',
  ReadonlyRootfs: 'boolean',
  SecurityOpt: 'string[]',
  Tmpfs: 'record<string>',
  Memory: 'integer',
  MemorySwap: 'integer',
  NanoCpus: 'integer',
  CpuShares: 'integer',
  CpuPeriod: 'integer',
  CpuQuota: 'integer',
  PidsLimit: 'integer',
  ShmSize: 'integer',
  LogConfig: { shape: { Type: 'string', Config: 'record<string>' } },
  MaskedPaths: 'string[]',
  ReadonlyPaths: 'string[]',
  PublishAllPorts: 'boolean',
  Init: 'boolean',
  PidMode: 'string',
  IpcMode: 'string',
  VolumesFrom: 'string[]',
  Mounts: { arrayOf: 'object' },
};

export const containerCreateShape: Shape = {
  Hostname: 'string',
  Domainname: 'string',
  User: 'string',
  AttachStdin: 'boolean',
  AttachStdout: 'boolean',
  AttachStderr: 'boolean',
  ExposedPorts: 'object',
  Tty: 'boolean',
  OpenStdin: 'boolean',
  StdinOnce: 'boolean',
  Env: 'string[]',
  Cmd: 'string[]',
  Image: 'string',
  Volumes: 'object',
  WorkingDir: 'string',
  Entrypoint: 'string[]',
  NetworkDisabled: 'boolean',
  Labels: 'record<string>',
  StopSignal: 'string',
  StopTimeout: 'integer',
  HostConfig: { shape: hostConfigShape },
  NetworkingConfig: { shape: { EndpointsConfig: { recordOf: 'object' } } },
};

export const execCreateShape: Shape = {
  AttachStdin: 'boolean',
  AttachStdout: 'boolean',
  AttachStderr: 'boolean',
  DetachKeys: 'string',
  Tty: 'boolean',
  ConsoleSize: { arrayOf: 'integer' },
  Env: 'string[]',
  Cmd: 'string[]',
  Privileged: 'boolean',
  User: 'string',
  WorkingDir: 'string',
};

export const execStartShape: Shape = {
  Detach: 'boolean',
  Tty: 'boolean',
  ConsoleSize: { arrayOf: 'integer' },
};

export const networkCreateShape: Shape = {
  Name: 'string',
  CheckDuplicate: 'boolean',
  Driver: 'string',
  Internal: 'boolean',
  Attachable: 'boolean',
  EnableIPv6: 'boolean',
  IPAM: {
    shape: {
      Driver: 'string',
      Config: { arrayOf: { shape: { Subnet: 'string', IPRange: 'string', Gateway: 'string' } } },
      Options: 'record<string>',
    },
  },
  Options: 'record<string>',
  Labels: 'record<string>',
};

export const volumeCreateShape: Shape = {
  Name: 'string',
  Driver: 'string',
  DriverOpts: 'record<string>',
  Labels: 'record<string>',
};

/** Body of `POST /auth`: Docker's AuthConfig (`email` and `auth` are read by nobody). */
export const authConfigShape: Shape = {
  username: 'string',
  password: 'string',
  serveraddress: 'string',
  identitytoken: 'string',
  registrytoken: 'string',
  email: 'string',
  auth: 'string',
};
