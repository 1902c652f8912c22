// The import-boundary rule on hand-made cases (RuleTester); `npm run lint` applies it
// to the tree with the map of eslint.config.mjs.
import { join } from 'node:path';
import { RuleTester } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, it } from 'vitest';
import { moduleBoundaries } from './module-boundaries.mjs';

RuleTester.describe = describe;
RuleTester.it = it;

const root = '/repo';
const options = [
  {
    root,
    shared: ['trace', 'errdefs', 'fsutil'],
    modules: {
      api: [],
      client: ['api'],
      daemon: ['jobs', 'api'],
      jobs: ['graph'],
      graph: ['graphdriver'],
      graphdriver: [],
      trace: [],
      errdefs: [],
      fsutil: [],
    },
    noNative: ['client', 'api'],
    testsMay: { daemon: ['client'] },
    tests: String.raw`(\.test\.ts|-kit\.ts)$`,
    native: ['errdefs'],
  },
];
const at = (file: string, code: string) => ({ filename: join(root, file), code, options });

const tester = new RuleTester({
  languageOptions: { parser: tseslint.parser, ecmaVersion: 'latest', sourceType: 'module' },
});

tester.run('module-boundaries', moduleBoundaries, {
  valid: [
    at('engine/graph/graph.ts', "import { x } from '../graphdriver/driver.js';"),
    at('engine/graph/graph.ts', "import { y } from './layer-store.js';"),
    at(
      'engine/graph/graph.ts',
      "import { wrap } from '../errdefs/errors.js'; import { Mutex } from '../fsutil/keyed-lock.js';",
    ),
    at('engine/graph/graph.ts', "import { native } from '../../native/index.js';"),
    at('engine/graph/graph.ts', "import { readFile } from 'node:fs/promises'; import tar from 'tar-stream';"),
    at('engine/client/api-client.ts', "import type { Container } from '../api/types.js';"),
    at('engine/client/api-client.ts', "import { wrap } from '../errdefs/errors.js';"),
    at('engine/daemon/api-server.test.ts', "import { ApiClient } from '../client/api-client.js';"),
    // a test may build fixtures from anything its module reaches
    at('engine/jobs/pull.test.ts', "import { vfs } from '../graphdriver/vfs.js';"),
    at('engine/jobs/pull-kit.ts', "import { vfs } from '../graphdriver/vfs.js';"),
    at('engine/client/bin.test.ts', "import { packagePath } from '../../native/package-root.js';"),
    at('native/index.ts', "import { unavailable } from '../engine/errdefs/errors.js';"),
    at('native/workloads.test.ts', "import { createExecDriver } from '../engine/execdriver/execdriver.js';"),
    at('bench/suites/pull.ts', "import { Graph } from '../../engine/graph/graph.js';"),
    at('scripts/compare.ts', "import { median } from '../bench/stats.js';"),
  ],
  invalid: [
    {
      ...at('engine/graphdriver/vfs.ts', "import { Graph } from '../graph/graph.js';"),
      errors: [{ messageId: 'notAllowed' }],
    },
    { ...at('engine/graph/graph.ts', "export { run } from '../jobs/run.js';"), errors: [{ messageId: 'notAllowed' }] },
    {
      ...at('engine/graph/graph.ts', "const m = await import('../jobs/run.js');"),
      errors: [{ messageId: 'notAllowed' }],
    },
    { ...at('engine/graph/graph.ts', "let t: import('../jobs/run.js').Job;"), errors: [{ messageId: 'notAllowed' }] },
    // only tests reach further than the direct edges
    {
      ...at('engine/jobs/pull.ts', "import { vfs } from '../graphdriver/vfs.js';"),
      errors: [{ messageId: 'notAllowed' }],
    },
    {
      ...at('engine/client/api-client.ts', "import { Graph } from '../graph/graph.js';"),
      errors: [{ messageId: 'notAllowed' }],
    },
    {
      ...at('engine/daemon/api-server.ts', "import { ApiClient } from '../client/api-client.js';"),
      errors: [{ messageId: 'notAllowed' }],
    },
    {
      ...at('engine/client/api-client.ts', "import { native } from '../../native/index.js';"),
      errors: [{ messageId: 'notAllowed' }],
    },
    {
      ...at('engine/graph/graph.test.ts', "import { median } from '../../bench/stats.js';"),
      errors: [{ messageId: 'engineToBench' }],
    },
    {
      ...at('engine/daemonx/server.ts', "import { x } from '../graph/graph.js';"),
      errors: [{ messageId: 'unknownModule' }],
    },
    {
      ...at('native/index.ts', "import type { NetlinkOp } from '../engine/networkdriver/netlink-ops.js';"),
      errors: [{ messageId: 'nativeToEngine' }],
    },
    { ...at('native/index.ts', "import { x } from '../bench/stats.js';"), errors: [{ messageId: 'nativeToEngine' }] },
  ],
});
