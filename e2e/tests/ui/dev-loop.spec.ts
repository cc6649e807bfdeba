import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort } from '@chat/testkit';
import { expect, test } from '@playwright/test';
import { connection } from '../support/ui.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const webFile = `${root}apps/web/src/components/NameForm.tsx`;
const serverFile = `${root}apps/server/src/logging.ts`;
const TAGLINE = 'A real-time chat running on Kubernetes. Pick a name to join.';

/**
 * `pnpm dev` (scripts/dev.mjs): the UI on one URL, a change to the web app shows up in the open
 * page without losing what was typed (hot module reload), a change to the server restarts it
 * and the page reconnects by itself. The test edits two source files and restores them.
 */
test.describe('pnpm dev', () => {
  let dev: ChildProcess;
  const lines: string[] = [];
  let url = '';
  const originals = new Map<string, string>();

  const edit = (file: string, change: (text: string) => string) => {
    const text = readFileSync(file, 'utf8');
    if (!originals.has(file)) originals.set(file, text);
    writeFileSync(file, change(text));
  };
  const restore = () => {
    for (const [file, text] of originals) writeFileSync(file, text);
    originals.clear();
  };
  const readyLines = () => lines.filter((l) => l.includes('chat ready at')).length;

  test.beforeAll(async () => {
    const port = await freePort();
    const started = Date.now();
    dev = spawn('pnpm', ['dev'], {
      cwd: root,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: stopped as a whole below
    });
    createInterface({ input: dev.stderr as NodeJS.ReadableStream }).on('line', (l) => lines.push(l));
    for await (const line of createInterface({ input: dev.stdout as NodeJS.ReadableStream })) {
      lines.push(line);
      const m = /Chat \(development\): open (http:\/\/\S+)/.exec(line);
      if (m?.[1]) {
        url = m[1];
        break;
      }
    }
    dev.stdout?.on('data', (d: Buffer) => lines.push(...d.toString().split('\n')));
    expect(url, lines.join('\n')).toBe(`http://127.0.0.1:${port}`);
    console.log(`pnpm dev: banner after ${Date.now() - started} ms`);
  });

  test.afterAll(async () => {
    restore();
    if (dev?.pid && dev.exitCode === null) {
      const exited = once(dev, 'exit');
      process.kill(-dev.pid, 'SIGINT');
      await exited;
    }
  });

  test('serves the UI, hot-reloads a web change in place, restarts the server on a server change', async ({
    page,
  }) => {
    await page.goto(url);
    await expect(page.getByText(TAGLINE)).toBeVisible();
    // Typed before the change: hot module reload keeps it (a full reload would clear it).
    await page.getByLabel('Display name').fill('Dev');

    const changedAt = Date.now();
    edit(webFile, (t) => t.replace(TAGLINE, `${TAGLINE} (edited)`));
    await expect(page.getByText(`${TAGLINE} (edited)`)).toBeVisible({ timeout: 15_000 });
    console.log(`pnpm dev: web change shown after ${Date.now() - changedAt} ms`);
    await expect(page.getByLabel('Display name')).toHaveValue('Dev');
    const original = originals.get(webFile) as string;
    restore();
    // The watcher can fold a write that follows the previous one closely into it (CI saw the
    // page keep the edited text for 15 s, 1 run in many): the same content is written again
    // while the page has not changed back. Each check still needs a hot reload to pass.
    await expect(async () => {
      if (!(await page.getByText(TAGLINE, { exact: true }).isVisible())) writeFileSync(webFile, original);
      await expect(page.getByText(TAGLINE, { exact: true })).toBeVisible({ timeout: 4000 });
    }).toPass({ timeout: 20_000 });
    await expect(page.getByLabel('Display name')).toHaveValue('Dev');

    // Signed in through Vite's proxy (token API and WebSocket on the same URL).
    await page.getByRole('button', { name: 'Enter chat' }).click();
    await expect(connection(page)).toHaveText('Connected');

    const before = readyLines();
    edit(serverFile, (t) => `${t}\n// edited by the dev-loop test\n`);
    await expect.poll(readyLines, { timeout: 20_000 }).toBeGreaterThan(before);
    restore();
    await expect.poll(readyLines, { timeout: 20_000 }).toBeGreaterThan(before + 1);
    await expect(connection(page)).toHaveText('Connected', { timeout: 20_000 });
    await page.getByRole('textbox', { name: 'Message', exact: true }).fill('after the restart');
    await page.getByRole('button', { name: 'Send' }).click();
    await expect(page.getByRole('log', { name: 'Messages in #general' })).toContainText('after the restart');
    await expect(page.locator('li.pending')).toHaveCount(0);
  });
});
