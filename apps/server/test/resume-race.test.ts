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
      message: (room: string, id: string, body: string) => hold(() => listener.message(room, id, body)),
      presence: (room: string, delta: PresenceDelta) => hold(() => listener.presence(room, delta)),
      resubscribed: () => listener.resubscribed(),
    });
  }
}

describe('resume while live delivery lags behind history', () => {
  const broker = new LaggingBroker({ nodeId: 'lag', maxLen: 100, idempotencyTtlS: 60 });
  let srv: RunningApp;
  beforeAll(async () => {
    srv = await startApp({}, { broker });
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
});
