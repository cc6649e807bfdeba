import type { ServerFrame } from '@chat/protocol';
import { randomId, type TestClient } from './harness.js';

export interface Acked {
  clientMsgId: string;
  id: string;
  sentAt: number;
  ackedAt: number;
  attempts: number;
}

/**
 * Sends like a real client does: one clientMsgId per message, resent (after a short pause) on
 * `unavailable` / `outcome_unknown` / no answer until it is acked. Resolves with the ack.
 */
export async function sendUntilAcked(
  client: TestClient,
  room: string,
  text: string,
  opts: { answerTimeoutMs?: number; retryMs?: number; stop?: () => boolean } = {},
): Promise<Acked | undefined> {
  const clientMsgId = randomId();
  const sentAt = Date.now();
  for (let attempts = 1; ; attempts++) {
    const before = client.frames.length;
    client.send({ type: 'send', room, clientMsgId, text });
    const answer = await waitAnswer(client, clientMsgId, before, opts.answerTimeoutMs ?? 5000);
    if (answer?.type === 'ack') return { clientMsgId, id: answer.id, sentAt, ackedAt: Date.now(), attempts };
    if (answer?.type === 'error' && answer.code !== 'unavailable' && answer.code !== 'outcome_unknown')
      throw new Error(`send refused: ${answer.code} ${answer.message}`);
    if (opts.stop?.()) return undefined;
    await new Promise((r) => setTimeout(r, opts.retryMs ?? 100));
  }
}

function waitAnswer(
  client: TestClient,
  clientMsgId: string,
  from: number,
  timeoutMs: number,
): Promise<ServerFrame | undefined> {
  const match = (f: ServerFrame) =>
    (f.type === 'ack' && f.clientMsgId === clientMsgId) || (f.type === 'error' && f.ref === clientMsgId);
  const seen = client.frames.slice(from).find(match);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.ws.off('message', check);
      resolve(undefined);
    }, timeoutMs);
    // ProtocolClient pushes a frame before emitting to later listeners: look at the new tail.
    const check = () => {
      const f = client.frames.slice(from).find(match);
      if (!f) return;
      clearTimeout(timer);
      client.ws.off('message', check);
      resolve(f);
    };
    client.ws.on('message', check);
  });
}
