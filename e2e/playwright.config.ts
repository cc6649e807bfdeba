import { defineConfig } from '@playwright/test';
import { findChromium } from '../scripts/chromium.mjs';

/**
 * Every spec starts its own cluster (Redis + server processes + load balancer) from
 * @chat/cluster, so specs run one at a time: the machine has two cores and the tests measure
 * reconnects under rolling updates.
 */
export default defineConfig({
  testDir: './tests',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 180_000,
  expect: { timeout: 15_000 },
  reporter: process.env.CI ? [['list'], ['html', { open: 'never' }]] : 'list',
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: {
      // CHROMIUM_PATH, then chromium/chromium-browser/google-chrome on PATH, then Playwright's
      // cache; `pnpm test`'s preflight installs one when there is none.
      executablePath: findChromium()?.path,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
});
