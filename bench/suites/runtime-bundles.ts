// The `runtime` suite's shared material: one static rootfs and two OCI bundles on it
// (with and without a network namespace) that every runtime runs as they are, plus a
// private --root state directory per runtime; made on first use, removed by the last.
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSpec } from '../../engine/execdriver/spec/defaults.js';
import type { Spec } from '../../engine/execdriver/spec/types.js';
import { makeWorkloadRootfs, type Workload } from '../../engine/execdriver/workload-rootfs.js';

/** The two bundle variants the suite compares. */
export type NetnsVariant = 'netns' | 'no-netns';

/**
 * The spec every runtime gets: `runc spec`'s shape (berth's defaultSpec) running
 * the static `/bin/<workload>` with a read-only root; without `netns` the network
 * namespace is left out (the container shares the host's). Pure.
 */
export function benchSpec(rootfs: string, netns: boolean, workload: Workload = 'true', args: string[] = []): Spec {
  // Docker's seccomp profile in the bundle: every runtime loads the same filter
  const spec = defaultSpec({ args: [`/bin/${workload}`, ...args], rootfs, hostname: 'berth-bench', seccomp: true });
  if (!netns) spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== 'network');
  return spec;
}

/** Writes `<dir>/config.json` (temp + rename) and returns dir. */
export function writeBundle(dir: string, spec: Spec): string {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = join(dir, `.config.json.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(spec, null, 2)}\n`);
  renameSync(tmp, join(dir, 'config.json'));
  return dir;
}

/** What one acquire() gives: the bundles and a state root per runtime. */
export interface RuntimeMaterial {
  base: string;
  rootfs: string;
  bundles: Record<NetnsVariant, string>;
  /** `--root` of runc, crun and berth-runtime, each its own directory. */
  stateRoot(runtime: string): string;
}

/**
 * Reference-counted material: the first acquire builds it (copies of the workload binaries), the last release removes
 * it all.
 */
export class RuntimeBundles {
  private users = 0;
  private material: RuntimeMaterial | undefined;

  constructor(
    private readonly dataRoot: string,
    private readonly workload: Workload = 'true',
  ) {}

  acquire(): RuntimeMaterial {
    this.users++;
    if (this.material !== undefined) return this.material;
    const base = mkdtempSync(join(this.dataRoot, `berth-runtime-bench-${process.pid}-`));
    try {
      chmodSync(base, 0o755);
      const rootfs = makeWorkloadRootfs(join(base, 'rootfs'));
      const bundles: Record<NetnsVariant, string> = {
        netns: writeBundle(join(base, 'bundle-netns'), benchSpec(rootfs, true, this.workload)),
        'no-netns': writeBundle(join(base, 'bundle-no-netns'), benchSpec(rootfs, false, this.workload)),
      };
      const stateRoot = (runtime: string): string => {
        const dir = join(base, 'state', runtime);
        mkdirSync(dir, { recursive: true, mode: 0o711 });
        return dir;
      };
      this.material = { base, rootfs, bundles, stateRoot };
      return this.material;
    } catch (err) {
      this.users--;
      rmSync(base, { recursive: true, force: true });
      throw err;
    }
  }

  /** One user done; the last removes the directory tree. Idempotent past zero. */
  release(): void {
    if (this.users === 0) return;
    this.users--;
    if (this.users > 0 || this.material === undefined) return;
    rmSync(this.material.base, { recursive: true, force: true });
    this.material = undefined;
  }
}
