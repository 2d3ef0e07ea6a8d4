import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/harness/state-dir.ts', 'test/harness/no-actions-env.ts'],
    // Integration files start real servers; one file at a time keeps a 2-core machine's timings honest.
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
