import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The smoke run starts 5 systems (Redis + 3 pods each) one after the other.
    testTimeout: 300_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
