import { type Cluster, startCluster } from '@chat/cluster';
import { expect, test } from '@playwright/test';
import {
  connection,
  messageLog,
  openChat,
  podOf,
  recordConnectionTexts,
  say,
  shownTexts,
  unconfirmed,
} from '../support/ui.js';

/** Two people chat in a browser; the server drops one socket; the UI says so and loses nothing. */
test.describe('chat in the browser', () => {
  let cluster: Cluster;
  test.beforeAll(async () => {
    cluster = await startCluster({ pods: 2, env: { HEARTBEAT_MS: '5000' } });
  });
  test.afterAll(async () => {
    await cluster?.stop();
  });

  test('two users see each other, and a dropped socket shows reconnecting then connected with nothing lost or doubled', async ({
    browser,
  }) => {
    const url = cluster.state().url;
    const ada = await openChat(browser, url, 'Ada');
    const bob = await openChat(browser, url, 'Bob');
    await expect(ada.getByRole('list', { name: 'Online in #general' })).toContainText('Bob');

    await say(ada, 'hello from Ada');
    await say(bob, 'hi Ada, Bob here');
    for (const page of [ada, bob]) {
      await expect(messageLog(page)).toContainText('hello from Ada');
      await expect(messageLog(page)).toContainText('hi Ada, Bob here');
    }

    // The server side drops Ada's socket without a close frame (her pod is killed).
    const adaPod = await podOf(ada);
    const texts = await recordConnectionTexts(ada);
    await cluster.killPod(adaPod, { replace: true });
    await expect.poll(async () => (await texts()).some((t) => t.startsWith('Reconnecting'))).toBe(true);
    await say(ada, 'typed while reconnecting');
    await expect(connection(ada)).toHaveText('Connected', { timeout: 20_000 });
    expect((await texts()).at(-1)).toBe('Connected');
    expect(await podOf(ada)).not.toBe(adaPod);

    await say(bob, 'still there?');
    for (const page of [ada, bob]) {
      await expect.poll(() => unconfirmed(page)).toBe(0);
      await expect
        .poll(() => shownTexts(page))
        .toEqual(['hello from Ada', 'hi Ada, Bob here', 'typed while reconnecting', 'still there?']);
    }
    if (process.env.UPDATE_SCREENSHOT) {
      await ada.setViewportSize({ width: 1100, height: 700 });
      await ada.screenshot({ path: new URL('../../../docs/screenshot.png', import.meta.url).pathname });
    }
  });

  test('renders HTML and script in names and messages as text', async ({ browser }) => {
    const url = cluster.state().url;
    const evilName = '<img src=x onerror=__xss=1>'; // within the 32-character name limit
    const evil = await openChat(browser, url, evilName);
    const other = await openChat(browser, url, 'Carol');
    const payload = '<script>window.__xss=2</script><b>bold?</b>';
    await say(evil, payload);
    for (const page of [evil, other]) {
      await expect(messageLog(page)).toContainText(payload);
      await expect(messageLog(page)).toContainText(evilName);
      expect(await messageLog(page).locator('script, img, b').count()).toBe(0);
      expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    }
  });
});
