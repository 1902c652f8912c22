// berth's commands (berth, berthd, berth-runtime, berth-registry) start as one pre-bundled
// script instead of compiling TypeScript at every start: a runtime is timed against runc
// and crun, and tsx's start-up alone costs more than a container.
//
// A bundle lives in `.bundle/` beside its entry: one CommonJS file holding the command's
// code and every package it uses (nothing is resolved in node_modules at start), and a
// record of the modification time of every source it was built from. loadCli() uses it
// only while none of those sources changed; otherwise it rebuilds it (esbuild) and, if
// esbuild is missing, falls back to running the TypeScript through tsx. An edited source
// is therefore never run from a stale bundle.
//
// The bundle runs (scripts/cli-start.cjs) as a vm.Script with V8's code cache (Node 20 has no module compile
// cache): the first run of a command saves the bytecode of the functions it compiled
// (saveCodeCache), later runs skip compiling them. One cache per command name, since
// `run` and `--help` compile different functions; the cache file is named after the
// bundle's content hash, so a rebuilt bundle never meets an old cache. BERTH_NO_CODE_CACHE=1
// turns the cache off (to measure it, or to rule it out).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const { bundlePaths, freshRecord, runBundle, saveCodeCache, commandName } = createRequire(import.meta.url)(
  './cli-start.cjs',
);
export { saveCodeCache, commandName };

/** True when the bundle exists, was built from this entry, and no source it was built from changed since. */
export function bundleIsFresh(entry) {
  return freshRecord(entry) !== undefined;
}

/**
 * V8 keeps a script with a single non-ASCII character as a two-byte string, twice the
 * memory for as long as the process runs. esbuild escapes non-ASCII text in code but not
 * in the comments it keeps: those characters become their `\uXXXX` escapes.
 */
