import { type Cluster, startCluster } from '@chat/cluster';
import { expect, test } from '@playwright/test';
import { account, type Member, percentile, sendLoad, startFleet } from '../support/fleet.js';

/**
 * 200 Node clients in one room over 3 pods while every pod is replaced, as a Deployment
 * rollout does: 0 acked messages lost, 0 duplicates, and the reconnect times it took.
 */
test.describe('rolling update under 200 clients', () => {
  let cluster: Cluster;
  let fleet: Member[] = [];

  test.beforeAll(async () => {
    cluster = await startCluster({
      pods: 3,
      env: {
        DRAIN_WINDOW_MS: '3000',
        SHUTDOWN_TIMEOUT_MS: '15000',
        RATE_LIMIT_PER_S: '100',
        RATE_LIMIT_BURST: '200',
        HEARTBEAT_MS: '5000',
      },
    });
  });

  test.afterAll(async () => {
    for (const m of fleet) m.client.close();
    await cluster?.stop();
  });

  test('loses nothing acked, duplicates nothing, and reports reconnect times', async () => {
    const room = 'rollout';
    fleet = await startFleet(cluster.state().url, 200, room);
    const before = new Set(cluster.pods().map((p) => p.id));
    const spread = new Set(fleet.map((m) => m.nodes.at(-1)));
    expect(spread.size).toBe(3);

    const load = sendLoad(fleet, room, 25);
    const rolled = await cluster.roll();
    expect(rolled.steps.map((s) => s.exit.code)).toEqual([0, 0, 0]);
    // Everyone is back, on a pod that did not exist before the roll.
    await expect
      .poll(
        () =>
          fleet.filter((m) => m.client.status.state === 'open' && !before.has(m.nodes.at(-1) ?? '')).length,
        {
          timeout: 30_000,
        },
      )
      .toBe(fleet.length);
    await load.stop();

    const { acked, lost, duplicates } = account(fleet);
    await expect.poll(() => account(fleet).lost, { timeout: 30_000 }).toBe(0);
    const final = account(fleet);
    const failed = fleet.reduce((n, m) => n + m.failed, 0);
    const reconnects = fleet.flatMap((m) => m.reconnects);
    const summary = {
      clients: fleet.length,
      acked: final.acked,
      lostAtRollEnd: lost,
      lost: final.lost,
      duplicates: final.duplicates,
      failedSends: failed,
      reconnects: reconnects.length,
      reconnectP50Ms: Math.round(percentile(reconnects, 50)),
      reconnectP99Ms: Math.round(percentile(reconnects, 99)),
      rollMs: rolled.durationMs,
      drainMs: rolled.steps.map((s) => s.exit.drainMs),
    };
    console.log(`roll-200: ${JSON.stringify(summary)}`);
    test.info().annotations.push({ type: 'figures', description: JSON.stringify(summary) });
    expect(acked).toBeGreaterThan(50);
    expect(final.duplicates).toBe(0);
    expect(duplicates).toBe(0);
    expect(failed).toBe(0);
    expect(reconnects.length).toBeGreaterThanOrEqual(fleet.length);
    // Every member saw exactly the same messages (the client orders them by id).
    const reference = [...(fleet[0]?.seen.keys() ?? [])].sort();
    for (const m of fleet) expect([...m.seen.keys()].sort()).toEqual(reference);
  });
});
