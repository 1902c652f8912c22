// A create request merged with its image's config, by Docker's rules: the
// request's Entrypoint replaces the image's and then drops the image's Cmd; Env
// is the request's plus the image's keys it does not set; Labels and
// ExposedPorts are unions (the request winning); Healthcheck is merged field by
// field (container/health.ts); the rest falls back to the image.
import type { ContainerConfig, ContainerCreateRequest, HealthConfig } from '../api/types.js';
import { invalidArgument } from '../errdefs/errors.js';
import { checkHealthcheck, mergeHealthcheck } from './health.js';
import type { ImageConfig } from '../graph/image-store.js';

export interface MergedConfig {
  config: ContainerConfig;
  /** The executable and its arguments. */
  path: string;
  args: string[];
}

const envKey = (e: string): string => {
  const i = e.indexOf('=');
  return i < 0 ? e : e.slice(0, i);
};

/** `KEY=VALUE` entries checked: INVALID_ARGUMENT naming an entry without `=` or with an empty key. */
function checkEnv(env: readonly string[], subject: string): void {
  for (const e of env) {
    if (typeof e !== 'string' || e.indexOf('=') <= 0)
      throw invalidArgument(`${subject}: env ${JSON.stringify(e)}: expected KEY=VALUE`);
  }
}

function isEmptyEntrypoint(ep: readonly string[] | null | undefined): boolean {
  return ep !== undefined && ep !== null && (ep.length === 0 || (ep.length === 1 && ep[0] === ''));
}

/**
 * Merges `req` over the image's config. Fails INVALID_ARGUMENT when no command
 * results, for a relative WorkingDir, or for malformed Env entries.
 */
export function mergeConfig(
  req: ContainerCreateRequest,
  image: ImageConfig['config'] | undefined,
  imageRef: string,
): MergedConfig {
  const img = image ?? {};
  const reqEnv = req.Env ?? [];
  checkEnv(reqEnv, `container of ${imageRef}`);
  const env = [...reqEnv];
  for (const e of img.Env ?? []) {
    if (!env.some((u) => envKey(u) === envKey(e))) env.push(e);
  }

  let entrypoint: string[];
  let cmd: string[];
  if (req.Entrypoint === undefined || req.Entrypoint === null) {
    entrypoint = img.Entrypoint ?? [];
    cmd = req.Cmd !== undefined && req.Cmd !== null && req.Cmd.length > 0 ? req.Cmd : (img.Cmd ?? []);
  } else if (isEmptyEntrypoint(req.Entrypoint)) {
    // `--entrypoint ""`: no entrypoint at all, and the image's Cmd goes with it
    entrypoint = [];
    cmd = req.Cmd ?? [];
  } else {
    entrypoint = req.Entrypoint;
    cmd = req.Cmd ?? [];
  }
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0 || argv[0] === '')
    throw invalidArgument(
      `container of ${imageRef}: no command specified (the image has no Entrypoint or Cmd and the request gives none)`,
    );

  const workingDir = req.WorkingDir || img.WorkingDir || '';
  if (workingDir !== '' && !workingDir.startsWith('/')) {
    throw invalidArgument(
      `container of ${imageRef}: working directory ${JSON.stringify(workingDir)} is invalid, it needs to be an absolute path`,
    );
  }
  const labels = { ...(img.Labels ?? {}), ...(req.Labels ?? {}) };
  const exposed = {
    ...((img.ExposedPorts as Record<string, Record<string, never>> | null | undefined) ?? {}),
    ...(req.ExposedPorts ?? {}),
  };
  const volumes = {
    ...((img.Volumes as Record<string, Record<string, never>> | null | undefined) ?? {}),
    ...(req.Volumes ?? {}),
  };

  checkHealthcheck(req.Healthcheck);
  const healthcheck = mergeHealthcheck(req.Healthcheck, img.Healthcheck as HealthConfig | undefined);
  checkHealthcheck(healthcheck);
  const config: ContainerConfig = {
    Hostname: req.Hostname ?? '',
    Domainname: req.Domainname ?? '',
    User: req.User || img.User || '',
    AttachStdin: req.AttachStdin ?? false,
    AttachStdout: req.AttachStdout ?? false,
    AttachStderr: req.AttachStderr ?? false,
    ExposedPorts: Object.keys(exposed).length > 0 ? exposed : null,
    Tty: req.Tty ?? false,
    OpenStdin: req.OpenStdin ?? false,
    StdinOnce: req.StdinOnce ?? false,
    Env: env,
    Cmd: cmd.length > 0 ? cmd : null,
    Image: req.Image ?? imageRef,
    Volumes: Object.keys(volumes).length > 0 ? volumes : null,
    WorkingDir: workingDir,
    Entrypoint: entrypoint.length > 0 ? entrypoint : null,
    Labels: labels,
    ...(healthcheck !== undefined ? { Healthcheck: healthcheck } : {}),
    ...(req.StopSignal || img.StopSignal ? { StopSignal: req.StopSignal || img.StopSignal } : {}),
    ...(req.StopTimeout !== undefined && req.StopTimeout !== null ? { StopTimeout: req.StopTimeout } : {}),
  };
  return { config, path: argv[0]!, args: argv.slice(1) };
}
