import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { type Cluster, DEFAULT_SERVER_ENTRY, startCluster } from '@chat/cluster';
import { freePort } from '@chat/testkit';
import { expect, type Page, test } from '@playwright/test';
import { connection, messageLog, openChat, say, shownTexts } from '../support/ui.js';

const composer = (page: Page) => page.getByRole('textbox', { name: 'Message', exact: true });
const roomButton = (page: Page, room: string) => page.getByRole('button', { name: `#${room}` });

async function joinRoom(page: Page, room: string): Promise<void> {
  await page.getByLabel('Room', { exact: true }).fill(room);
  await page.getByRole('button', { name: 'Join room' }).click();
  await expect(page.getByRole('heading', { name: `#${room}` })).toBeVisible();
}

/** What a person notices in their first hour: honest status, remembered rooms, a usable phone layout. */
test.describe('the UI with a cluster', () => {
  let cluster: Cluster;
  test.beforeAll(async () => {
    cluster = await startCluster({ pods: 1, env: { HEARTBEAT_MS: '5000' } });
  });
  test.afterAll(async () => {
    await cluster?.stop();
  });

  test('Redis unreachable: "degraded" within 3 s, a stuck join says why, then recovers by itself', async ({
    browser,
  }) => {
    const page = await openChat(browser, cluster.url, 'Ada');
    await say(page, 'before the outage');
    await expect(messageLog(page)).toContainText('before the outage');

    await cluster.stopRedis();
    const stoppedAt = Date.now();
    await expect(connection(page)).toHaveText('Connected, chat service degraded: messages wait', {
      timeout: 3_000,
    });
    expect(Date.now() - stoppedAt).toBeLessThan(3_000);
    // The indicator says why (tooltip), a join waits visibly with the reason and retries.
    await expect(page.locator('.connection')).toHaveAttribute(
      'title',
      /^Redis at 127\.0\.0\.1:\d+ is unreachable/,
    );
    await page.getByLabel('Room', { exact: true }).fill('outage');
    await page.getByRole('button', { name: 'Join room' }).click();
    const roomStatus = page.getByRole('status', { name: 'Room status' });
    await expect(roomStatus).toContainText("can't join yet: room history is unavailable right now");
    await expect(roomStatus).toContainText('Redis at 127.0.0.1');
    await expect(roomStatus).toContainText(/Retrying \(attempt [3-9]\)/, { timeout: 10_000 });
    await say(page, 'typed during the outage');

    await cluster.startRedis();
    await expect(connection(page)).toHaveText('Connected', { timeout: 15_000 });
    await expect(roomStatus).toHaveCount(0, { timeout: 15_000 }); // #outage joined by itself
    await expect(messageLog(page, 'outage')).toContainText('typed during the outage');
    await page.context().close();
  });

  test('"Retry now" during a reconnect countdown connects at once', async ({ browser }) => {
    const page = await openChat(browser, cluster.url, 'Dee');
    await cluster.scale(0); // no pod at all: every attempt is refused and the backoff grows
    const countdown = async () =>
      Number(/Reconnecting in (\d+) s/.exec((await connection(page).textContent()) ?? '')?.[1] ?? 0);
    await expect.poll(countdown, { timeout: 60_000 }).toBeGreaterThanOrEqual(8);
    await cluster.scale(1);
    // Still counting down with seconds to go: the timer alone would not connect in time.
    await expect.poll(countdown, { timeout: 60_000 }).toBeGreaterThanOrEqual(5);
    const left = await countdown();
    const clicked = Date.now();
    await page.getByRole('button', { name: 'Retry now' }).click();
    await expect(connection(page)).toHaveText('Connected', { timeout: 3_000 });
    expect(Date.now() - clicked).toBeLessThan((left - 1) * 1000);
    await expect(page.getByRole('button', { name: 'Retry now' })).toHaveCount(0);
    await page.context().close();
  });

  test('joined rooms survive a reload; a new tab is signed in as the same name; focus goes to the composer', async ({
    browser,
  }) => {
    const page = await openChat(browser, cluster.url, 'Bea');
    await expect(composer(page)).toBeFocused();
    await joinRoom(page, 'ops');
    await expect(composer(page)).toBeFocused();
    await joinRoom(page, 'random');
    await roomButton(page, 'ops').click();

    await page.reload();
    await expect(connection(page)).toHaveText('Connected');
    await expect(page.getByRole('navigation').getByRole('listitem')).toHaveText([
      /#general/,
      /#ops/,
      /#random/,
    ]);
    await expect(page.getByRole('heading', { name: '#ops' })).toBeVisible(); // the room that was on screen
    await expect(page.getByRole('status', { name: 'Room status' })).toHaveCount(0);
    await expect(composer(page)).toBeFocused();

    // Another tab of the same browser: no name prompt, the same user, the same rooms.
    const tab = await page.context().newPage();
    await tab.goto(cluster.url);
    await expect(connection(tab)).toHaveText('Connected');
    await expect(tab.getByLabel('Display name')).toHaveCount(0);
    await expect(tab.locator('.whoami strong')).toHaveText('Bea');
    await expect(tab.getByRole('navigation').getByRole('listitem')).toHaveText([
      /#general/,
      /#ops/,
      /#random/,
    ]);
    await expect(tab.getByRole('heading', { name: '#ops' })).toBeVisible();
    await roomButton(tab, 'general').click();
    await say(tab, 'from the second tab');
    await roomButton(page, 'general').click();
    await expect(page.locator('li.own')).toContainText('from the second tab'); // same user: shown as mine

    // Signing out forgets the name: the next tab asks again, with the old name filled in.
    await page.getByRole('button', { name: 'Sign out' }).click();
    const third = await page.context().newPage();
    await third.goto(cluster.url);
    await expect(third.getByLabel('Display name')).toBeVisible();
    await page.context().close();
  });

  test('on a 390 px phone the header, room bar and join form stay compact', async ({ browser }) => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await page.goto(cluster.url);
    await page.getByLabel('Display name').fill('Phone user');
    await page.getByRole('button', { name: 'Enter chat' }).click();
    await expect(connection(page)).toHaveText('Connected');
    const box = await page.locator('.room-header').boundingBox();
    expect(box).not.toBeNull();
    // Everything above the room's title: the top bar and the room bar with the join form.
    expect(box?.y).toBeLessThanOrEqual(110);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    expect(overflow).toBe(false);
    await expect(page.getByRole('button', { name: 'Join room' })).toBeVisible();
    await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
    if (process.env.UPDATE_SCREENSHOT) {
      await page.screenshot({ path: new URL('../../../docs/phone.png', import.meta.url).pathname });
    }
    await context.close();
  });
});

