// The start of a berth command from its bundle (scripts/cli-bundle.mjs builds it): the freshness
// check, the bundle run as a vm.Script with V8's code cache, and the cache's save. CommonJS on
// purpose: the bins load it with require(), which is cheaper at start than one more ES module
// (measured: README "Start-up of the commands"). Building and the tsx fallback stay in cli-bundle.mjs.
'use strict';
const { readFileSync, renameSync, rmSync, statSync, writeFileSync } = require('node:fs');
// Module.createRequire through this module's constructor: require('node:module') loads Node's ES module loader
// (≈ 1 ms of CPU per command start here)
const { createRequire } = module.constructor;
const { basename, dirname, join } = require('node:path');
const { Script } = require('node:vm');

/** Where the bundle of `entry` (a .ts file) and its files live. */
function bundlePaths(entry) {
  const dir = join(dirname(entry), '.bundle');
  const name = basename(entry).replace(/\.ts$/, '');
  return { dir, name, file: join(dir, `${name}.cjs`), inputs: join(dir, `${name}.inputs.json`) };
}

/** The bundle's record ({entry, id, sources}) when it is fresh: built from this entry, no source changed since. */
function freshRecord(entry) {
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(bundlePaths(entry).inputs, 'utf8'));
  } catch {
    return undefined;
  }
  // A bundle built for another checkout (a copied tree) runs that checkout's sources.
  if (recorded.entry !== entry || typeof recorded.id !== 'string') return undefined;
  for (const [file, mtimeMs] of Object.entries(recorded.sources)) {
    try {
      if (statSync(file).mtimeMs !== mtimeMs) return undefined;
    } catch {
      return undefined;
    }
  }
  return recorded;
}

/** The script whose code cache saveCodeCache() writes, if the cache was missing or refused. */
let pending;
/** The content hash of the bundle last run. */
let lastId;

/** The content hash of the bundle runBundle last ran (a build's identity), or undefined before any. */
function bundleId() {
  return lastId;
}

/**
 * Sets V8 flags (`v8Flags`, a long-lived command's) once the Node built-ins the bundle imports (its record's
 * `builtins`) and `preload` are loaded. Any V8 flag changes V8's flag hash, and Node then refuses its own code cache
 * for every built-in module loaded afterwards and compiles it from source: more CPU at start and more memory for the
 * process's life (docs/host-notes.md). Built-ins first, flags second keeps both the flags and Node's cache.
 */
function setFlagsAfterBuiltins(record, { v8Flags = [], preload = [] } = {}) {
  if (v8Flags.length === 0) return;
  for (const m of [...(Array.isArray(record.builtins) ? record.builtins : []), ...preload]) require(m);
  const { setFlagsFromString } = require('node:v8');
  for (const flag of v8Flags) setFlagsFromString(flag);
}

/**
 * Runs the bundle of `record` as a vm.Script with the code cache `<name>.<id>.<key>.cache`; returns its exports.
 * `options.v8Flags` are set before it compiles (setFlagsAfterBuiltins), so its code cache is made under them.
 */
function runBundle(entry, record, cacheKey, options) {
  setFlagsAfterBuiltins(record, options);
  const { dir, name, file } = bundlePaths(entry);
  const useCache = process.env.BERTH_NO_CODE_CACHE !== '1';
  const key = typeof cacheKey === 'string' && /^[a-z][a-z0-9-]{0,31}$/.test(cacheKey) ? cacheKey : 'default';
  const cacheFile = join(dir, `${name}.${record.id}.${key}.cache`);
  let cachedData;
  if (useCache) {
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      cachedData = undefined;
    }
  }
  // latin1: the bundle is ASCII only (cli-bundle.mjs escapes the rest), and latin1 decodes it without UTF-8's checks
  const source = readFileSync(file, 'latin1');
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
  });
  if (useCache && (cachedData === undefined || script.cachedDataRejected)) pending = { script, cacheFile };
  const module = { exports: {} };
  lastId = record.id;
  script.runInThisContext()(module.exports, createRequire(file), module, file, dir);
  return module.exports;
}

/**
 * The exports of the fresh bundle of `entry`, or undefined when it is missing or stale (build it: cli-bundle.mjs);
 * `options` as runBundle's (nothing is set when it is stale).
 */
function startFresh(entry, cacheKey, options) {
  const record = freshRecord(entry);
  return record === undefined ? undefined : runBundle(entry, record, cacheKey, options);
}

/**
 * Writes the code cache of the bundle last run, when it had none (or V8 refused it:
 * another Node version): call it after the command did its work, so that the functions
 * it compiled are in the cache. Never throws (a read-only install runs without a cache).
 */
function saveCodeCache() {
  if (pending === undefined) return;
  const { script, cacheFile } = pending;
  pending = undefined;
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, script.createCachedData());
    renameSync(tmp, cacheFile);
  } catch {
    rmSync(tmp, { force: true });
  }
}

/** The first of `argv` that is one of `names` (a command's verb, past its global flags), for the cache key. */
function commandName(argv, names) {
  return argv.find((a) => names.includes(a));
}

module.exports = { bundleId, bundlePaths, freshRecord, runBundle, startFresh, saveCodeCache, commandName };
