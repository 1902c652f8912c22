// What the container jobs do, in one place: create a container from an image and
// a request, start it (rw layer mounted, user resolved, spec built, process
// created with its interface allocated while it waits, IO connected, ports
// published), watch each running process and handle its exit (interface, cgroup
// OOM counter, exit code 128+signal, restart policy with Docker's back-off,
// AutoRemove), stop, kill, wait and remove it, recover after a crash and stop
// everything at shutdown. State changes of one container run under its lock in
// the store; every undo runs on a detached context, so a cancelled caller never
// leaves half a container behind.
import { constants as osConstants } from 'node:os';
import { chmod, chown, lstat, mkdir, readdir, stat } from 'node:fs/promises';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, relative, sep } from 'node:path';
import {
  checkIdmappedBinds,
  refuseIdmappedBinds,
  remapSpec,
  shiftOwners,
  type UsernsRemap,
} from '../container/userns-remap.js';
import { native } from '../../native/index.js';
import type { Spec } from '../execdriver/spec/types.js';
import type {
  ContainerConfig,
  ContainerCreateRequest,
  PortBinding,
  ContainerCreateResponse,
  ContainerWaitResponse,
  HostConfig,
  WaitCondition,
} from '../api/types.js';
import { ContainerIO } from '../container/container-io.js';
import { mergeConfig } from '../container/merge-config.js';
import {
  newRunState,
  rfc3339Nano,
  UNKNOWN_EXIT_CODE,
  type ContainerEndpoint,
  type ContainerRecord,
} from '../container/record.js';
import { checkRestartPolicy, nextBackoff, restartsWithEngine, shouldRestart } from '../container/restart-policy.js';
import { probeCommand, startingHealth } from '../container/health.js';
import { linkEnv, linkHostNames, parseLink, storedLink, type LinkSpec } from '../container/links.js';
import { resolveInRoot } from '../container/secure-path.js';
import { buildSpec, hostnameOf, parseBind } from '../container/spec-builder.js';
import type { ContainerStore } from '../container/store.js';
import { checkUnsupported } from '../container/unsupported-fields.js';
import { lentMounts, parseVolumesFrom, resolveVolumes, volumeUses } from '../container/volume-mounts.js';
import { validateVolumeName, type VolumeStore } from '../container/volume-store.js';
import { resolveUser } from '../container/user.js';
import {
  BerthError,
  conflict,
  ErrorCode,
  failedPrecondition,
  invalidArgument,
  isBerthError,
  notFound,
  wrap,
} from '../errdefs/errors.js';
import type { CgroupManager } from '../execdriver/cgroups/types.js';
import { runChecked } from '../fsutil/run-command.js';
import type { ContainerProcess, ExecDriver, ExitStatus } from '../execdriver/execdriver.js';
import { validateSpec } from '../execdriver/spec/validate.js';
import { initBinary } from '../execdriver/workload-rootfs.js';
import type { Graph } from '../graph/graph.js';
import type { NetworkDriver } from '../networkdriver/driver.js';
import { validateEtcRequest, type EtcRequest } from '../networkdriver/etc-files.js';
import { parseNetworkMode } from '../networkdriver/network-mode.js';
import { parsePortRequest } from '../networkdriver/port-spec.js';
import { mountFs, MNT_DETACH, unmount } from '../graphdriver/host-mount.js';
import { detached, runDetached, throwIfCancelled, withSpan, type Context } from '../trace/context.js';
import { traced, type Span } from '../trace/span.js';
import { pausePoint } from '../trace/pause-point.js';
import type { EventBus } from './event-bus.js';

const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;

/** Seconds between the stop signal and SIGKILL when neither the request nor the container says. */
export const DEFAULT_STOP_TIMEOUT = 10;
/** How long an undo or exit handling may take before it gives up (it logs and leaves the rest to recovery). */
const CLEANUP_TIMEOUT_MS = 60_000;

export interface RuntimeDeps {
  store: ContainerStore;
  graph: Graph;
  exec: ExecDriver;
  net: NetworkDriver;
  /** The cgroup manager the execdriver uses (for the OOM counter and stale cgroups); null: none. */
  cgroups: CgroupManager | null;
  /** Every container's cgroup is `<cgroupParent>/<id>`. */
  cgroupParent: string;
  events: EventBus;
  /** Named volumes (`-v name:/path`, `--mount type=volume`, VOLUME of images). */
  volumes: VolumeStore;
  /** The graphdriver's name, for inspect. */
  driverName: string;
  /** The root context's logger for background work (exit handling, restarts). */
  baseCtx: Context;
  /** --userns-remap: containers run in a user namespace; idmap: rootfs as an idmapped mount; root: the data root. */
  userns?: { remap: UsernsRemap; idmap: boolean; root: string };
}

interface Waiter {
  condition: WaitCondition;
  resolve(r: ContainerWaitResponse): void;
}

interface Live {
  /** Resolves once the exit of the current process has been handled. */
  exited: Promise<void>;
  startedMs: number;
}

/** A signal given as `SIGTERM`, `TERM`, `term` or `15`, as its number. INVALID_ARGUMENT otherwise. */
export function parseSignal(signal: string | number, subject: string): number {
  if (typeof signal === 'number' || /^\d+$/.test(signal)) {
    const n = Number(signal);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw invalidArgument(`${subject}: invalid signal ${signal}`);
    return n;
  }
  const upper = signal.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const n = (osConstants.signals as Record<string, number>)[name];
  if (n === undefined) throw invalidArgument(`${subject}: unknown signal ${JSON.stringify(signal)}`);
  return n;
}

/** Docker's exit code of a status: the code, or 128 + the signal's number. */
export function exitCodeOf(status: ExitStatus): number {
  if (status.exitCode !== undefined) return status.exitCode;
  const n =
    typeof status.signal === 'number'
      ? status.signal
      : ((osConstants.signals as Record<string, number>)[status.signal] ?? 0);
  return 128 + n;
}

export class ContainerRuntime {
  private readonly live = new Map<string, Live>();
  private readonly ios = new Map<string, ContainerIO>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly restartTimers = new Map<string, { timer: NodeJS.Timeout; backoffMs: number }>();
  private readonly backoff = new Map<string, number>();
  private shuttingDown = false;

  constructor(private readonly d: RuntimeDeps) {}

  private readonly opening = new Map<string, Promise<ContainerIO>>();

  /**
   * The IO hub of a container (its log, attached clients), opened on first use and
   * kept until the container is removed: an attach before the first start finds it.
   */
  async ioFor(ctx: Context, ref: string): Promise<ContainerIO> {
    const rec = this.d.store.get(ref);
    const open = this.ios.get(rec.id);
    if (open !== undefined) return open;
    let pending = this.opening.get(rec.id);
    if (pending === undefined) {
      const log = rec.hostConfig.LogConfig?.Config ?? {};
      pending = ContainerIO.open(ctx, {
        logPath: rec.logPath,
        tty: rec.config.Tty ?? false,
        openStdin: rec.config.OpenStdin ?? false,
        stdinOnce: rec.config.StdinOnce ?? false,
        ...(log['max-size'] ? { maxSize: parseSize(log['max-size'], 'log-opt max-size') } : {}),
        ...(log['max-file'] ? { maxFile: Number(log['max-file']) } : {}),
      }).then(
        (io) => {
          this.opening.delete(rec.id);
          this.ios.set(rec.id, io);
          return io;
        },
        (err: unknown) => {
          this.opening.delete(rec.id);
          throw err;
        },
      );
      this.opening.set(rec.id, pending);
    }
    return pending;
  }

  // ---- create ------------------------------------------------------------------

