// Test configuration. Kernel-level tests (mounts, namespaces, cgroups) share one
// machine, so files run one at a time in forked processes: a crash in one file
// cannot take the others down, and no two files fight over kernel state.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'engine/**/*.test.ts',
      'bench/**/*.test.ts',
      'native/**/*.test.ts',
      'scripts/**/*.test.ts',
      'results/**/*.test.ts',
      'notebooks/**/*.test.ts',
      'testkit/**/*.test.ts',
    ],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
