import type { ClusterState } from '@chat/cluster';
import { type Cluster, startCluster } from '@chat/cluster';
import { expect, type Page, test } from '@playwright/test';
import { type Member, startFleet } from '../support/fleet.js';

interface Card {
  pod: string;
  state: string;
  count: number;
}

/** What the cluster view shows right now: one card per pod, in page order. */
function cards(page: Page): Promise<Card[]> {
  return page.locator('#cards article').evaluateAll((els) =>
    els.map((el) => ({
      pod: (el as HTMLElement).dataset.pod ?? '',
      state: el.querySelector('.state')?.textContent ?? '',
      count: Number(el.querySelector('.count')?.textContent),
    })),
  );
}

async function state(cluster: Cluster): Promise<ClusterState> {
  return (await fetch(`${cluster.url}/__cluster/state`)).json() as Promise<ClusterState>;
}

/** Every live pod of /__cluster/state has a card with its count; every other card says gone. */
async function viewMatchesState(page: Page, cluster: Cluster): Promise<string> {
  const [shown, s] = await Promise.all([cards(page), state(cluster)]);
  const problems: string[] = [];
  for (const p of s.pods) {
    const card = shown.find((c) => c.pod === p.id);
    if (!card) problems.push(`${p.id}: no card`);
    else if (card.count !== p.connections)
      problems.push(`${p.id}: shows ${card.count}, state ${p.connections}`);
  }
  for (const c of shown)
    if (!s.pods.some((p) => p.id === c.pod) && c.state !== 'gone')
      problems.push(`${c.pod}: ${c.state}, not in state`);
  return problems.join('; ') || 'match';
}

/**
 * The cluster view of `pnpm cluster` (/__cluster/ on the balancer): during a rolling update
 * started from its own button, its cards follow /__cluster/state, a draining pod is shown with
 * its connections going down, new pods with theirs coming up.
 */
