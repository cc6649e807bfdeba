import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, RedisServer } from '@chat/testkit';
import { type Browser, expect, type Page, test } from '@playwright/test';
import { Command } from '../support/command.js';
import { connection, messageLog, say } from '../support/ui.js';

/**
 * The new user's walkthrough: every command of README.md's "## Quick start", read from the
 * README when the test runs (not a copy of today's lines), run in this checkout as a person
 * would, checking that what it prints and the page it serves are what the README says. A
 * command this walkthrough does not know fails it: a new step in the README needs a check here.
 *
 * The fresh-clone install of `npm start` is scripts/test/fresh-clone.test.ts; here the
 * checkout is installed already, so `npm start` builds and serves.
 */
const root = fileURLToPath(new URL('../../..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

function quickStart(): { prose: string; commands: string[] } {
  const start = readme.indexOf('\n## Quick start\n');
  expect(start, 'README.md has a "## Quick start" section').toBeGreaterThan(0);
  const rest = readme.slice(start + 1);
  const end = rest.search(/\n##? /);
  const section = end > 0 ? rest.slice(0, end) : rest;
  const commands: string[] = [];
  for (const block of section.matchAll(/```sh\n([\s\S]*?)```/g))
    for (const raw of (block[1] ?? '').split('\n')) {
      const line = raw.replace(/\s+#.*$/, '').trim();
      if (line) commands.push(line);
    }
  return { prose: section.replace(/```sh\n[\s\S]*?```/g, ''), commands };
}

/** The environment of a new terminal: none of this test runner's npm/pnpm/Playwright variables. */
function terminalEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_|PNPM_|PLAYWRIGHT_|PW_|TEST_)/i.test(key) || key === 'NODE_OPTIONS') continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** The chat as the README's screenshot shows it: sign in, then indicator, pod, rooms, messages, presence. */
async function expectChatPage(browser: Browser, url: string, name: string): Promise<void> {
  const context = await browser.newContext();
  const page: Page = await context.newPage();
  try {
    await page.goto(url);
    await expect(page).toHaveTitle('Chat');
    await page.getByLabel('Display name').fill(name);
    await page.getByRole('button', { name: 'Enter chat' }).click();
    await expect(connection(page)).toHaveText('Connected');
    await expect(page.getByRole('note', { name: 'Pod' })).toHaveText(/^Pod: \S+/);
    await expect(page.getByRole('navigation').getByRole('listitem')).toHaveText([/#general/]);
    await expect(page.getByRole('list', { name: 'Online in #general' })).toContainText(name);
    await say(page, `hello from ${name}`);
    await expect(messageLog(page)).toContainText(`hello from ${name}`);
    await expect(page.locator('li.pending')).toHaveCount(0);
  } finally {
    await context.close();
  }
}

test.describe('README quick start, step by step', () => {
  test.describe.configure({ timeout: 600_000 });
  const { prose, commands } = quickStart();
  const running: Command[] = [];
  const dirs: string[] = [];
  let redis: RedisServer | undefined;

  test.afterAll(async () => {
    for (const c of running) c.kill();
    await redis?.kill();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('the README lists the steps this walkthrough checks', () => {
    expect(commands.length).toBeGreaterThan(1);
    // What the prose promises about the first command, checked below.
    expect(prose).toContain('http://localhost:8080');
    expect(prose).toMatch(/`PORT`/);
    expect(prose).toMatch(/in-memory broker/);
  });

  for (const line of commands) {
    test(`\`${line}\``, async ({ browser }) => {
      const run = async (cmd: string, extra: Record<string, string> = {}) => {
        const c = new Command(cmd, root, terminalEnv(extra));
        running.push(c);
        return c;
      };

      // `npm start` / `pnpm start`, optionally with REDIS_URL=...: build, serve, print the URL.
      const start = /^(?:(REDIS_URL=\S+)\s+)?(npm|pnpm) start$/.exec(line);
      if (start) {
        const port = await freePort();
        let cmd = line;
        if (start[1]) {
          // The README's Redis address is the reader's; this walkthrough brings its own.
          dirs.push(mkdtempSync(join(tmpdir(), 'quick-start-redis-')));
          redis = new RedisServer({ dir: dirs.at(-1) as string });
          await redis.start();
          cmd = line.replace(start[1], `REDIS_URL=${redis.url}`);
        }
        const c = await run(cmd, { PORT: String(port), HOST: '127.0.0.1' });
        const [, url] = await c.waitFor(/chat ready at (http:\/\/\S+?)["\s]/);
        expect(url).toBe(`http://127.0.0.1:${port}`); // PORT changes it, as the README says
        if (start[1]) expect(c.output).toMatch(/"broker":"redis"/);
        else expect(c.output).toMatch(/in-memory/);
        expect(c.output).not.toMatch(/"level":[45]0/); // no warning or error on a normal start
        await expectChatPage(browser, url ?? '', start[1] ? 'Reader on Redis' : 'Reader');
        const code = await c.interrupt();
        expect(c.output).toContain('drained, exiting');
        expect([0, 130]).toContain(code); // 130: npm and pnpm report an interrupted script so
        return;
      }

      // The cluster: "Open the printed URL in two browser windows".
      if (line === 'pnpm cluster') {
        const port = await freePort();
        const c = await run(`pnpm cluster --port ${port}`);
        const [, pods, url] = await c.waitFor(/Chat cluster: (\d+) pods behind (http:\/\/\S+)/);
        expect(pods).toBe('3');
        expect(url).toBe(`http://127.0.0.1:${port}`);
        await c.waitFor(/cluster view: (http:\/\/\S+\/__cluster\/)/);
        await expectChatPage(browser, url ?? '', 'Cluster reader');
        const view = await browser.newPage();
        await view.goto(`${url}/__cluster/`);
        await expect(view.getByRole('status', { name: 'Cluster' })).toHaveText(/ on 3 pods$/);
        await expect(view.locator('#cards article')).toHaveCount(3);
        await view.close();
        expect([0, 130]).toContain(await c.interrupt());
        return;
      }

      // Development: one URL with hot reload (the reload itself: dev-loop.spec.ts).
      if (line === 'pnpm dev') {
        const port = await freePort();
        const c = await run('pnpm dev', { PORT: String(port), HOST: '127.0.0.1' });
        const [, url] = await c.waitFor(/Chat \(development\): open (http:\/\/\S+)/);
        expect(url).toBe(`http://127.0.0.1:${port}`);
        await expectChatPage(browser, url ?? '', 'Developer');
        await c.interrupt();
        return;
      }

      // The test command is what runs this walkthrough: running it here would recurse.
      if (/^(npx pnpm@\S+|pnpm|npm) test$/.test(line)) {
        test.info().annotations.push({ type: 'not run', description: `${line}: it runs this walkthrough` });
        return;
      }

      throw new Error(`the README's quick start has a step this walkthrough does not check: ${line}`);
    });
  }
});