  async create(ctx: Context, name: string | undefined, req: ContainerCreateRequest): Promise<ContainerCreateResponse> {
    if (req === null || typeof req !== 'object')
      throw invalidArgument('container create: the body must be a JSON object');
    if (typeof req.Image !== 'string' || req.Image === '') throw invalidArgument('container create: Image is required');
    const image = await this.d.graph.getImage(ctx, req.Image).catch((err: unknown) => {
      if (isBerthError(err, 'NOT_FOUND')) throw notFound(`No such image: ${req.Image}`, { cause: err });
      throw err;
    });
    const merged = mergeConfig(req, image.config.config, req.Image);
    const hostConfig = normalizeHostConfig(req.HostConfig ?? {});
    const warnings: string[] = checkUnsupported({ ...req }, { ...(req.HostConfig ?? {}) });
    // Docker's NetworkDisabled: the container gets no network but its loopback
    if (req.NetworkDisabled) hostConfig.NetworkMode = 'none';
    const anonymous = this.checkVolumes(hostConfig, merged.config);
    this.checkNetwork(ctx, hostConfig, merged.config, warnings);
    const links = this.checkLinks(hostConfig);
    for (const field of ['PidMode', 'IpcMode'] as const) {
      const mode = hostConfig[field];
      if (mode?.startsWith('container:'))
        hostConfig[field] = `container:${this.d.store.get(mode.slice('container:'.length)).id}`;
    }
    if (hostConfig.IpcMode?.startsWith('container:')) this.ipcDonor(hostConfig.IpcMode, 'create');
    const store = this.d.store;
    const id = store.newId();
    // the whole spec is built once with placeholders so bad input fails before anything is made
    const draft = buildSpec({
      id,
      config: merged.config,
      hostConfig: this.effectiveHostConfig(hostConfig),
      path: merged.path,
      args: merged.args,
      rootfs: '/',
      user: { uid: 0, gid: 0, additionalGids: [], home: '/' },
      netnsPath: '/proc/self/ns/net',
      pidnsPath: '/proc/self/ns/pid',
      ipcnsPath: '/proc/self/ns/ipc',
      initPath: '/',
    });
    if (this.d.userns === undefined) refuseIdmappedBinds(draft);
    for (const m of hostConfig.Mounts ?? []) {
      if (
        m.Type === 'bind' &&
        !(await stat(m.Source!).then(
          () => true,
          () => false,
        ))
      )
        throw invalidArgument(`invalid mount config for type "bind": bind source path does not exist: ${m.Source}`);
    }
    const bare = store.reserveName(name, id);
    if (links.length > 0) hostConfig.Links = links.map((l) => storedLink(l.target, bare, l.alias));
    const undo = new Undo(ctx, `container ${id}: create`);
    undo.push(async () => store.releaseName(bare, id));
    try {
      await this.d.graph.createContainerLayer(ctx, id, image.id);
      undo.push((c) => this.d.graph.removeContainerLayer(c, id));
      for (const use of volumeUses(hostConfig)) {
        const known = this.d.volumes.find(use.name) !== undefined;
        const vol = await this.d.volumes.create(ctx, { name: use.name, anonymous: anonymous.has(use.name) });
        if (known) continue;
        this.d.events.publish('volume', 'create', vol.name, {});
        if (vol.anonymous) undo.push((c) => this.d.volumes.remove(c, vol.name));
      }
      const record: ContainerRecord = {
        id,
        name: bare,
        created: rfc3339Nano(),
        image: req.Image,
        imageId: image.id,
        config: merged.config,
        hostConfig,
        path: merged.path,
        args: merged.args,
        spec: { ociVersion: '1.0.2' },
        driver: this.d.driverName,
        state: newRunState(),
        restartCount: 0,
        logPath: join(store.containerDir(id), `${id}-json.log`),
      };
      throwIfCancelled(ctx, `container ${id}: create`);
      await store.add(ctx, record);
    } catch (err) {
      await undo.run();
      throw err;
    }
    this.d.events.publish('container', 'create', id, { name: bare, image: req.Image });
    return { Id: id, Warnings: warnings };
  }

  private checkNetwork(ctx: Context, hc: HostConfig, config: ContainerConfig, warnings: string[]): void {
    const mode = hc.NetworkMode!;
    validateEtcRequest(etcRequestOf(config, hc));
    if (mode.startsWith('container:')) {
      const other = this.d.store.get(mode.slice('container:'.length));
      hc.NetworkMode = `container:${other.id}`;
      // Docker's rules: the other container's name, resolver and hosts are shared, so none can be set here
      if (config.Hostname) throw invalidArgument('conflicting options: Hostname and the network mode container:<id>');
      if (hc.Dns?.length || hc.DnsSearch?.length || hc.DnsOptions?.length)
        throw invalidArgument('conflicting options: Dns, DnsSearch or DnsOptions and the network mode container:<id>');
      if (hc.ExtraHosts?.length)
        throw invalidArgument('conflicting options: ExtraHosts and the network mode container:<id>');
    } else {
      const parsed = parseNetworkMode(mode);
      if (parsed.kind === 'network') this.d.net.inspectNetwork(ctx, parsed.name);
    }
    const bindings = bindingsOf(config, hc).filter(([, b]) => b.length > 0);
    for (const [port, list] of bindings) for (const b of list) portSpecOf(port, b.HostIp, b.HostPort);
    if (bindings.length > 0) {
      // Docker's rules: discarded with the host's network (a warning), refused with another container's
      if (mode === 'host') warnings.push('Published ports are discarded when using host network mode');
      else if (mode === 'none' || mode.startsWith('container:'))
        throw invalidArgument(`conflicting options: port publishing and the network mode ${mode}`);
    }
  }

  /**
   * The container an IpcMode `container:<id>` joins; it must be shareable (IpcMode
   * shareable or host), as Docker requires. At start it must also run.
   */
  private ipcDonor(mode: string, when: 'create' | 'start'): ContainerRecord {
    const donor = this.d.store.get(mode.slice('container:'.length));
    const donorMode = donor.hostConfig.IpcMode;
    if (donorMode !== 'shareable' && donorMode !== 'host')
      throw invalidArgument(
        `IpcMode container:${donor.id.slice(0, 12)}: non-shareable IPC (hint: use IpcMode shareable for the donor container)`,
      );
    if (when === 'start' && donor.state.status !== 'running')
      throw failedPrecondition(`IpcMode container:${donor.id.slice(0, 12)}: the container is not running`);
    return donor;
  }

  /** Where a shareable container's /dev/shm lives on the host: `<container dir>/mounts/shm` (Docker's layout). */
  shmDir(id: string): string {
    return join(this.d.store.containerDir(id), 'mounts', 'shm');
  }

