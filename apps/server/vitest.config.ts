import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Test files start their own servers and Redis instances; run them one at a time so
    // timing-sensitive tests do not compete for the two cores.
    fileParallelism: false,
  },
});
