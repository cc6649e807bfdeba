import { type Cluster, startCluster } from '@chat/cluster';
import { expect, type Page, test } from '@playwright/test';
import { podsWithBroker } from '../support/fleet.js';
import { connection, openChat, podOf, say, shownTexts, unconfirmed } from '../support/ui.js';

/**
 * The demo people run to trust the template, as a test: three browser users in one room, one
 * per pod, keep typing while a rolling update replaces every pod; then everyone shows every
 * message exactly once, in the same order, and sits on a pod that did not exist before.
 * Also a pod killed with SIGKILL, and Redis stopped for a few seconds.
 */
test.describe('browsers during cluster operations', () => {
  let cluster: Cluster;
  let pages: Page[] = [];

  test.beforeEach(async ({ browser }) => {
    cluster = await startCluster({ pods: 3, env: { DRAIN_WINDOW_MS: '3000', HEARTBEAT_MS: '5000' } });
    const url = cluster.state().url;
    pages = [];
    for (const name of ['Ada', 'Bob', 'Cy']) pages.push(await openChat(browser, url, name));
  });
  test.afterEach(async () => {
    await Promise.all(pages.map((p) => p.context().close()));
    await cluster?.stop();
  });

  /** Each page types a numbered message every `everyMs` until stopped; returns the texts typed. */
  function typing(everyMs: number) {
    const typed: string[] = [];
    let running = true;
    const loops = pages.map(async (page, i) => {
      for (let n = 0; running; n++) {
        const text = `user${i} message ${n}`;
        await say(page, text);
        typed.push(text);
        await page.waitForTimeout(everyMs); // pacing of the simulated typist, not a wait for state
      }
    });
    return {
      typed,
      async stop() {
        running = false;
        await Promise.all(loops);
      },
    };
  }

  async function expectEveryoneConsistent(typed: string[]) {
    for (const page of pages) {
      await expect(connection(page)).toHaveText('Connected', { timeout: 30_000 });
      await expect.poll(() => unconfirmed(page), { timeout: 30_000 }).toBe(0);
    }
    await expect
      .poll(async () => (await shownTexts(pages[0] as Page)).length, { timeout: 30_000 })
      .toBe(typed.length);
    const reference = await shownTexts(pages[0] as Page);
    expect(new Set(reference).size).toBe(reference.length); // no duplicates
    expect([...reference].sort()).toEqual([...typed].sort()); // nothing lost
    for (const page of pages.slice(1)) await expect.poll(() => shownTexts(page)).toEqual(reference); // same order
  }

  test('rolling update of every pod while three users type', async () => {
    const before = await Promise.all(pages.map(podOf));
    expect(new Set(before).size).toBe(3); // one user per pod
    const t = typing(250);
    await expect.poll(() => t.typed.length).toBeGreaterThan(6);
    const rolled = await cluster.roll();
    expect(rolled.steps.map((s) => s.exit.code)).toEqual([0, 0, 0]);
    await expect.poll(() => t.typed.length).toBeGreaterThan(rolled.steps.length * 3 + 12);
    await t.stop();
    await expectEveryoneConsistent(t.typed);
    const after = await Promise.all(pages.map(podOf));
    for (const pod of after) expect(before).not.toContain(pod);
    console.log(
      `browser roll: ${t.typed.length} messages, pods ${before.join(',')} -> ${after.join(',')}, ${rolled.durationMs} ms`,
    );
  });

  test('kill -9 of the pod a user is on: reconnects and resumes with nothing lost', async () => {
    const victim = await podOf(pages[0] as Page);
    const t = typing(250);
    await expect.poll(() => t.typed.length).toBeGreaterThan(6);
    await cluster.killPod(victim, { replace: true });
    await expect.poll(() => podOf(pages[0] as Page), { timeout: 20_000 }).not.toBe(victim);
    await expect.poll(() => t.typed.length).toBeGreaterThan(t.typed.length + 6);
    await t.stop();
    await expectEveryoneConsistent(t.typed);
  });

  test('Redis stopped for a few seconds: messages wait as pending, then arrive once; pods report it and stay ready', async () => {
    const t = typing(300);
    await expect.poll(() => t.typed.length).toBeGreaterThan(6);
    await cluster.stopRedis();
    await expect.poll(() => podsWithBroker(cluster, 'unavailable'), { timeout: 10_000 }).toBe(3);
    expect(cluster.pods().filter((p) => p.ready).length).toBe(3);
    // Typed during the outage: shown as pending (not dropped, not failed).
    await expect.poll(() => unconfirmed(pages[0] as Page), { timeout: 10_000 }).toBeGreaterThan(0);
    await cluster.startRedis();
    await expect.poll(() => podsWithBroker(cluster, 'ok'), { timeout: 20_000 }).toBe(3);
    await expect.poll(() => t.typed.length).toBeGreaterThan(t.typed.length + 6);
    await t.stop();
    await expectEveryoneConsistent(t.typed);
  });
});