  /**
   * The host directory to bind at the container's /dev/shm, or undefined for its
   * own tmpfs (private) or none. Shareable: a tmpfs mounted now on the host side
   * (ShmSize or 64 MiB), unmounted by `undo` on a failed start and at exit; joined:
   * the donor's; host: the host's /dev/shm.
   */
  private async prepareShm(rec: ContainerRecord, undo: Undo): Promise<string | undefined> {
    const mode = rec.hostConfig.IpcMode;
    if (mode === 'host') return '/dev/shm';
    if (mode?.startsWith('container:')) {
      const donor = this.ipcDonor(mode, 'start');
      return donor.hostConfig.IpcMode === 'host' ? '/dev/shm' : this.shmDir(donor.id);
    }
    if (mode !== 'shareable') return undefined;
    const dir = this.shmDir(rec.id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    unmount(`container ${rec.id}: shm`, dir, MNT_DETACH);
    const size = rec.hostConfig.ShmSize && rec.hostConfig.ShmSize > 0 ? rec.hostConfig.ShmSize : 64 * 1024 * 1024;
    mountFs(
      `container ${rec.id}: shm`,
      'shm',
      dir,
      'tmpfs',
      MS_NOSUID | MS_NODEV | MS_NOEXEC,
      `mode=1777,size=${size}`,
    );
    undo.push(async () => unmount(`container ${rec.id}: shm`, dir, MNT_DETACH));
    return dir;
  }

  /**
   * Checks HostConfig.Links: each `name[:alias]` names an existing container, and
   * the container joins the default bridge (legacy links exist only there, as in
   * Docker). Returns the links with the targets' names. INVALID_ARGUMENT or NOT_FOUND.
   */
  private checkLinks(hc: HostConfig): LinkSpec[] {
    if (hc.Links === undefined || hc.Links === null || hc.Links.length === 0) return [];
    if (!Array.isArray(hc.Links)) throw invalidArgument('Links: expected a list of name:alias');
    if (hc.NetworkMode !== 'bridge')
      throw invalidArgument(
        `Links: legacy links work on the default bridge network only, not with the network mode ${hc.NetworkMode}`,
      );
    return hc.Links.map((entry) => {
      const link = parseLink(entry);
      const target = this.d.store.find(link.target);
      if (target === undefined) throw notFound(`Links ${JSON.stringify(entry)}: No such container: ${link.target}`);
      return { target: target.name, alias: link.alias };
    });
  }

  /**
   * What the links of `rec` give its next start: the environment (its own Env
   * winning) and the hosts lines. FAILED_PRECONDITION when a linked container is
   * not running on the default bridge (Docker's "Cannot link to a non running container").
   */
  private linksAtStart(rec: ContainerRecord): { env: string[]; hosts: { ip: string; names: string[] }[] } {
    const env: string[] = [];
    const hosts: { ip: string; names: string[] }[] = [];
    for (const entry of rec.hostConfig.Links ?? []) {
      const { target, alias } = parseLink(entry);
      const other = this.d.store.find(target);
      const ip = other?.state.status === 'running' ? other.endpoint?.address : undefined;
      if (other === undefined || ip === undefined || other.endpoint?.network?.name !== 'bridge')
        throw failedPrecondition(`Cannot link to a non running container: /${target} AS /${rec.name}/${alias}`);
      const child = {
        name: other.name,
        hostname: hostnameOf(other.id, other.config, other.hostConfig),
        ip,
        ports: Object.keys(other.config.ExposedPorts ?? {}),
        env: other.config.Env ?? [],
      };
      env.push(...linkEnv(rec.name, alias, child));
      hosts.push({ ip, names: linkHostNames(alias, child) });
    }
    return { env, hosts };
  }

  /**
   * Checks the volumes a create asks for and completes the HostConfig: volume names
   * valid, VolumesFrom containers resolved to their ids, an anonymous volume named
   * for each `--mount type=volume` without a source and each path of Config.Volumes
   * (the image's VOLUME) that no bind, mount or tmpfs covers, as Docker does.
   */
  private checkVolumes(hc: HostConfig, config: ContainerConfig): Set<string> {
    const anonymous = new Set<string>();
    const anon = () => {
      const name = anonymousVolumeName();
      anonymous.add(name);
      return name;
    };
    if (hc.VolumeDriver && hc.VolumeDriver !== 'local')
      throw invalidArgument(`VolumeDriver ${JSON.stringify(hc.VolumeDriver)}: only the local driver is supported`);
    hc.VolumesFrom = (hc.VolumesFrom ?? []).map((entry) => {
      const { container, mode } = parseVolumesFrom(entry);
      return `${this.d.store.get(container).id}${mode ? `:${mode}` : ''}`;
    });
    hc.Mounts = (hc.Mounts ?? []).map((m) => (m.Type === 'volume' && !m.Source ? { ...m, Source: anon() } : m));
    const covered = new Set([
      ...(hc.Binds ?? []).map((b) => b.split(':')[1]),
      ...hc.Mounts.map((m) => m.Target),
      ...Object.keys(hc.Tmpfs ?? {}),
    ]);
    for (const path of Object.keys(config.Volumes ?? {})) {
      if (!path.startsWith('/')) throw invalidArgument(`Volumes ${JSON.stringify(path)}: the path must be absolute`);
      if (!covered.has(path)) hc.Mounts.push({ Type: 'volume', Source: anon(), Target: path });
    }
    for (const use of volumeUses(hc)) validateVolumeName(use.name);
    return anonymous;
  }

  /** hc as the spec sees it: VolumesFrom's binds and volumes added, every volume a bind of its directory. */
  private effectiveHostConfig(hc: HostConfig): HostConfig {
    const binds = [...(hc.Binds ?? [])];
    const mounts = [...(hc.Mounts ?? [])];
    for (const entry of hc.VolumesFrom ?? []) {
      const { container, mode } = parseVolumesFrom(entry);
      const other = this.d.store.find(container);
      if (other === undefined) throw failedPrecondition(`VolumesFrom ${container.slice(0, 12)}: the container is gone`);
      const lent = lentMounts(other.hostConfig, mode);
      binds.push(...lent.binds);
      mounts.push(...lent.mounts);
    }
    return resolveVolumes({ ...hc, Binds: binds, Mounts: mounts }, (name) => this.d.volumes.mountpoint(name));
  }

  /** The containers (any state) whose Binds, Mounts or VolumesFrom use volume `name`. */
  containersUsing(name: string): string[] {
    const direct = (hc: HostConfig) => volumeUses(hc).some((u) => u.name === name);
    return this.d.store
      .list()
      .filter(
        (r) =>
          direct(r.hostConfig) ||
          (r.hostConfig.VolumesFrom ?? []).some((e) => {
            const other = this.d.store.find(parseVolumesFrom(e).container);
            return other !== undefined && direct(other.hostConfig);
          }),
      )
      .map((r) => r.id);
  }

  /**
   * Copies the image's content at each volume's path into the volume when the
   * volume is empty (a new one), as Docker does, unless nocopy. Ownership, modes
   * and times are kept (cp -a).
   */
  private async populateVolumes(rootfs: string, hc: HostConfig): Promise<void> {
    for (const use of volumeUses(hc)) {
      if (use.noCopy) continue;
      const dest = this.d.volumes.mountpoint(use.name);
      if ((await readdir(dest).catch(() => ['?'])).length > 0) continue;
      const src = await resolveInRoot(rootfs, use.target).catch(() => undefined);
      if (
        src === undefined ||
        !(await stat(src).then(
          (st) => st.isDirectory(),
          () => false,
        ))
      )
        continue;
      if ((await readdir(src)).length === 0) continue;
      await runChecked('cp', ['-a', '--', `${src}/.`, `${dest}/`]).catch((err: unknown) => {
        throw wrap(err, `volume ${use.name}: copy the image's ${use.target}`);
      });
      // Through an idmapped rootfs the image's files carry the container's ids; in a volume they are stored remapped
      // (layers stored shifted are remapped already).
      if (this.d.userns?.idmap === true) await shiftOwners(dest, this.d.userns.remap);
    }
  }

  // ---- start -------------------------------------------------------------------

  /** Starts a created or exited container; `changed` false when it was running. */
  async start(ctx: Context, ref: string): Promise<{ changed: boolean }> {
    const rec = this.d.store.get(ref);
    return this.d.store.locked(rec.id, async () => {
      this.mustExist(rec);
      if (rec.state.status === 'running') return { changed: false };
      if (rec.state.status === 'removing' || rec.state.status === 'dead')
        throw conflict(`container ${rec.id}: cannot start a container marked for removal`);
      this.cancelRestart(rec.id);
      rec.state.manuallyStopped = false;
      try {
        await this.startLocked(ctx, rec);
      } catch (err) {
        // Docker removes an AutoRemove container whose start failed (a `wait removed` then ends)
        if (rec.hostConfig.AutoRemove) {
          rec.state.status = 'removing';
          await runDetached(ctx, CLEANUP_TIMEOUT_MS, (c) => this.removeLocked(c, rec)).catch((e: unknown) =>
            ctx.logger.warn(`container ${rec.id}: auto-remove after a failed start`, { error: String(e) }),
          );
        }
        throw err;
      }
      return { changed: true };
    });
  }

  /**
   * What a remapped container needs before it is created: its spec in a new user namespace, its rootfs over idmapped
   * layers (overlay2) or marked to be idmapped whole (other drivers) unless layers are stored shifted, its etc files
   * owned by its root, the rootfs's top directory too where layers are stored shifted, and search permission for its
   * root group on the folders of the data root its mounts are reached through (dockerd's 0710 with the remapped group).
   * A folder above the data root that others cannot search is refused, naming it.
   */
  private async remapStart(
    ctx: Context,
    id: string,
    spec: Spec,
    rootfs: string,
    dir: string,
    etcFiles: string[],
    shmPath: string | undefined,
  ): Promise<void> {
    const subject = `container ${id}`;
    const { remap, idmap, root } = this.d.userns!;
    // overlay2: the rootfs is remounted over idmapped layers here, after the last write berthd makes in it (those went
    // through the plain mount, with the container's ids); other drivers' rootfs is idmapped whole by the execdriver.
    const layered = idmap && (await this.d.graph.layers.idmapRW(ctx, id, remap));
    remapSpec(spec, remap, idmap && !layered, subject);
    // BERTH_USERNS_IDMAP=off (tests) makes no idmapped mount at all: a bind asked for as one is refused.
    const idmapOff = process.env.BERTH_USERNS_IDMAP === 'off';
    checkIdmappedBinds(
      spec,
      (source) => !idmapOff && native().idmapProbe(source) === null,
      idmapOff ? ' (BERTH_USERNS_IDMAP=off)' : '',
    );
    const uid = remap.uid.hostID;
    const gid = remap.gid.hostID;
    for (const f of etcFiles) await chown(f, uid, gid);
    if (!idmap) {
      const st = await stat(rootfs);
      if (st.uid !== uid || st.gid !== gid) await chown(rootfs, uid, gid);
    }
    for (let d = dirname(root); ; d = dirname(d)) {
      const st = await stat(d);
      if ((st.mode & 0o001) === 0) {
        throw failedPrecondition(
          `${subject}: ${d} (above the data root) is not searchable by others (mode ${(st.mode & 0o7777).toString(8)}):` +
            ' the remapped root cannot reach its rootfs and files',
        );
      }
      if (d === dirname(d)) break;
    }
    const targets = [dir, dirname(rootfs), ...(shmPath !== undefined ? [dirname(shmPath)] : [])];
    for (const target of targets) {
      const rel = relative(root, target);
      if (rel.startsWith('..')) continue;
      let d = root;
      for (const part of ['', ...(rel === '' ? [] : rel.split(sep))]) {
        d = join(d, part);
        const st = await lstat(d);
        if (!st.isDirectory() || (st.mode & 0o001) !== 0) continue;
        if (st.gid !== gid) await chown(d, st.uid, gid);
        if ((st.mode & 0o010) === 0) await chmod(d, (st.mode & 0o7777) | 0o010);
      }
    }
  }

  private mustExist(rec: ContainerRecord): void {
    if (this.d.store.find(rec.id) !== rec) throw notFound(`No such container: ${rec.id}`);
  }

  /** Runs one start of `rec` (its lock held); on failure everything it made is undone and the error recorded. */
  private async startLocked(ctx: Context, rec: ContainerRecord): Promise<void> {
    const { id } = rec;
    const subject = `container ${id}`;
    const undo = new Undo(ctx, `${subject}: start`);
    const dir = this.d.store.containerDir(id);
    try {
      // The rootfs mounted detached where the driver can (overlay2): only the container's own mount namespace ever
      // holds it, so berthd's mount table, which every container's clone copies, stays the same size however many
      // run. berthd reaches it through its fd (`access`) until then. A remapped container's layer is remounted over
      // idmapped layers on the host (remapStart), so it takes the host mount.
      const detachedRoot = this.d.userns === undefined ? await this.d.graph.layers.mountRWDetached(ctx, id) : undefined;
      const rootfs = detachedRoot?.target ?? (await this.d.graph.layers.mountRW(ctx, id));
      undo.push((c) => this.d.graph.layers.unmountRW(c, id));
      const access = detachedRoot?.path ?? rootfs;
      const user = await resolveUser(access, rec.config.User ?? '', rec.hostConfig.GroupAdd ?? []).catch(
        (err: unknown) => {
          throw wrap(err, subject);
        },
      );
      // Stored ids: the container's own through an idmapped mount, shifted into the ranges otherwise.
      const shift = this.d.userns !== undefined && !this.d.userns.idmap ? this.d.userns.remap : undefined;
      await ensureWorkingDir(
        access,
        rec.config.WorkingDir || '/',
        user.uid + (shift?.uid.hostID ?? 0),
        user.gid + (shift?.gid.hostID ?? 0),
      );
      await this.populateVolumes(access, rec.hostConfig);
      const hostConfig = this.effectiveHostConfig(rec.hostConfig);
      // a missing bind source is made a directory (as Docker does); an existing file is bound as it is
      for (const b of hostConfig.Binds ?? []) {
        const source = parseBind(b).source;
        if ((await stat(source).catch(() => undefined)) === undefined) await mkdir(source, { recursive: true });
      }
      const mode = rec.hostConfig.NetworkMode!;
      let netnsPath: string | undefined;
      let config = rec.config;
      // with another container's network its etc files are shared (as Docker does), else this one's own
      let etcDir = dir;
      if (mode.startsWith('container:')) {
        const other = this.d.store.find(mode.slice('container:'.length));
        if (other === undefined || other.state.status !== 'running')
          throw failedPrecondition(`${subject}: network container ${mode.slice(10, 22)} is not running`);
        netnsPath = `/proc/${other.state.pid}/ns/net`;
        etcDir = this.d.store.containerDir(other.id);
        config = {
          ...config,
          Hostname: hostnameOf(other.id, other.config, other.hostConfig),
          Domainname: other.config.Domainname ?? '',
        };
      }
      const joined = (field: 'PidMode' | 'IpcMode', ns: string): string | undefined => {
        const m = rec.hostConfig[field];
        if (!m?.startsWith('container:')) return undefined;
        const other = this.d.store.find(m.slice('container:'.length));
        if (other === undefined || other.state.status !== 'running')
          throw failedPrecondition(`${subject}: ${field} container ${m.slice(10, 22)} is not running`);
        return `/proc/${other.state.pid}/ns/${ns}`;
      };
      const pidnsPath = joined('PidMode', 'pid');
      const ipcnsPath = joined('IpcMode', 'ipc');
      const shmPath = await this.prepareShm(rec, undo);
      const links = this.linksAtStart(rec);
      if (links.env.length > 0) {
        const own = new Set((config.Env ?? []).map((e) => e.split('=', 1)[0]));
        config = { ...config, Env: [...links.env.filter((e) => !own.has(e.split('=', 1)[0])), ...(config.Env ?? [])] };
      }
      const etcFiles = etcPaths(etcDir);
      // made empty where missing (the networkdriver rewrites them in place): two syscalls each, not thread-pool trips
      for (const f of Object.values(etcFiles)) closeSync(openSync(f, 'a'));
      const spec = buildSpec({
        id,
        config,
        hostConfig,
        path: rec.path,
        args: rec.args,
        rootfs,
        user,
        etcFiles,
        ...(netnsPath ? { netnsPath } : {}),
        ...(pidnsPath ? { pidnsPath } : {}),
        ...(ipcnsPath ? { ipcnsPath } : {}),
        ...(shmPath ? { shmPath } : {}),
        ...(rec.hostConfig.Init ? { initPath: initBinary() } : {}),
      });
      if (this.d.userns !== undefined) {
        await this.remapStart(ctx, id, spec, rootfs, dir, etcDir === dir ? Object.values(etcFiles) : [], shmPath);
      }
      rec.spec = validateSpec(spec, dir, { owned: true });

      const io = await this.ioFor(ctx, id);

      let allocated = false;
      undo.push(async (c) => {
        if (allocated) await this.d.net.releaseInterface(c, id);
      });
      const hostname = hostnameOf(id, config, rec.hostConfig);
      const proc: ContainerProcess = await this.d.exec.create(
        ctx,
        id,
        { dir, spec: rec.spec },
        {
          stdio: io.stdio(),
          ...(detachedRoot !== undefined ? { rootfsMount: detachedRoot.fd } : {}),
          beforeSetup: async (c, pid) => {
            allocated = true;
            const a = await this.d.net.allocateInterface(c, {
              containerId: id,
              network: mode,
              netns: netnsPath !== undefined ? { path: netnsPath } : { pid },
              // the execdriver's child brings lo up in the namespace its clone makes
              ...(netnsPath === undefined ? { loopbackUp: true } : {}),
              hostname,
              ...(etcDir === dir
                ? {
                    etcDir: dir,
                    etc: {
                      ...etcRequestOf(rec.config, rec.hostConfig),
                      ...(links.hosts.length > 0 ? { links: links.hosts } : {}),
                    },
                  }
                : {}),
            });
            // the networkdriver rewrites the etc files in place: they keep the owner remapStart gave them
            rec.endpoint = {
              mode: a.mode,
              ports: [],
              ...(a.network ? { network: a.network } : {}),
              ...(a.address ? { address: a.address, prefix: a.prefix!, gateway: a.gateway!, mac: a.mac! } : {}),
            } satisfies ContainerEndpoint;
            // A crash test may stop here: cgroup, namespaces and veth made, nothing exec'd (trace/pause-point.ts).
            await pausePoint('container-start');
          },
        },
      );
      undo.push((c) => this.d.exec.delete(c, id));
      io.connect(proc);
      for (const [port, bindings] of rec.endpoint?.address !== undefined
        ? bindingsOf(rec.config, rec.hostConfig)
        : []) {
        for (const b of bindings) {
          const p = await this.d.net.allocatePort(ctx, id, portSpecOf(port, b.HostIp, b.HostPort));
          rec.endpoint!.ports.push(`${p.hostIp}:${p.hostPort}:${p.containerPort}/${p.proto}`);
        }
      }
      await this.d.exec.start(ctx, id).catch((err: unknown) => {
        throw startError(err, subject, rec.path);
      });
      const startedMs = Date.now();
      const live: Live = { exited: Promise.resolve(), startedMs };
      this.live.set(id, live);
      rec.state = {
        ...rec.state,
        status: 'running',
        pid: proc.pid,
        pidStartTime: pidStartTime(proc.pid),
        exitCode: 0,
        oomKilled: false,
        error: '',
        startedAt: rfc3339Nano(new Date(startedMs)),
      };
      delete rec.state.exitUnknown;
      if (probeCommand(rec.config.Healthcheck) !== undefined) rec.state.health = startingHealth(rec.state.health);
      live.exited = this.watch(rec, ctx.span);
      await this.d.store.save(detached(ctx), rec);
      this.d.events.publish('container', 'start', id, { name: rec.name, image: rec.image });
    } catch (err) {
      this.live.delete(id);
      await undo.run();
      rec.state.error = err instanceof Error ? err.message : String(err);
      rec.state.pid = 0;
      if (isBerthError(err) && typeof err.details?.exitCode === 'number') rec.state.exitCode = err.details.exitCode;
      else if (rec.state.status !== 'exited') rec.state.exitCode = 128;
      if (rec.state.status === 'running' || rec.state.status === 'restarting') rec.state.status = 'exited';
      delete rec.endpoint;
      await this.d.store
        .save(detached(ctx), rec)
        .catch((e: unknown) => ctx.logger.warn(`${subject}: record the failed start`, { error: String(e) }));
      throw err;
    }
  }

  /**
   * Waits for the process to exit in the background and handles the exit, as a
   * span `container.exit` under the span of the start that ran the process (so a
   * traced run shows its exit handling too).
   */
  private watch(rec: ContainerRecord, startSpan: Span | undefined): Promise<void> {
    const ctx = withSpan(this.d.baseCtx, startSpan);
    const handle = (status: ExitStatus) =>
      this.d.store.locked(rec.id, () =>
        traced(ctx, 'container', 'exit', (c) => this.handleExit(c, rec, status), { container: rec.id }),
      );
    return this.d.exec.wait(ctx, rec.id).then(handle, (err: unknown) => {
      ctx.logger.error(`container ${rec.id}: waiting for its process failed`, {
        error: err instanceof Error ? err.message : String(err),
      });
      return handle({ exitCode: UNKNOWN_EXIT_CODE });
    });
  }

  /**
   * Records the exit and answers the waiters first, then tears down what the run
   * held (interface, process, rootfs mount, shm) while still holding the container's
   * lock, so a delete or start that follows waits for the teardown. A crash between
   * the two leaves a record that says exited and leftovers that the next start's
   * recovery removes (mounts under the graphdriver's home, stale cgroups, endpoints).
   */
  private handleExit(parent: Context, rec: ContainerRecord, status: ExitStatus): Promise<void> {
    return runDetached(parent, CLEANUP_TIMEOUT_MS, (ctx) => this.recordExit(ctx, rec, status));
  }

  /** handleExit's work, on its detached context. */
  private async recordExit(ctx: Context, rec: ContainerRecord, status: ExitStatus): Promise<void> {
    const { id } = rec;
    const subject = `container ${id}`;
    const warn = (what: string) => (err: unknown) =>
      ctx.logger.warn(`${subject}: ${what}`, { error: err instanceof Error ? err.message : String(err) });
    const live = this.live.get(id);
    this.live.delete(id);
    const exitCode = exitCodeOf(status);
    // the OOM counter is read while the output drains
    const [oomKilled] = await Promise.all([
      this.oomKilled(ctx, id).catch(() => false),
      this.ios.get(id)?.drained().catch(warn('drain output')),
    ]);
    const ranMs = live === undefined ? 0 : Date.now() - live.startedMs;
    rec.state = { ...rec.state, status: 'exited', pid: 0, exitCode, oomKilled, finishedAt: rfc3339Nano() };
    delete rec.state.pidStartTime;
    delete rec.endpoint;
    const removed = this.d.store.find(id) !== rec;
    const restart =
      !removed &&
      !this.shuttingDown &&
      shouldRestart(rec.hostConfig, exitCode, rec.restartCount, rec.state.manuallyStopped);
    if (restart) rec.state.status = 'restarting';
    if (!removed) await this.d.store.save(ctx, rec).catch(warn('record its exit'));
    this.d.events.publish('container', 'die', id, { name: rec.name, image: rec.image, exitCode: String(exitCode) });
    if (oomKilled) this.d.events.publish('container', 'oom', id, { name: rec.name, image: rec.image });
    this.wake(id, ['not-running', 'next-exit'], { StatusCode: exitCode, Error: null });
    // the process was pid 1 of its own network namespace: the namespace died with it
    const ownNetns = rec.hostConfig.NetworkMode !== 'host' && !rec.hostConfig.NetworkMode!.startsWith('container:');
    await this.d.net.releaseInterface(ctx, id, { netnsGone: ownNetns }).catch(warn('release its interface'));
    await this.d.exec.delete(ctx, id).catch((err: unknown) => {
      if (!isBerthError(err, 'NOT_FOUND')) warn('delete its process')(err);
    });
    await this.d.graph.layers.unmountRW(ctx, id).catch(warn('unmount its rootfs'));
    if (rec.hostConfig.IpcMode === 'shareable')
      await Promise.resolve()
        .then(() => unmount(`${subject}: shm`, this.shmDir(id), MNT_DETACH))
        .catch(warn('unmount its shm'));
    if (removed) return;
    if (restart) this.scheduleRestart(rec, ranMs);
    else if (rec.hostConfig.AutoRemove) {
      // not written: a record of an exited AutoRemove container is removed by restore() too
      rec.state.status = 'removing';
      await this.removeLocked(ctx, rec).catch(warn('auto-remove'));
    }
  }

  private async oomKilled(ctx: Context, id: string): Promise<boolean> {
    // the execdriver's own handle: opening the cgroup again would stat each hierarchy's directory
    const { cgroupHandle } = await this.d.exec.state(ctx, id);
    return cgroupHandle !== undefined && (await cgroupHandle.oomKills(ctx)) > 0;
  }

  private scheduleRestart(rec: ContainerRecord, ranMs: number): void {
    const delay = nextBackoff(this.backoff.get(rec.id) ?? 0, ranMs);
    this.backoff.set(rec.id, delay);
    const timer = setTimeout(() => {
      this.restartTimers.delete(rec.id);
      void this.d.store
        .locked(rec.id, async () => {
          if (this.d.store.find(rec.id) !== rec || rec.state.status !== 'restarting' || this.shuttingDown) return;
          rec.restartCount++;
          this.d.events.publish('container', 'restart', rec.id, { name: rec.name, image: rec.image });
          await this.startLocked(this.d.baseCtx, rec);
        })
        .catch((err: unknown) => {
          this.d.baseCtx.logger.warn(`container ${rec.id}: restart failed`, {
            error: err instanceof Error ? err.message : String(err),
          });
        });
    }, delay);
    timer.unref();
    this.restartTimers.set(rec.id, { timer, backoffMs: delay });
  }

  /** Cancels a pending restart; true when one was pending. */
  private cancelRestart(id: string): boolean {
    const t = this.restartTimers.get(id);
    if (t === undefined) return false;
    clearTimeout(t.timer);
    this.restartTimers.delete(id);
    return true;
  }

  // ---- wait ----------------------------------------------------------------------

  /**
   * Waits for `condition`: not-running (at once when not running), next-exit (the
   * next exit from now), removed (the container is gone). `armed` runs once the
   * condition is registered. Cancelling ctx stops the waiting (CANCELLED).
   */
  async wait(
    ctx: Context,
    ref: string,
    condition: WaitCondition = 'not-running',
    armed?: () => void,
  ): Promise<ContainerWaitResponse> {
    if (!['not-running', 'next-exit', 'removed'].includes(condition))
      throw invalidArgument(`wait ${ref}: unknown condition ${JSON.stringify(condition)}`);
    const rec = this.d.store.get(ref);
    if (condition === 'not-running' && rec.state.status !== 'running' && rec.state.status !== 'restarting') {
      armed?.();
      return { StatusCode: rec.state.exitCode, Error: rec.state.error ? { Message: rec.state.error } : null };
    }
    throwIfCancelled(ctx, `wait ${rec.id}`);
    let set = this.waiters.get(rec.id);
    if (set === undefined) this.waiters.set(rec.id, (set = new Set()));
    const waiters = set;
    return new Promise<ContainerWaitResponse>((resolve, reject) => {
      const onAbort = () => {
        waiters.delete(waiter);
        reject(new BerthError(ErrorCode.CANCELLED, `wait ${rec.id}: cancelled`));
      };
      const waiter: Waiter = {
        condition,
        resolve: (r) => {
          ctx.signal.removeEventListener('abort', onAbort);
          resolve(r);
        },
      };
      waiters.add(waiter);
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      armed?.();
    });
  }

  private wake(id: string, conditions: WaitCondition[], response: ContainerWaitResponse): void {
    const set = this.waiters.get(id);
    if (set === undefined) return;
    for (const w of [...set]) {
      if (!conditions.includes(w.condition)) continue;
      set.delete(w);
      w.resolve(response);
    }
    if (set.size === 0) this.waiters.delete(id);
  }

  // ---- kill, stop, restart -------------------------------------------------------------

  /** Sends a signal. CONFLICT when the container is not running. */
  async kill(ctx: Context, ref: string, signal: string | number = 'SIGKILL'): Promise<void> {
    const rec = this.d.store.get(ref);
    const num = parseSignal(signal, `container ${rec.id}: kill`);
    await this.d.store.locked(rec.id, async () => {
      if (rec.state.status === 'restarting' && (num === osConstants.signals.SIGKILL || num === this.stopSignal(rec))) {
        this.cancelRestart(rec.id);
        rec.state.status = 'exited';
        rec.state.manuallyStopped = true;
        await this.d.store.save(ctx, rec);
        return;
      }
      if (rec.state.status !== 'running') throw conflict(`container ${rec.id}: is not running`);
      if (num === osConstants.signals.SIGKILL || num === this.stopSignal(rec)) {
        rec.state.manuallyStopped = true;
        await this.d.store.save(ctx, rec);
      }
      await this.d.exec.kill(ctx, rec.id, num);
    });
    this.d.events.publish('container', 'kill', rec.id, { name: rec.name, image: rec.image, signal: String(num) });
  }

  private stopSignal(rec: ContainerRecord): number {
    return parseSignal(rec.config.StopSignal || 'SIGTERM', `container ${rec.id}: stop signal`);
  }

  /**
   * Stops a running container: its stop signal, then SIGKILL after `timeout`
   * seconds (-1: wait for ever); resolves once the exit is recorded. `changed`
   * false when it was not running.
   */
  async stop(
    ctx: Context,
    ref: string,
    timeout?: number,
    signal?: string,
    manual = true,
  ): Promise<{ changed: boolean }> {
    const rec = this.d.store.get(ref);
    const seconds = timeout ?? rec.config.StopTimeout ?? DEFAULT_STOP_TIMEOUT;
    if (!Number.isInteger(seconds) || seconds < -1)
      throw invalidArgument(`container ${rec.id}: stop timeout ${seconds}: expected whole seconds ≥ -1`);
    const sig = parseSignal(signal ?? rec.config.StopSignal ?? 'SIGTERM', `container ${rec.id}: stop`);
    const live = await this.d.store.locked(rec.id, async () => {
      if (rec.state.status === 'restarting') {
        this.cancelRestart(rec.id);
        rec.state.status = 'exited';
        if (manual) rec.state.manuallyStopped = true;
        await this.d.store.save(ctx, rec);
        return undefined;
      }
      if (rec.state.status !== 'running') return undefined;
      if (manual) {
        rec.state.manuallyStopped = true;
        await this.d.store.save(ctx, rec);
      }
      const l = this.live.get(rec.id);
      await this.d.exec.kill(ctx, rec.id, sig).catch((err: unknown) => {
        if (!isBerthError(err, 'FAILED_PRECONDITION')) throw err;
      });
      return l;
    });
    if (live === undefined) return { changed: false };
    const exited = live.exited;
    // a client that hangs up does not shorten the grace period: the stop goes on as asked
    const timedOut = seconds < 0 ? false : await raceTimeout(exited, seconds * 1000);
    if (timedOut) {
      ctx.logger.info(`container ${rec.id}: did not stop within ${seconds}s after signal ${sig}, killing it`);
      await this.d.exec.kill(detached(ctx), rec.id, 'SIGKILL').catch(() => undefined);
    }
    await exited;
    this.d.events.publish('container', 'stop', rec.id, { name: rec.name, image: rec.image });
    return { changed: true };
  }

  async restart(ctx: Context, ref: string, timeout?: number, signal?: string): Promise<void> {
    const rec = this.d.store.get(ref);
    await this.stop(ctx, rec.id, timeout, signal);
    await this.start(ctx, rec.id);
  }

  // ---- remove ---------------------------------------------------------------------

  /** Removes a container; a running one only with force (killed first). CONFLICT otherwise. */
  async remove(ctx: Context, ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const rec = this.d.store.get(ref);
    if ((rec.state.status === 'running' || rec.state.status === 'restarting') && !opts.force) {
      throw conflict(
        `container ${rec.id}: you cannot remove a running container; stop it before removing it or force the removal`,
      );
    }
    if (rec.state.status === 'running') {
      const live = this.live.get(rec.id);
      rec.state.manuallyStopped = true;
      await this.d.exec.kill(ctx, rec.id, 'SIGKILL').catch((err: unknown) => {
        if (!isBerthError(err, 'FAILED_PRECONDITION') && !isBerthError(err, 'NOT_FOUND')) throw err;
      });
      await live?.exited;
    }
    await this.d.store.locked(rec.id, async () => {
      this.mustExist(rec);
      if (rec.state.status === 'running') throw conflict(`container ${rec.id}: started again while being removed`);
      this.cancelRestart(rec.id);
      rec.state.status = 'removing';
      const anonymousVolumes = opts.volumes === true || rec.hostConfig.AutoRemove === true;
      // Not written unless volumes go with it: removeLocked drops the record before the layer, so a crash
      // part-way leaves a layer without a container, which restore() removes. The anonymous volumes come
      // after the record; the written state has restore() remove them (AutoRemove) as the removal's rest.
      if (anonymousVolumes && volumeUses(rec.hostConfig).length > 0)
        await this.d.store.save(ctx, rec).catch(() => undefined);
      await runDetached(ctx, CLEANUP_TIMEOUT_MS, (c) => this.removeLocked(c, rec, anonymousVolumes));
    });
  }

  /**
   * Removes the container; with anonymousVolumes (rm -v, AutoRemove) also its
   * anonymous volumes that no other container uses, as Docker does.
   */
  private async removeLocked(
    ctx: Context,
    rec: ContainerRecord,
    anonymousVolumes = rec.hostConfig.AutoRemove === true,
  ): Promise<void> {
    const io = this.ios.get(rec.id);
    this.ios.delete(rec.id);
    await io?.close().catch(() => undefined);
    if (rec.hostConfig.IpcMode === 'shareable') unmount(`container ${rec.id}: shm`, this.shmDir(rec.id), MNT_DETACH);
    // The record first: from here a crash leaves a layer without a container (or a folder without a record), both
    // removed by restore(); the other order would leave a record whose layer is gone.
    await this.d.store.remove(ctx, rec.id);
    // A crash test may stop here: record gone, layer still there (trace/pause-point.ts).
    await pausePoint('container-remove');
    try {
      await this.d.graph.removeContainerLayer(ctx, rec.id);
    } catch (err) {
      if (!isBerthError(err, 'NOT_FOUND')) {
        // as Docker does, a container whose removal failed stays, dead, for another try
        rec.state.status = 'dead';
        rec.state.error = err instanceof Error ? err.message : String(err);
        await this.d.store
          .readd(ctx, rec)
          .catch((e: unknown) =>
            ctx.logger.warn(`container ${rec.id}: keep the record of a failed removal`, { error: String(e) }),
          );
        throw wrap(err, `container ${rec.id}: remove its layer`);
      }
    }
    if (anonymousVolumes) {
      for (const use of volumeUses(rec.hostConfig)) {
        if (this.d.volumes.find(use.name)?.anonymous !== true || this.containersUsing(use.name).length > 0) continue;
        await this.d.volumes.remove(ctx, use.name).then(
          () => this.d.events.publish('volume', 'destroy', use.name, {}),
          (err: unknown) =>
            ctx.logger.warn(`volume ${use.name}: remove with container ${rec.id}`, { error: String(err) }),
        );
      }
    }
    this.backoff.delete(rec.id);
    this.d.events.publish('container', 'destroy', rec.id, { name: rec.name, image: rec.image });
    this.wake(rec.id, ['not-running', 'next-exit', 'removed'], { StatusCode: rec.state.exitCode, Error: null });
  }

  // ---- recovery and shutdown ------------------------------------------------------------

  /**
   * Brings the containers back to a consistent state after the engine (re)started:
   * directories without a record and layers without a container are removed; a
   * container recorded as running whose process is gone (or is killed now: berth
   * cannot adopt a process of an earlier run) is marked exited with an unknown
   * exit code; stale cgroups, interfaces, port rules and addresses are released;
   * then containers whose policy says so are started again. Returns their ids.
   */
  async restore(ctx: Context): Promise<{ exited: string[]; removed: string[]; restarting: Promise<string[]> }> {
    const store = this.d.store;
    const removed: string[] = [];
    for (const id of store.orphans) {
      await this.d.graph.removeContainerLayer(ctx, id).catch(() => undefined);
      await store.remove(ctx, id);
      removed.push(id);
    }
    const known = new Set(store.list().map((r) => r.id));
    for (const layer of await this.d.graph.layers.rwLayers(ctx)) {
      if (known.has(layer.containerID)) continue;
      await this.d.graph.removeContainerLayer(ctx, layer.containerID).catch((err: unknown) =>
        ctx.logger.warn(`container ${layer.containerID}: remove a layer left by a failed create`, {
          error: String(err),
        }),
      );
      removed.push(layer.containerID);
    }
    const exited: string[] = [];
    const now = rfc3339Nano();
    for (const rec of store.list()) {
      if (rec.state.status === 'removing' || (rec.hostConfig.AutoRemove && rec.state.status === 'exited')) {
        await this.removeLocked(ctx, rec);
        removed.push(rec.id);
        continue;
      }
      if (rec.state.status !== 'running' && rec.state.status !== 'restarting') {
        // the exit is recorded before its teardown: a crash in between may have left the shm mounted
        if (rec.hostConfig.IpcMode === 'shareable') this.unmountLeftShm(ctx, rec);
        continue;
      }
      if (
        rec.state.pid > 0 &&
        rec.state.pidStartTime !== undefined &&
        pidStartTime(rec.state.pid) === rec.state.pidStartTime
      ) {
        try {
          process.kill(rec.state.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      rec.state = {
        ...rec.state,
        status: 'exited',
        pid: 0,
        exitCode: UNKNOWN_EXIT_CODE,
        exitUnknown: true,
        finishedAt: now,
        error: 'the engine stopped while the container ran; its exit code is unknown',
      };
      delete rec.state.pidStartTime;
      delete rec.endpoint;
      if (rec.hostConfig.IpcMode === 'shareable') this.unmountLeftShm(ctx, rec);
      if (rec.hostConfig.AutoRemove) {
        await this.removeLocked(ctx, rec);
        removed.push(rec.id);
        continue;
      }
      await store.save(ctx, rec);
      exited.push(rec.id);
    }
    if (this.d.cgroups !== null) {
      const stale = await this.d.cgroups.cleanupStale(ctx, this.d.cgroupParent).catch((err: unknown) => {
        ctx.logger.warn(`cgroups under ${this.d.cgroupParent}: cleanup failed`, { error: String(err) });
        return [];
      });
      if (stale.length > 0) ctx.logger.info('removed stale cgroups', { cgroups: stale.length });
      // cleanupStale removed the parent itself; its ancestors (berth/) go too when empty
      const parent = this.d.cgroupParent.split('/').slice(0, -1).join('/');
      if (parent !== '') await this.d.cgroups.removeIfEmpty(ctx, parent, { ancestors: true }).catch(() => false);
    }
    await this.d.net.recover(ctx, []);
    const restarting = (async () => {
      const started: string[] = [];
      for (const rec of store.list()) {
        if (rec.state.status !== 'exited' || !restartsWithEngine(rec.hostConfig, rec.state.manuallyStopped)) continue;
        if (
          !exited.includes(rec.id) &&
          rec.hostConfig.RestartPolicy?.Name === 'unless-stopped' &&
          rec.state.manuallyStopped
        )
          continue;
        try {
          await this.start(ctx, rec.id);
          started.push(rec.id);
        } catch (err) {
          ctx.logger.warn(`container ${rec.id}: restart at engine start failed`, {
            error: err instanceof Error ? err.message : String(err),
          });
        }
      }
      return started;
    })();
    return { exited, removed, restarting };
  }

  /** Unmounts a shareable IPC container's shm that a crash left mounted (none mounted: nothing to do). */
  private unmountLeftShm(ctx: Context, rec: ContainerRecord): void {
    try {
      unmount(`container ${rec.id}: shm`, this.shmDir(rec.id), MNT_DETACH);
    } catch (err) {
      ctx.logger.warn(`container ${rec.id}: unmount its shm left by a crash`, { error: String(err) });
    }
  }

  /** Stops every running container with its stop timeout (no restart policy applies) and closes their IO. */
  async shutdown(ctx: Context): Promise<string[]> {
    this.shuttingDown = true;
    for (const id of [...this.restartTimers.keys()]) this.cancelRestart(id);
    const running = this.d.store.list().filter((r) => r.state.status === 'running');
    await Promise.all(
      running.map((r) =>
        this.stop(ctx, r.id, undefined, undefined, false).catch((err: unknown) =>
          ctx.logger.warn(`container ${r.id}: stop at shutdown failed`, { error: String(err) }),
        ),
      ),
    );
    for (const [id, io] of [...this.ios]) {
      this.ios.delete(id);
      await io.close().catch(() => undefined);
    }
    // the engine's parent cgroup (and berth/ above it), if a container's destroy could not
    // remove it, goes with the engine when nothing is left under it
    if (this.d.cgroups !== null)
      await this.d.cgroups.removeIfEmpty(ctx, this.d.cgroupParent, { ancestors: true }).catch(() => false);
    return running.map((r) => r.id);
  }

  /** True while a container's exit is being handled or it runs (for tests and inspect). */
  isLive(id: string): boolean {
    return this.live.has(id);
  }
}

/** A new anonymous volume's name: 64 hex digits, as Docker's. */
function anonymousVolumeName(): string {
  return randomBytes(32).toString('hex');
}

/** The paths of a container's hosts, hostname and resolv.conf in its directory (what inspect shows). */
export function etcPaths(dir: string): { hosts: string; hostname: string; resolvConf: string } {
  return { hosts: join(dir, 'hosts'), hostname: join(dir, 'hostname'), resolvConf: join(dir, 'resolv.conf') };
}

/** What a container asks of its resolv.conf and hosts. */
export function etcRequestOf(config: ContainerConfig, hc: HostConfig): EtcRequest {
  return {
    ...(config.Domainname ? { domainname: config.Domainname } : {}),
    ...(hc.Dns?.length ? { dns: [...hc.Dns] } : {}),
    ...(hc.DnsSearch?.length ? { dnsSearch: [...hc.DnsSearch] } : {}),
    ...(hc.DnsOptions?.length ? { dnsOptions: [...hc.DnsOptions] } : {}),
    ...(hc.ExtraHosts?.length ? { extraHosts: [...hc.ExtraHosts] } : {}),
  };
}

/** HostConfig with Docker's defaults filled in and checked (restart policy, network mode). */
export function normalizeHostConfig(hc: HostConfig): HostConfig {
  const out: HostConfig = { ...hc };
  if (!out.NetworkMode || out.NetworkMode === 'default') out.NetworkMode = 'bridge';
  out.RestartPolicy = {
    Name: out.RestartPolicy?.Name || 'no',
    MaximumRetryCount: out.RestartPolicy?.MaximumRetryCount ?? 0,
  };
  checkRestartPolicy(out);
  if (out.LogConfig?.Type && out.LogConfig.Type !== 'json-file')
    throw invalidArgument(`log driver ${JSON.stringify(out.LogConfig.Type)}: only json-file is supported`);
  out.LogConfig = { Type: 'json-file', Config: out.LogConfig?.Config ?? {} };
  return out;
}

/**
 * A PortBindings entry as a networkdriver port spec: an empty or 0 HostPort asks
 * for an ephemeral port, `LOW-HIGH` for the first free one in that range.
 * INVALID_ARGUMENT for a bad port.
 */
export function portSpecOf(port: string, hostIp: string | undefined, hostPort: string | undefined): string {
  const m = /^(\d+)(?:\/(tcp|udp))?$/.exec(port);
  if (m === null) throw invalidArgument(`port ${JSON.stringify(port)}: expected PORT[/tcp|udp]`);
  const spec = `${hostIp ? `${hostIp}:` : ''}${hostPort || '0'}:${m[1]}/${m[2] ?? 'tcp'}`;
  parsePortRequest(spec);
  return spec;
}

/**
 * The bindings to publish: PortBindings, and with PublishAllPorts every exposed
 * port without one on an ephemeral host port (Docker's `-P`).
 */
export function bindingsOf(config: ContainerConfig, hc: HostConfig): [string, PortBinding[]][] {
  const out = Object.entries(hc.PortBindings ?? {}).map(([port, b]): [string, PortBinding[]] => [port, b ?? []]);
  if (hc.PublishAllPorts) {
    for (const port of Object.keys(config.ExposedPorts ?? {})) {
      if (!out.some(([p, b]) => p === port && b.length > 0)) out.push([port, [{ HostIp: '', HostPort: '' }]]);
    }
  }
  return out;
}

/** `10m`, `1g`, `512k`, `100` → bytes. */
function parseSize(text: string, what: string): number {
  const m = /^(\d+)([kmg]?)b?$/i.exec(text.trim());
  if (m === null) throw invalidArgument(`${what} ${JSON.stringify(text)}: expected a size like 10m`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * unit;
}

/** Creates the working directory inside the rootfs when missing (as Docker does), owned by the user. */
async function ensureWorkingDir(rootfs: string, dir: string, uid: number, gid: number): Promise<void> {
  if (dir === '/') return;
  const host = await resolveInRoot(rootfs, dir);
  const st = await stat(host).catch(() => undefined);
  if (st?.isDirectory()) return;
  if (st !== undefined) throw invalidArgument(`working directory ${dir}: not a directory in the image`);
  await mkdir(host, { recursive: true, mode: 0o755 });
  await chown(host, uid, gid);
}

/**
 * /proc/<pid>/stat field 22 (start time in ticks), undefined when the process is gone. Read synchronously: a procfs
 * file is made in the kernel on read, and start() waits for it (the async read is four thread-pool trips).
 */
function pidStartTime(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(fields[19]);
}

/** A failed execve as Docker reports it: 127 for a missing executable, 126 when it cannot be run. */
function startError(err: unknown, subject: string, path: string): BerthError {
  const msg = err instanceof Error ? err.message : String(err);
  if (/ENOENT|ENOTDIR/.test(msg)) {
    return invalidArgument(
      `${subject}: exec: ${JSON.stringify(path)}: executable file not found: no such file or directory`,
      { cause: err, details: { exitCode: 127 } },
    );
  }
  if (/EACCES|EPERM|ENOEXEC/.test(msg)) {
    return invalidArgument(`${subject}: exec: ${JSON.stringify(path)}: permission denied`, {
      cause: err,
      details: { exitCode: 126 },
    });
  }
  return wrap(err, `${subject}: start`);
}

/** Resolves true when `ms` passed before `p` settled, false when it settled first. */
function raceTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(true), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(false);
    };
    p.then(done, done);
  });
}

/** Undo steps run in reverse on a detached context; a failing step is logged and the rest still run. */
class Undo {
  private readonly steps: ((ctx: Context) => Promise<unknown>)[] = [];

  constructor(
    private readonly ctx: Context,
    private readonly subject: string,
  ) {}

  push(step: (ctx: Context) => Promise<unknown>): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    await runDetached(this.ctx, CLEANUP_TIMEOUT_MS, async (ctx) => {
      for (const step of this.steps.reverse()) {
        try {
          await step(ctx);
        } catch (err) {
          if (!isBerthError(err, 'NOT_FOUND'))
            ctx.logger.warn(`${this.subject}: undo failed`, {
              error: err instanceof Error ? err.message : String(err),
            });
        }
      }
    });
    this.steps.length = 0;
  }
}
