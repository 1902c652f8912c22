// ESLint: the module map of README "Engine modules" as an import-boundary rule
// (scripts/lint/module-boundaries.mjs), over every TypeScript and module file.
// Style rules are not switched on here; formatting is not ESLint's job in berth.
import { fileURLToPath } from 'node:url';
import tseslint from 'typescript-eslint';
import boundaries from './scripts/lint/module-boundaries.mjs';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Which engine folder may import which, besides itself and the shared folders
 * (trace, errdefs, fsutil), which every folder may import. Imports point down only:
 * client -> api (and not native/); daemon -> jobs -> container, registry, graph,
 * networkdriver, execdriver, archive; graph -> graphdriver -> archive.
 */
const modules = {
  api: [], // the Engine API's types, shared by the client and the daemon
  client: ['api'],
  // the routes write Docker's 8-byte stream frames, which container/stream-frames.ts owns
  daemon: ['jobs', 'api', 'container'],
  // createEngine (jobs/builtins.ts) is the composition root: it picks the graphdriver;
  // the pull and push jobs compose the registry client with the graph
  jobs: ['container', 'registry', 'graph', 'graphdriver', 'networkdriver', 'execdriver', 'archive', 'api'],
  // the record holds an OCI spec and the image's config; the spec builder fills the execdriver's types
  container: ['api', 'execdriver', 'graph'],
  // the distribution client and server: digests and references from the graph, decompression from archive
  registry: ['graph', 'archive'],
  graph: ['graphdriver', 'archive'],
  graphdriver: ['archive'],
  archive: [],
  networkdriver: [],
  execdriver: [],
  'runtime-cli': ['execdriver'],
  trace: [],
  errdefs: [],
  fsutil: [],
};

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'native/build/',
      '**/.bundle/',
      '**/.generated/',
      'notebooks/.observable/',
      '.tmp/',
      'results/runs/',
    ],
  },
  {
    files: ['**/*.ts', '**/*.mts', '**/*.mjs', '**/*.js'],
    languageOptions: { parser: tseslint.parser, ecmaVersion: 'latest', sourceType: 'module' },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    plugins: { berth: boundaries, '@typescript-eslint': tseslint.plugin },
    rules: {
      // the code marks its few deliberate `any`s with a disable comment for this rule
      '@typescript-eslint/no-explicit-any': 'error',
      // Prettier formats to 120 columns but leaves long strings and comments alone; this rule holds the rest
      'max-len': [
        'error',
        { code: 120, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true },
      ],
      'berth/module-boundaries': [
        'error',
        {
          root,
          shared: ['trace', 'errdefs', 'fsutil'],
          modules,
          noNative: ['client', 'api'],
          testsMay: { daemon: ['client'] },
          native: ['errdefs'],
          // test files and the kits, fixtures and child processes (`*-child.ts`) only tests use
          tests: String.raw`(\.test\.[cm]?[jt]s|-kit\.ts|-fixtures\.ts|/test-[^/]*\.ts|-child\.ts)$|/e2e/`,
        },
      ],
    },
  },
);
