import { writeFileSync } from 'node:fs';
import { type Cluster, startCluster } from '@chat/cluster';
import { expect, test } from '@playwright/test';
import { figures, type Member, sendLoad, startFleet } from '../support/fleet.js';

/**
 * Rolling updates under load, as a Deployment rollout does them (maxSurge 1, maxUnavailable 0):
 * every pod replaced while the clients keep sending. Nothing acked may be lost or doubled, and
 * every client must end up reconnected on a new pod. Figures are printed and, with
 * ROLL_FIGURES_FILE set, written as JSON (bench/ records them).
 */
const scenarios = [
  { name: '200 clients, one room, 25 msg/s', clients: 200, rooms: 1, rate: 25 },
  { name: '1000 clients, 10 rooms, 50 msg/s', clients: 1000, rooms: 10, rate: 50 },
];

for (const s of scenarios) {
  test.describe(`rolling update: ${s.name}`, () => {
    let cluster: Cluster | undefined;
    let fleet: Member[] = [];

    test.afterAll(async () => {
      for (const m of fleet) m.client.close();
      await cluster?.stop();
    });

    test('loses nothing acked, duplicates nothing, reconnects everyone to new pods', async () => {
      cluster = await startCluster({
        pods: 3,
        env: {
          DRAIN_WINDOW_MS: '5000',
          SHUTDOWN_TIMEOUT_MS: '20000',
          RATE_LIMIT_PER_S: '100',
          RATE_LIMIT_BURST: '200',
          HEARTBEAT_MS: '5000',
        },
      });
      const rooms = Array.from({ length: s.rooms }, (_, i) => `roll-${i}`);
      fleet = await startFleet(cluster.state().url, s.clients, rooms);
      const before = new Set(cluster.pods().map((p) => p.id));
      expect(new Set(fleet.map((m) => m.nodes.at(-1))).size).toBe(3);

      const load = sendLoad(fleet, s.rate);
      const rolled = await cluster.roll();
      expect(rolled.steps.map((step) => step.exit.code)).toEqual([0, 0, 0]);
      const onNewPod = () =>
        fleet.filter((m) => m.client.status.state === 'open' && !before.has(m.nodes.at(-1) ?? '')).length;
      await expect.poll(onNewPod, { timeout: 60_000 }).toBe(fleet.length);
      await load.stop();
      await expect.poll(() => figures(fleet, rolled.durationMs).lost, { timeout: 60_000 }).toBe(0);

      const f = figures(fleet, rolled.durationMs);
      console.log(`rolling update (${s.name}): ${JSON.stringify(f)}`);
      test.info().annotations.push({ type: 'figures', description: JSON.stringify(f) });
      if (process.env.ROLL_FIGURES_FILE)
        writeFileSync(process.env.ROLL_FIGURES_FILE, `${JSON.stringify(f)}\n`, { flag: 'a' });
      expect(f.acked).toBeGreaterThan(s.rate * 2);
      expect(f.lost).toBe(0);
      expect(f.duplicates).toBe(0);
      expect(f.failedSends).toBe(0);
      expect(f.reconnected).toBe(fleet.length);
      // Every member of a room saw exactly the same messages.
      for (const room of rooms) {
        const members = fleet.filter((m) => m.room === room);
        const reference = [...(members[0]?.seen.keys() ?? [])].sort();
        for (const m of members) expect([...m.seen.keys()].sort()).toEqual(reference);
      }
    });
  });
}
