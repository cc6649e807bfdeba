import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    // The fresh-clone test installs and builds a whole checkout: one file at a time.
    fileParallelism: false,
  },
});
