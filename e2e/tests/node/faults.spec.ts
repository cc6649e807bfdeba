import { type Cluster, startCluster } from '@chat/cluster';
import { expect, test } from '@playwright/test';
import { figures, type Member, podsWithBroker, sendLoad, startFleet } from '../support/fleet.js';

/** Faults a Deployment does not schedule: a pod killed with SIGKILL, Redis going away. */
test.describe('faults under traffic', () => {
  let cluster: Cluster;
  let fleet: Member[] = [];

  test.beforeEach(async () => {
    cluster = await startCluster({ pods: 3, env: { HEARTBEAT_MS: '5000', RATE_LIMIT_PER_S: '100' } });
    fleet = await startFleet(cluster.state().url, 60, ['faults']);
  });
  test.afterEach(async () => {
    for (const m of fleet) m.client.close();
    await cluster?.stop();
  });

  test('kill -9 of a pod: its clients reconnect on the 1006 path and resume with nothing lost', async () => {
    const load = sendLoad(fleet, 20);
    await expect.poll(() => figures(fleet, 0).acked).toBeGreaterThan(20);
    const victim = cluster.pods().find((p) => p.connections > 0);
    if (!victim) throw new Error('no pod holds connections');
    const onVictim = fleet.filter((m) => m.nodes.at(-1) === victim.id);
    expect(onVictim.length).toBeGreaterThan(0);
    const killed = await cluster.killPod(victim.id);
    expect(killed.exit.signal).toBe('SIGKILL');
    await expect
      .poll(() => onVictim.filter((m) => m.client.status.state === 'open').length)
      .toBe(onVictim.length);
    for (const m of onVictim) {
      expect(m.closeCodes).toContain(1006);
      expect(m.nodes.at(-1)).not.toBe(victim.id);
    }
    await load.stop();
    await expect.poll(() => figures(fleet, 0).lost, { timeout: 30_000 }).toBe(0);
    const f = figures(fleet, 0);
    console.log(`kill -9: ${onVictim.length} clients moved; ${JSON.stringify(f)}`);
    expect(f.duplicates).toBe(0);
    expect(f.failedSends).toBe(0);
  });

  test('Redis stopped mid-traffic: every pod reports it and stays ready, sends wait and are delivered after recovery, nothing acked is lost', async () => {
    const load = sendLoad(fleet, 20);
    await expect.poll(() => figures(fleet, 0).acked).toBeGreaterThan(20);
    const ackedBefore = figures(fleet, 0).acked;
    await cluster.stopRedis();
    await expect.poll(() => podsWithBroker(cluster, 'unavailable'), { timeout: 10_000 }).toBe(3);
    // A shared outage keeps the fleet in the Service (README "Readiness choice").
    expect(cluster.pods().filter((p) => p.ready).length).toBe(3);
    // Sends keep being offered during the outage: they stay pending (refused as unavailable), not lost.
    await expect.poll(() => fleet.reduce((n, m) => n + m.client.pending().length, 0)).toBeGreaterThan(5);
    const stalled = figures(fleet, 0).acked;
    await cluster.startRedis();
    await expect.poll(() => podsWithBroker(cluster, 'ok'), { timeout: 20_000 }).toBe(3);
    await expect.poll(() => figures(fleet, 0).acked, { timeout: 20_000 }).toBeGreaterThan(stalled + 20);
    await load.stop();
    await expect
      .poll(() => fleet.reduce((n, m) => n + m.client.pending().length, 0), { timeout: 30_000 })
      .toBe(0);
    await expect.poll(() => figures(fleet, 0).lost, { timeout: 30_000 }).toBe(0);
    const f = figures(fleet, 0);
    console.log(`redis outage: acked before ${ackedBefore}, at outage ${stalled}; ${JSON.stringify(f)}`);
    expect(f.duplicates).toBe(0);
    expect(f.failedSends).toBe(0);
  });
});