test.describe('cluster view', () => {
  let cluster: Cluster;
  let fleet: Member[] = [];
  const CLIENTS = 24;

  test.beforeAll(async () => {
    // A slow drain (4 sockets/s) so the hand-over is visible, as in the demo.
    cluster = await startCluster({
      pods: 3,
      env: { DRAIN_MAX_CLOSE_RATE: '4', DRAIN_WINDOW_MS: '3000', HEARTBEAT_MS: '5000' },
    });
    fleet = await startFleet(cluster.url, CLIENTS, ['general']);
  });
  test.afterAll(async () => {
    for (const m of fleet) m.client.close();
    await cluster?.stop();
  });

  test('pods as cards with live counts that match /__cluster/state through a roll', async ({ page }) => {
    await page.goto(`${cluster.url}/__cluster/`);
    await expect(page.getByRole('status', { name: 'Cluster' })).toHaveText(
      `${CLIENTS} connections on 3 pods`,
    );
    await expect.poll(() => viewMatchesState(page, cluster)).toBe('match');
    expect((await cards(page)).map((c) => c.state)).toEqual(['ready', 'ready', 'ready']);
    await expect(page.getByRole('note', { name: 'Redis' })).toContainText('running');
    const before = (await state(cluster)).pods.map((p) => p.id);

    // What the page showed during the roll, every time it changed.
    await page.evaluate(() => {
      const w = window as unknown as { __seen: string[] };
      w.__seen = [];
      const root = document.getElementById('cards');
      if (!root) throw new Error('no cards');
      new MutationObserver(() => {
        for (const el of Array.from(root.querySelectorAll('article')))
          w.__seen.push(
            `${(el as HTMLElement).dataset.pod} ${el.querySelector('.state')?.textContent} ${el.querySelector('.count')?.textContent}`,
          );
      }).observe(root, { childList: true, subtree: true });
    });

    const steps: string[] = [];
    const checks: string[] = [];
    cluster.on('roll:step', (s) => steps.push(s.old));
    const done = cluster.waitFor('roll:done', () => true, 120_000);
    // While each old pod drains, the view and the API agree (checked once per step).
    const draining = new Promise<void>((resolve) => {
      let n = 0;
      cluster.on('pod:unroutable', () => {
        void expect
          .poll(() => viewMatchesState(page, cluster), { timeout: 5_000 })
          .toBe('match')
          .then(
            () => checks.push('match'),
            (err: Error) => checks.push(err.message),
          )
          .finally(() => {
            if (++n === 3) resolve();
          });
      });
    });
    await page.getByRole('button', { name: 'Rolling update' }).click();
    if (process.env.UPDATE_SCREENSHOT) {
      // Mid-roll: one card draining with connections left, a new one filling up.
      await expect
        .poll(async () => (await cards(page)).some((c) => c.state === 'draining' && c.count > 0), {
          timeout: 30_000,
        })
        .toBe(true);
      await page.setViewportSize({ width: 1240, height: 400 });
      await page.screenshot({ path: new URL('../../../docs/cluster-view.png', import.meta.url).pathname });
    }
    await done;
    await draining;
    expect(checks).toEqual(['match', 'match', 'match']);
    expect(steps).toEqual(before);

    await expect.poll(() => viewMatchesState(page, cluster), { timeout: 15_000 }).toBe('match');
    await expect(page.getByRole('status', { name: 'Cluster' })).toHaveText(
      `${CLIENTS} connections on 3 pods`,
      {
        timeout: 15_000,
      },
    );
    const after = await state(cluster);
    expect(after.pods.map((p) => p.id).some((id) => before.includes(id))).toBe(false);

    const seen = await page.evaluate(() => (window as unknown as { __seen: string[] }).__seen);
    const counts = (pod: string, st: string) =>
      seen
        .filter((l) => l.startsWith(`${pod} ${st} `))
        .map((l) => Number(l.split(' ').at(-1)))
        .filter((n, i, all) => i === 0 || n !== all[i - 1]);
    for (const pod of before) {
      // Each old pod was shown draining with connections still on it, going down, then gone.
      const drained = counts(pod, 'draining');
      expect(
        drained.length,
        `${pod} shown draining: ${seen.filter((l) => l.startsWith(pod)).join(' | ')}`,
      ).toBeGreaterThan(0);
      expect(Math.max(...drained)).toBeGreaterThan(0);
      expect([...drained].sort((a, b) => b - a)).toEqual(drained);
      expect(seen.some((l) => l.startsWith(`${pod} gone `))).toBe(true);
    }
    for (const p of after.pods)
      expect(seen.some((l) => l.startsWith(`${p.id} ready `) && !l.endsWith(' 0'))).toBe(true);
  });

  test('the buttons drive the control API: stop and start Redis, scale up and down', async ({ page }) => {
    await page.goto(`${cluster.url}/__cluster/`);
    const redis = page.getByRole('note', { name: 'Redis' });
    await expect(redis).toContainText('running');
    await page.getByRole('button', { name: 'Stop Redis' }).click();
    await expect(redis).toContainText('stopped');
    await expect.poll(async () => (await state(cluster)).redis.state).toBe('stopped');
    await page.getByRole('button', { name: 'Start Redis' }).click();
    await expect(redis).toContainText('running');

    await page.getByRole('button', { name: 'Scale up' }).click();
    await expect.poll(async () => (await state(cluster)).pods.length, { timeout: 30_000 }).toBe(4);
    await expect
      .poll(async () => (await cards(page)).filter((c) => c.state === 'ready').length, { timeout: 30_000 })
      .toBe(4);
    await page.getByRole('button', { name: 'Scale down' }).click();
    await expect.poll(async () => (await state(cluster)).pods.length, { timeout: 30_000 }).toBe(3);
    await expect.poll(() => viewMatchesState(page, cluster), { timeout: 15_000 }).toBe('match');
  });
});
