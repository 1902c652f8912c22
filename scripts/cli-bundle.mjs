// berth's commands (berth, berthd, berth-runtime, berth-registry) start as one pre-bundled ES
// module instead of compiling TypeScript at every start: a runtime is timed
// against runc and crun, and tsx's start-up alone costs more than a container.
//
// A bundle lives in `.bundle/` beside its entry and records the modification time
// of every source it was built from. loadCli() uses it only while none of those
// sources changed; otherwise it rebuilds it (esbuild) and, if esbuild is
// missing, falls back to running the TypeScript through tsx. An edited source is
// therefore never run from a stale bundle.
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

function bundlePaths(entry) {
  const dir = join(dirname(entry), '.bundle');
  const name = basename(entry).replace(/\.ts$/, '');
  return { dir, file: join(dir, `${name}.mjs`), inputs: join(dir, `${name}.inputs.json`) };
}

/** True when the bundle exists, was built from this entry, and no source it was built from changed since. */
export function bundleIsFresh(entry) {
  const { inputs } = bundlePaths(entry);
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(inputs, 'utf8'));
  } catch {
    return false;
  }
  // A bundle built for another checkout (a copied tree) runs that checkout's sources.
  if (recorded.entry !== entry) return false;
  for (const [file, mtimeMs] of Object.entries(recorded.sources)) {
    try {
      if (statSync(file).mtimeMs !== mtimeMs) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * V8 keeps a script with a single non-ASCII character as a two-byte string, twice the
 * memory for as long as the process runs. esbuild escapes non-ASCII text in code but not
 * in the comments it keeps: those characters become their `\uXXXX` escapes.
 */
function asciiOnly(file) {
  const text = readFileSync(file, 'utf8');
  const ascii = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (ascii !== text) writeFileSync(file, ascii);
}

/** Bundles `entry` (a .ts file) with esbuild; node_modules stay external. Atomic. */
export async function buildBundle(entry) {
  const esbuild = await import('esbuild');
  const { dir, file, inputs } = bundlePaths(entry);
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const result = await esbuild.build({
    entryPoints: [entry],
    outfile: tmp,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    metafile: true,
    logLevel: 'silent',
  });
  asciiOnly(tmp);
  const root = process.cwd();
  const sources = {};
  for (const input of Object.keys(result.metafile.inputs)) {
    const abs = resolve(root, input);
    sources[abs] = statSync(abs).mtimeMs;
  }
  const tmpInputs = `${inputs}.${process.pid}.tmp`;
  writeFileSync(tmpInputs, `${JSON.stringify({ entry, sources })}\n`);
  renameSync(tmp, file);
  renameSync(tmpInputs, inputs);
  return file;
}

/**
 * Imports a command's entry module: the fresh bundle, else a rebuilt one, else the
 * TypeScript itself through tsx. Returns the module's exports.
 */
export async function loadCli(entry) {
  const { file } = bundlePaths(entry);
  if (bundleIsFresh(entry)) return import(pathToFileURL(file).href);
  try {
    return await import(pathToFileURL(await buildBundle(entry)).href);
  } catch (err) {
    if (process.env.BERTH_DEBUG_BUNDLE)
      process.stderr.write(`bundle ${entry}: ${err.message}; running it through tsx\n`);
    const { register } = await import('tsx/esm/api');
    register();
    return import(pathToFileURL(entry).href);
  }
}

// `node scripts/cli-bundle.mjs` (the install step): bundles every command.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const here = dirname(new URL(import.meta.url).pathname);
  const entries = [
    'engine/runtime-cli/main.ts',
    'engine/registry/registry-cli.ts',
    'engine/daemon/daemon-cli.ts',
    'engine/client/cli.ts',
  ].map((e) => join(here, '..', e));
  for (const entry of entries) {
    const out = await buildBundle(entry);
    process.stdout.write(`bundled ${entry} → ${out}\n`);
  }
}
