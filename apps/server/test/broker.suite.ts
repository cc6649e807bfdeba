import { compareIds, ZERO_ID } from '@chat/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Broker, BrokerListener, PresenceDelta } from '../src/broker/types.js';

export interface BrokerFactory {
  name: string;
  /** Two brokers sharing one store (for Redis: two pods); memory returns the same one twice. */
  create(opts: { maxLen: number }): Promise<{ a: Broker; b: Broker; close(): Promise<void>; nodeA: string }>;
}

export class Recorder implements BrokerListener {
  readonly messages: { room: string; id: string; prev: string; body: string }[] = [];
  readonly deltas: { room: string; delta: PresenceDelta }[] = [];
  resubscribes = 0;
  message(room: string, id: string, prev: string, body: string): void {
    this.messages.push({ room, id, prev, body });
  }
  presence(room: string, delta: PresenceDelta): void {
    this.deltas.push({ room, delta });
  }
  resubscribed(): void {
    this.resubscribes++;
  }
}

const body = (text: string) => JSON.stringify({ room: 'r', text });

/** One behaviour, two implementations: every broker must pass this suite unchanged. */
export function brokerSuite(factory: BrokerFactory): void {
  describe(`${factory.name} broker`, () => {
    let a: Broker;
    let b: Broker;
    let close: () => Promise<void>;
    let nodeA: string;
    let rec: Recorder;
    let room: string;
    let n = 0;

    beforeEach(async () => {
      ({ a, b, close, nodeA } = await factory.create({ maxLen: 20 }));
      rec = new Recorder();
      b.setListener(rec);
      room = `room-${Date.now().toString(36)}-${n++}`;
    });
    afterEach(async () => close());

    it('appends with increasing ids and delivers to subscribers in id order', async () => {
      await b.subscribe(room);
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) ids.push((await a.append(room, body(`m${i}`), `k${i}`)).id);
      expect([...ids].sort(compareIds)).toEqual(ids);
      await expect.poll(() => rec.messages.length).toBe(10);
      expect(rec.messages.map((m) => m.id)).toEqual(ids);
      expect(rec.messages[3]?.body).toBe(body('m3'));
    });

    it('chains every live message to the entry before it in history (prev)', async () => {
      await b.subscribe(room);
      const ids: string[] = [];
      // More than maxLen: trimming never removes the newest entry, so the chain holds.
      for (let i = 0; i < 30; i++) ids.push((await a.append(room, body(`p${i}`), `p${i}`)).id);
      await a.append(room, body('p29'), 'p29'); // a duplicate publishes nothing
      await expect.poll(() => rec.messages.length).toBe(30);
      expect(rec.messages.map((m) => m.prev)).toEqual([ZERO_ID, ...ids.slice(0, -1)]);
      expect(await b.lastIds([room, `${room}-none`])).toEqual([ids.at(-1), ZERO_ID]);
    });

    it('delivers concurrent appends from two publishers in id order', async () => {
      await b.subscribe(room);
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).append(room, body(`c${i}`), `c${i}`)),
      );
      await expect.poll(() => rec.messages.length).toBe(40);
      const delivered = rec.messages.map((m) => m.id);
      expect(delivered).toEqual([...delivered].sort(compareIds));
      expect(new Set(delivered)).toEqual(new Set(results.map((r) => r.id)));
    });

    it('stores a repeated idempotency key once and returns the first id', async () => {
      await b.subscribe(room);
      const first = await a.append(room, body('once'), 'same-key');
      const again = await b.append(room, body('once'), 'same-key');
      expect(again).toEqual({ id: first.id, duplicate: true });
      expect(await a.latest(room, 10)).toHaveLength(1);
      await expect.poll(() => rec.messages.length).toBe(1);
    });

    it('remembers a clientMsgId while its message is in history, and forgets it with the message', async () => {
      const first = await a.append(room, body('k0'), 'k0');
      // Far past maxLen 20, so even approximate trimming (Redis, whole nodes) drops k0.
      for (let i = 1; i < 400; i++) await a.append(room, body(`k${i}`), `k${i}`);
      // The oldest message still in history is still recognised...
      const kept = await a.latest(room, 1000);
      const oldest = kept[0];
      const oldestKey = `k${(JSON.parse(oldest?.body ?? '{}') as { text: string }).text.slice(1)}`;
      expect(await b.append(room, body('again'), oldestKey)).toEqual({ id: oldest?.id, duplicate: true });
      // ...one trimmed away is not (the room holds ids for its history only).
      expect(kept.some((e) => e.id === first.id)).toBe(false);
      const again = await b.append(room, body('k0'), 'k0');
      expect(again.duplicate).toBe(false);
      expect(compareIds(again.id, first.id)).toBeGreaterThan(0);
      expect(await a.append(room, body('k0'), 'k0')).toEqual({ id: again.id, duplicate: true });
    });

    it('serves the exact range after an id, and the latest page', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 15; i++) ids.push((await a.append(room, body(`m${i}`), `k${i}`)).id);
      const r = await b.range(room, ids[4] as string);
      expect(r.complete && r.entries.map((e) => e.id)).toEqual(ids.slice(5));
      const all = await b.range(room, ZERO_ID);
      expect(all.complete && all.entries).toHaveLength(15);
      const none = await b.range(room, ids[14] as string);
      expect(none).toEqual({ complete: true, entries: [] });
      expect((await b.latest(room, 3)).map((e) => e.id)).toEqual(ids.slice(12));
      expect(await b.lastId(room)).toBe(ids[14]);
      // A page: at most `count`, read on from its last id.
      const page = await b.range(room, ids[4] as string, 4);
      expect(page.complete && page.entries.map((e) => e.id)).toEqual(ids.slice(5, 9));
      const tail = await b.range(room, ids[12] as string, 4);
      expect(tail.complete && tail.entries.map((e) => e.id)).toEqual(ids.slice(13));
    });

    it('reports a resume point that history no longer covers', async () => {
      const ids: string[] = [];
      // Far past maxLen 20 so even approximate trimming (Redis MAXLEN ~) drops the oldest.
      for (let i = 0; i < 400; i++) ids.push((await a.append(room, body(`m${i}`), `k${i}`)).id);
      expect(await b.range(room, ids[0] as string)).toEqual({ complete: false, reason: 'trimmed' });
      expect(await b.range(room, ZERO_ID)).toEqual({ complete: false, reason: 'trimmed' });
      const recent = await b.range(room, ids[390] as string);
      expect(recent.complete && recent.entries.map((e) => e.id)).toEqual(ids.slice(391));
      expect(await b.range(room, '99999999999999-0')).toEqual({ complete: false, reason: 'unknown_id' });
      expect(await b.range(`${room}-empty`, '5-0')).toEqual({ complete: false, reason: 'unknown_id' });
      expect(await b.range(`${room}-empty`, ZERO_ID)).toEqual({ complete: true, entries: [] });
    });

    it('tells an id from a lost history (older than a never-trimmed stream) apart', async () => {
      const { id } = await a.append(room, body('after a restart'), 'k');
      expect(await b.range(room, '1-0')).toEqual({ complete: false, reason: 'unknown_id' });
      const all = await b.range(room, ZERO_ID);
      expect(all.complete && all.entries.map((e) => e.id)).toEqual([id]);
    });

    it('tracks presence and announces joins and leaves', async () => {
      await b.subscribe(room);
      await a.presence.add(room, { key: 'n1/c1', id: 'u1', name: 'Ada' });
      await a.presence.add(room, { key: 'n1/c2', id: 'u2', name: 'Bob' });
      await a.presence.remove(room, 'n1/c1');
      await a.presence.remove(room, 'n1/c1'); // twice: announced once
      expect(await b.presence.list(room)).toEqual([{ key: 'n1/c2', id: 'u2', name: 'Bob' }]);
      await expect.poll(() => rec.deltas.length).toBe(3);
      expect(rec.deltas.map((d) => d.delta)).toEqual([
        { join: { key: 'n1/c1', id: 'u1', name: 'Ada' } },
        { join: { key: 'n1/c2', id: 'u2', name: 'Bob' } },
        { leave: 'n1/c1' },
      ]);
    });

    it("reaps a stopped node's entries room by room, announcing each leave, and keeps the others", async () => {
      await b.subscribe(room);
      const other = `${room}-b`;
      await b.subscribe(other);
      // Entries of node A (keys `<node>/...`), written through its broker, and one of another node.
      await a.presence.add(room, { key: `${nodeA}/c1`, id: 'u1', name: 'Ada' });
      await a.presence.add(other, { key: `${nodeA}/c2`, id: 'u2', name: 'Bob' });
      await a.presence.add(room, { key: 'alive/c3', id: 'u3', name: 'Cy' });
      await expect.poll(() => rec.deltas.length).toBe(3);
      expect(await b.nodes.reap(nodeA)).toBe(2);
      expect(await b.nodes.reap(nodeA)).toBe(0); // nothing left, nothing announced
      expect(await b.presence.list(room)).toEqual([{ key: 'alive/c3', id: 'u3', name: 'Cy' }]);
      expect(await b.presence.list(other)).toEqual([]);
      await expect.poll(() => rec.deltas.length).toBe(5);
      expect(
        rec.deltas
          .slice(3)
          .map((d) => `${d.room === room ? 'room' : 'other'}:${JSON.stringify(d.delta)}`)
          .sort(),
      ).toEqual([`other:{"leave":"${nodeA}/c2"}`, `room:{"leave":"${nodeA}/c1"}`]);
    });

    it('stops delivering after unsubscribe and reports health', async () => {
      await b.subscribe(room);
      await b.unsubscribe(room);
      await a.append(room, body('x'), 'x');
      await b.subscribe(room);
      const { id } = await a.append(room, body('y'), 'y');
      await expect.poll(() => rec.messages.map((m) => m.id)).toEqual([id]);
      expect(a.healthy()).toBe(true);
    });
  });
}
