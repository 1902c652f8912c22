// The `tiny` image's only layer: berth's static workload binaries (native/workloads)
// under /bin, plus the few /etc files a process expects. Binaries missing from
// native/workloads/bin are compiled from their C sources with `gcc -static` into a cache.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { failedPrecondition, wrap } from '../../engine/errdefs/errors.js';
import type { StaticBinariesLayer } from './corpus-spec.js';
import { parentFolders, sortEntries, type LayerPlan, type PlanEntry } from './layer-plan.js';

const run = promisify(execFile);
const workloads = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'workloads');

const etcFiles: Record<string, string> = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  'etc/group': 'root:x:0:\nnogroup:x:65534:\n',
  'etc/hostname': 'tiny\n',
  'etc/os-release': 'NAME="berth tiny"\nID=berth-tiny\n',
};

/**
 * The path of static binary `name`: native/workloads/bin/<name> when present, else
 * compiled once from native/workloads/<name>.c into `cacheDir` (temp + rename).
 * Fails with FAILED_PRECONDITION naming the binary when neither works (no gcc or
 * no static libc: install gcc and libc6-dev).
 */
async function staticBinary(name: string, cacheDir: string): Promise<string> {
  const built = join(workloads, 'bin', name);
  if (await isFile(built)) return built;
  const cached = join(cacheDir, name);
  if (await isFile(cached)) return cached;
  const source = join(workloads, `${name}.c`);
  if (!(await isFile(source)))
    throw failedPrecondition(`static binary ${name}: neither ${built} nor its source ${source} exists`);
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${cached}.tmp-${process.pid}`;
  try {
    await run(process.env.CC ?? 'gcc', ['-static', '-O2', '-s', '-o', tmp, source]);
    await rename(tmp, cached);
  } catch (err) {
    throw failedPrecondition(
      `static binary ${name}: gcc -static ${source} failed (needs gcc and libc6-dev): ${(err as Error).message}`,
      { cause: err },
    );
  }
  return cached;
}

/**
 * The tiny layer's plan and a fingerprint of its inputs (the binaries' digests), so
 * a cached image is rebuilt when a binary changes. Reads each binary once.
 */
export async function planStaticBinariesLayer(
  spec: StaticBinariesLayer,
  cacheDir: string,
): Promise<{ plan: LayerPlan; inputs: Record<string, string> }> {
  const entries: PlanEntry[] = [];
  const inputs: Record<string, string> = {};
  for (const name of spec.binaries) {
    const path = await staticBinary(name, cacheDir);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      throw wrap(err, `static binary ${name}`);
    }
    inputs[`bin/${name}`] = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    entries.push({ path: `bin/${name}`, type: 'file', mode: 0o755, size: bytes.length, data: bytes });
  }
  for (const [path, text] of Object.entries(etcFiles))
    entries.push({ path, type: 'file', mode: 0o644, size: Buffer.byteLength(text), data: Buffer.from(text) });
  entries.push(...parentFolders(entries.map((e) => e.path)));
  const files = entries.filter((e) => e.type === 'file');
  return {
    plan: {
      entries: sortEntries(entries),
      files: files.length,
      whiteouts: 0,
      bytes: files.reduce((a, e) => a + e.size, 0),
    },
    inputs,
  };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
