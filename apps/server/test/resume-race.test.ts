import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../src/broker/memory.js';
import type { BrokerListener, PresenceDelta } from '../src/broker/types.js';
import { type RunningApp, startApp, TestClient } from './harness.js';

/**
 * A broker whose live delivery lags behind its history, as Redis pub/sub (subscriber
 * connection) can lag behind a history read (command connection) on the same pod.
 */
class LaggingBroker extends MemoryBroker {
  private held: (() => void)[] | undefined;
  /** Live copies to drop, as pub/sub does on a reconnect or an output-buffer overflow. */
  dropNext = 0;

  lag(): void {
    this.held = [];
  }

  catchUp(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const deliver of held) deliver();
  }

  override setListener(listener: BrokerListener): void {
    const hold = (deliver: () => void) => (this.held ? this.held.push(deliver) : deliver());
    super.setListener({
      message: (room: string, id: string, prev: string, body: string) => {
        if (this.dropNext > 0) this.dropNext--;
        else hold(() => listener.message(room, id, prev, body));
      },
      presence: (room: string, delta: PresenceDelta) => hold(() => listener.presence(room, delta)),
      resubscribed: () => listener.resubscribed(),
    });
  }
}

describe('resume while live delivery lags behind history', () => {
  const broker = new LaggingBroker({ nodeId: 'lag', maxLen: 100, idempotencyTtlS: 60 });
  let srv: RunningApp;
  beforeAll(async () => {
    srv = await startApp({ LIVE_CHECK_MS: '100' }, { broker });
  });
  afterAll(async () => {
    await srv.close();
    await broker.close();
  });

  it('does not deliver live a message the replay already contained', async () => {
    const writer = await TestClient.connect(srv.wsUrl, srv.token('writer'));
    await writer.join('race');
    const seen = await writer.say('race', 'seen before leaving');

    broker.lag();
    const replayed = await writer.say('race', 'stored, not yet delivered live');
    const reader = await TestClient.connect(srv.wsUrl, srv.token('reader'));
    const joined = await reader.join('race', seen.id);
    expect(joined.messages.map((m) => m.id)).toEqual([replayed.id]);

    broker.catchUp(); // the live copy of the replayed message reaches the pod now
    const after = await writer.say('race', 'after');
    await reader.next('msg', (m) => m.id === after.id);
    expect(reader.messages('race').map((m) => m.id)).toEqual([after.id]);
    await Promise.all([reader.close(), writer.close()]);
  });

  it('a dropped live copy is read from history before the next message is delivered', async () => {
    const writer = await TestClient.connect(srv.wsUrl, srv.token('writer'));
    const reader = await TestClient.connect(srv.wsUrl, srv.token('reader'));
    await writer.join('drop');
    await reader.join('drop');
    const first = await writer.say('drop', 'one');
    await reader.next('msg', (m) => m.id === first.id);
    broker.dropNext = 1;
    const lost = await writer.say('drop', 'two, never published');
    const third = await writer.say('drop', 'three');
    await reader.next('msg', (m) => m.id === third.id);
    expect(reader.messages('drop').map((m) => [m.id, m.prev])).toEqual([
      [first.id, '0-0'],
      [lost.id, first.id],
      [third.id, lost.id],
    ]);
    expect(await counter(srv, 'chat_live_healed_messages_total{reason="gap"')).toBeGreaterThanOrEqual(1);
    await Promise.all([reader.close(), writer.close()]);
  });

  it('a dropped last message, with nothing after it, is found by the tail check', async () => {
    const writer = await TestClient.connect(srv.wsUrl, srv.token('writer'));
    const reader = await TestClient.connect(srv.wsUrl, srv.token('reader'));
    await writer.join('tail');
    await reader.join('tail');
    broker.dropNext = 1;
    const lost = await writer.say('tail', 'the last one, never published');
    await reader.next('msg', (m) => m.id === lost.id);
    expect(await counter(srv, 'chat_live_healed_messages_total{reason="tail"')).toBeGreaterThanOrEqual(1);
    await Promise.all([reader.close(), writer.close()]);
  });
});

describe('the tail check on idle rooms', () => {
  const PERIOD_MS = 40;
  const ROOMS = 60;
  const broker = new LaggingBroker({ nodeId: 'idle', maxLen: 100, idempotencyTtlS: 60 });
  let srv: RunningApp;
  beforeAll(async () => {
    srv = await startApp(
      { LIVE_CHECK_MS: String(PERIOD_MS), MAX_ROOMS_PER_CONN: String(ROOMS), RATE_LIMIT_BURST: '200' },
      { broker },
    );
  });
  afterAll(async () => {
    await srv.close();
    await broker.close();
  });

  it('reads idle rooms less and less often, and still finds a lost message in one', async () => {
    const writer = await TestClient.connect(srv.wsUrl, srv.token('writer'));
    const reader = await TestClient.connect(srv.wsUrl, srv.token('reader'));
    const rooms = Array.from({ length: ROOMS }, (_, i) => `idle-${i}`);
    for (const room of rooms) await reader.join(room);
    await writer.join('idle-0');
    // The check as it runs (its own counters): read every room at every period, it would read
    // ROOMS per period; backed off, an idle room is read once in 2^MAX_BACKOFF_SHIFT (16).
    const checks = () => counter(srv, 'chat_live_tail_checks_total');
    const reads = () => counter(srv, 'chat_live_tail_reads_total');
    const start = { checks: await checks(), reads: await reads() };
    await expect.poll(checks, { timeout: 20_000 }).toBeGreaterThanOrEqual(start.checks + 64);
    const settled = { checks: await checks(), reads: await reads() };
    await expect.poll(checks, { timeout: 20_000 }).toBeGreaterThanOrEqual(settled.checks + 32);
    const end = { checks: await checks(), reads: await reads() };
    const atRest = (end.reads - settled.reads) / (end.checks - settled.checks);
    expect(atRest).toBeLessThanOrEqual(ROOMS / 8);

    broker.dropNext = 1;
    const lost = await writer.say('idle-0', 'after a long silence, never published');
    const sentAt = performance.now();
    await reader.next('msg', (m) => m.id === lost.id, 10_000);
    const foundMs = performance.now() - sentAt;
    console.log(
      `tail check: ${ROOMS} idle rooms read ${atRest.toFixed(1)} per period at rest (was ${ROOMS}); ` +
        `a lost message in an idle room found after ${Math.round(foundMs)} ms (${(foundMs / PERIOD_MS).toFixed(1)} periods)`,
    );
    // Found within two of the longest waits (the reading that sees it, then the one that judges).
    expect(foundMs).toBeLessThan(2 * 16 * PERIOD_MS + 1000);
    await Promise.all([reader.close(), writer.close()]);
  });
});

async function counter(srv: RunningApp, prefix: string): Promise<number> {
  const text = await srv.app.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}