function asciiOnly(text) {
  return text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The node_modules/.package-lock.json above `dir` (npm rewrites it on every install), if any. */
function installRecord(dir) {
  for (let d = dir; ; d = dirname(d)) {
    const lock = join(d, 'node_modules', '.package-lock.json');
    if (existsSync(lock)) return lock;
    if (dirname(d) === d) return undefined;
  }
}

/**
 * The runtime-spec validator compiled at build time: the bundle carries ajv's standalone
 * code for the schema instead of compiled-validator.ts, which at run time hashes the
 * schema (node:crypto) and loads a generated module from disk, at every container create.
 */
function bundledValidators(extraSources) {
  return {
    name: 'berth-bundled-validators',
    setup(build) {
      build.onLoad({ filter: /[/\\]engine[/\\]execdriver[/\\]spec[/\\]compiled-validator\.ts$/ }, (args) => {
        const dir = dirname(args.path);
        extraSources.push(join(dir, 'runtime-spec.schema.json'));
        return {
          loader: 'js',
          resolveDir: dir,
          contents: [
            "import validate from 'berth-validator:runtime-spec';",
            'export function compiledValidator(schemaPath, _dir, name) {',
            "  if (name === 'runtime-spec') return validate;",
            '  throw new Error(`${schemaPath}: no validator for ${name} compiled into this bundle`);',
            '}',
          ].join('\n'),
        };
      });
      build.onResolve({ filter: /^berth-validator:/ }, (args) => ({
        path: join(args.resolveDir, 'runtime-spec.schema.json'),
        namespace: 'berth-validator',
      }));
      build.onLoad({ filter: /.*/, namespace: 'berth-validator' }, async (args) => {
        const require = createRequire(args.path);
        const { Ajv2020 } = require('ajv/dist/2020.js');
        const standaloneCode = require('ajv/dist/standalone/index.js').default;
        // the options of compiled-validator.ts
        const ajv = new Ajv2020({ allErrors: false, strict: true, strictTuples: false, code: { source: true } });
        const validate = ajv.compile(JSON.parse(readFileSync(args.path, 'utf8')));
        // minified (esbuild would print it again with its nested ifs indented: 60 % of berth-runtime's bundle, which
        // every start reads and copies into a string, ≈ 1 ms of CPU per 100 KB here); its names are its own
        const esbuild = await import('esbuild');
        const { code } = await esbuild.transform(standaloneCode(ajv, validate), {
          loader: 'js',
          format: 'cjs',
          minify: true,
          target: 'node20',
        });
        return { loader: 'js', resolveDir: dirname(args.path), contents: code };
      });
    },
  };
}

/**
 * The commands whose bundle is minified (whitespace and syntax; names are kept): a long-lived process keeps its
 * script's source in V8's heap for its whole life, for the functions it compiles lazily (berthd: 1.16 → 0.8 MB).
 * A short command gains little from it.
 */
const MINIFIED = new Set(['daemon-cli']);

/** Bundles `entry` (a .ts file) and the packages it uses into one CommonJS file with esbuild. Atomic. */
export async function buildBundle(entry) {
  const esbuild = await import('esbuild');
  const { createHash } = await import('node:crypto');
  const { dir, name, file, inputs } = bundlePaths(entry);
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const extraSources = [];
  const result = await esbuild.build({
    entryPoints: [entry],
    write: false,
    outfile: tmp,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // import() becomes require(): a vm.Script has no module loader for it
    supported: { 'dynamic-import': false },
    // the ES modules' import.meta.url is the bundle's own file
    define: { 'import.meta.url': '__berth_import_meta_url' },
    banner: { js: 'var __berth_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
    plugins: [bundledValidators(extraSources)],
    metafile: true,
    logLevel: 'silent',
    ...(MINIFIED.has(basename(entry).replace(/\.ts$/, '')) ? { minifyWhitespace: true, minifySyntax: true } : {}),
  });
  const text = asciiOnly(result.outputFiles[0].text);
  const id = createHash('sha256').update(text).digest('hex').slice(0, 16);
  writeFileSync(tmp, text);
  const root = process.cwd();
  const sources = {};
  const lock = installRecord(dirname(entry));
  const files = Object.keys(result.metafile.inputs)
    .filter((input) => !input.includes('node_modules') && !input.includes(':'))
    .map((input) => resolve(root, input));
  for (const abs of [...files, ...extraSources, ...(lock === undefined ? [] : [lock])])
    sources[abs] = statSync(abs).mtimeMs;
  // the Node built-ins the bundle loads as it starts (imported statically somewhere in it; not the dynamic imports)
  const builtins = new Set();
  for (const input of Object.values(result.metafile.inputs))
    for (const imp of input.imports)
      if (imp.external && (imp.kind === 'import-statement' || imp.kind === 'require-call') && isBuiltin(imp.path))
        builtins.add(imp.path);
  const tmpInputs = `${inputs}.${process.pid}.tmp`;
  writeFileSync(tmpInputs, `${JSON.stringify({ entry, id, sources, builtins: [...builtins].sort() })}\n`);
  renameSync(tmp, file);
  renameSync(tmpInputs, inputs);
  // the code caches of earlier builds (and the ES module bundles of older checkouts) go
  for (const f of readdirSync(dir))
    if ((f.startsWith(`${name}.`) && f.endsWith('.cache') && !f.startsWith(`${name}.${id}.`)) || f === `${name}.mjs`)
      rmSync(join(dir, f), { force: true });
  return file;
}

/**
 * A command's entry module's exports: from the fresh bundle, else a rebuilt one, else the
 * TypeScript itself through tsx. `cacheKey` names the code cache to use (the command run);
 * `options.v8Flags` are set once the bundle's built-ins are loaded (cli-start.cjs runBundle).
 */
export async function loadCli(entry, cacheKey, options) {
  const record = freshRecord(entry);
  if (record !== undefined) return runBundle(entry, record, cacheKey, options);
  try {
    await buildBundle(entry);
    const rebuilt = freshRecord(entry);
    if (rebuilt === undefined) throw new Error('bundle changed while it was built');
    return runBundle(entry, rebuilt, cacheKey, options);
  } catch (err) {
    if (process.env.BERTH_DEBUG_BUNDLE)
      process.stderr.write(`bundle ${entry}: ${err.message}; running it through tsx\n`);
    const { setFlagsFromString } = await import('node:v8');
    for (const flag of options?.v8Flags ?? []) setFlagsFromString(flag);
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
    'engine/runtime-cli/main-light.ts',
    'engine/registry/registry-cli.ts',
    'engine/daemon/daemon-cli.ts',
    'engine/client/cli.ts',
  ].map((e) => join(here, '..', e));
  for (const entry of entries) {
    const out = await buildBundle(entry);
    process.stdout.write(`bundled ${entry} → ${out}\n`);
  }
}
