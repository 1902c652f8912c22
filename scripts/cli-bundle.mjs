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
 * The runtime-spec validator compiled at build time: ajv's standalone code for the schema, bundled with the bits of
 * ajv's runtime it uses into its own minified file beside the bundle (`<name>.validator.<hash>.cjs`), which the
 * bundle's compiled-validator.ts loads with require() when a config needs it. validateSpec asks its yes/no check
 * (schema-predicate.ts) first and needs this validator only for a refused config, to name the error: the 185 KB of code
 * are not read, compiled or kept in the code cache at each start of a command that does not need them. Instead of
 * compiled-validator.ts, which at run time hashes the schema (node:crypto) and loads a generated module.
 */
function bundledValidators(extraSources, dir, name, made) {
  return {
    name: 'berth-bundled-validators',
    setup(build) {
      // the config check validateSpec asks first (schema-predicate.ts), generated now instead of at each start
      build.onLoad({ filter: /[/\\]engine[/\\]execdriver[/\\]spec[/\\]schema-predicate\.ts$/ }, async (args) => {
        const schemaPath = join(dirname(args.path), 'runtime-spec.schema.json');
        extraSources.push(schemaPath);
        const { predicateSource } = await loadTs(args.path);
        const { source, unsupported } = predicateSource(JSON.parse(readFileSync(schemaPath, 'utf8')));
        if (unsupported.length > 0)
          throw new Error(`${schemaPath}: keywords schema-predicate.ts cannot check: ${unsupported.join(', ')}`);
        return {
          loader: 'js',
          contents: [
            'let check;',
            '/** The check of runtime-spec.schema.json, generated when the bundle was built. */',
            `export function runtimeSpecPredicate() { return (check ??= (${source})()); }`,
          ].join('\n'),
        };
      });
      build.onLoad({ filter: /[/\\]engine[/\\]execdriver[/\\]spec[/\\]compiled-validator\.ts$/ }, async (args) => {
        const schemaPath = join(dirname(args.path), 'runtime-spec.schema.json');
        extraSources.push(schemaPath);
        const file = await writeValidator(schemaPath, dir, name);
        made.push(file);
        return {
          loader: 'js',
          resolveDir: dirname(args.path),
          contents: [
            "import { join } from 'node:path';",
            'export function compiledValidator(schemaPath, _dir, name) {',
            '  if (name !== "runtime-spec")',
            '    throw new Error(`${schemaPath}: no validator for ${name} compiled into this bundle`);',
            `  const file = join(__dirname, ${JSON.stringify(file)});`,
            '  try {',
            '    return require(file);',
            '  } catch (err) {',
            "    throw new Error(`${schemaPath}: the bundle's validator ${file} cannot be loaded (${err.message}); rebuild: node scripts/cli-bundle.mjs`);",
            '  }',
            '}',
          ].join('\n'),
        };
      });
    },
  };
}

/** The exports of one of the repository's TypeScript modules, bundled with what it imports (esbuild) and run here. */
async function loadTs(path) {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [path],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    define: { 'import.meta.url': JSON.stringify(pathToFileURL(path).href) },
    logLevel: 'silent',
  });
  const module = { exports: {} };
  new Function('module', 'exports', 'require', result.outputFiles[0].text)(module, module.exports, createRequire(path));
  return module.exports;
}

/** Writes the standalone validator of `schemaPath` into `dir` (atomic, named by its content); returns its name. */
async function writeValidator(schemaPath, dir, name) {
  const require = createRequire(schemaPath);
  const { Ajv2020 } = require('ajv/dist/2020.js');
  const standaloneCode = require('ajv/dist/standalone/index.js').default;
  // the options of compiled-validator.ts
  const ajv = new Ajv2020({ allErrors: false, strict: true, strictTuples: false, code: { source: true } });
  const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')));
  const esbuild = await import('esbuild');
  // the ajv runtime modules it requires go into the same file; minified (its names are its own)
  const result = await esbuild.build({
    stdin: { contents: standaloneCode(ajv, validate), resolveDir: dirname(schemaPath), loader: 'js' },
    bundle: true,
    write: false,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    logLevel: 'silent',
  });
  const { createHash } = await import('node:crypto');
  const text = asciiOnly(result.outputFiles[0].text);
  const file = `${name}.validator.${createHash('sha256').update(text).digest('hex').slice(0, 16)}.cjs`;
  const tmp = join(dir, `${file}.${process.pid}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, join(dir, file));
  return file;
}

/**
 * berth's own modules import `createRequire` from node:module to load a built-in or the addon lazily; requiring
 * node:module loads Node's ES module loader (≈ 0.7 ms of CPU at each start of a command here). In a bundle every
 * module's import.meta.url is the bundle's file, whose require() the bundle already has: their node:module is this
 * shim, which hands that require() out and asks node:module only for another file's. Packages keep the real module.
 */
function moduleShim() {
  return {
    name: 'berth-node-module-shim',
    setup(build) {
      build.onResolve({ filter: /^node:module$/ }, (args) => {
        if (args.namespace === 'berth-module-shim') return { path: 'node:module', external: true };
        return args.importer.includes('node_modules')
          ? undefined
          : { path: 'node:module', namespace: 'berth-module-shim' };
      });
      build.onLoad({ filter: /.*/, namespace: 'berth-module-shim' }, () => ({
        loader: 'js',
        contents: [
          'export function createRequire(from) {',
          '  return from === __berth_import_meta_url ? require : require("node:module").createRequire(from);',
          '}',
        ].join('\n'),
      }));
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
  const validators = [];
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
    plugins: [bundledValidators(extraSources, dir, name, validators), moduleShim()],
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
  // the code caches and validators of earlier builds (and the ES module bundles of older checkouts) go
  for (const f of readdirSync(dir))
    if (
      (f.startsWith(`${name}.`) && f.endsWith('.cache') && !f.startsWith(`${name}.${id}.`)) ||
      (f.startsWith(`${name}.validator.`) && !validators.includes(f)) ||
      f === `${name}.mjs`
    )
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