test.describe('the UI with one server and the in-memory broker', () => {
  let proc: ChildProcess | undefined;
  let port = 0;

  async function startServer(): Promise<void> {
    const child = spawn(process.execPath, [DEFAULT_SERVER_ENTRY], {
      cwd: fileURLToPath(new URL('../../..', import.meta.url)),
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_FORMAT: 'json',
        TOKEN_SECRET: 'x'.repeat(40),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    proc = child;
    for await (const chunk of child.stdout) if (String(chunk).includes('chat ready at')) break;
    child.stdout.resume();
  }

  async function stopServer(): Promise<void> {
    const child = proc;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }

  test.beforeAll(async () => {
    port = await freePort();
    await startServer();
  });
  test.afterAll(async () => {
    await stopServer();
  });

  test('a restart of the in-memory broker says the history is gone instead of silently wiping it', async ({
    browser,
  }) => {
    const page = await openChat(browser, `http://127.0.0.1:${port}`, 'Cy');
    await say(page, 'kept only in memory');
    await expect.poll(() => shownTexts(page)).toEqual(['kept only in memory']);
    await stopServer();
    await startServer();
    await expect(connection(page)).toHaveText('Connected', { timeout: 20_000 });
    await expect(page.getByRole('alert')).toContainText('earlier messages are gone');
    await expect.poll(() => shownTexts(page)).toEqual([]);
    await page.getByRole('button', { name: 'Dismiss' }).click();
    await expect(page.getByRole('alert')).toHaveCount(0);
    await page.context().close();
  });
});
