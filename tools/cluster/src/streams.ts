import { Redis } from 'ioredis';

export interface StoredMessage {
  id: string;
  room: string;
  clientMsgId: string | undefined;
}

/**
 * Every message in every stream in Redis (SCAN by type, XRANGE - +), keyed by the room in
 * its body: the ground truth of what was stored, found without the broker's private key format.
 */
export async function streamEntries(redisUrl: string): Promise<StoredMessage[]> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const out: StoredMessage[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'COUNT', 1000, 'TYPE', 'stream');
      cursor = next;
      for (const key of keys) {
        for (const [id, fields] of await redis.xrange(key, '-', '+')) {
          const body = JSON.parse(fields[fields.indexOf('b') + 1] ?? '{}') as {
            room?: string;
            clientMsgId?: string;
          };
          out.push({ id, room: body.room ?? key, clientMsgId: body.clientMsgId });
        }
      }
    } while (cursor !== '0');
    return out;
  } finally {
    redis.disconnect();
  }
}

/** Acked ids missing from their room's stream, and clientMsgIds stored more than once. */
export async function checkAgainstStreams(
  redisUrl: string,
  acked: readonly { room: string; id: string }[],
): Promise<{ stored: number; missing: string[]; storedTwice: string[] }> {
  const entries = await streamEntries(redisUrl);
  const stored = new Set(entries.map((e) => `${e.room}\n${e.id}`));
  const missing = acked.filter((a) => !stored.has(`${a.room}\n${a.id}`)).map((a) => `${a.room}/${a.id}`);
  const counts = new Map<string, number>();
  for (const e of entries) {
    const key = `${e.room}\n${e.clientMsgId ?? e.id}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const storedTwice = [...counts].filter(([, n]) => n > 1).map(([k]) => k.replace('\n', '/'));
  return { stored: entries.length, missing, storedTwice };
}
