import { Redis } from 'ioredis';

/** Every entry of a room's stream in Redis (XRANGE - +): the ground truth of what was stored. */
export async function streamEntries(redisUrl: string, room: string): Promise<{ id: string; body: string }[]> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    // Found by type and name, not by the broker's private key format.
    let key: string | undefined;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
      cursor = next;
      for (const k of keys) if (k.includes(room) && (await redis.type(k)) === 'stream') key = k;
    } while (cursor !== '0');
    if (!key) return [];
    const rows = await redis.xrange(key, '-', '+');
    return rows.map(([id, fields]) => ({ id, body: fields[fields.indexOf('b') + 1] ?? '' }));
  } finally {
    redis.disconnect();
  }
}

/** Acked ids missing from the streams, and clientMsgIds stored more than once. */
export async function checkAgainstStreams(
  redisUrl: string,
  acked: readonly { room: string; id: string; clientMsgId: string }[],
): Promise<{ stored: number; missing: string[]; storedTwice: string[] }> {
  const rooms = [...new Set(acked.map((a) => a.room))];
  const byRoom = new Map(
    await Promise.all(rooms.map(async (r) => [r, await streamEntries(redisUrl, r)] as const)),
  );
  const missing: string[] = [];
  const storedTwice: string[] = [];
  let stored = 0;
  for (const [room, entries] of byRoom) {
    stored += entries.length;
    const ids = new Set(entries.map((e) => e.id));
    for (const a of acked) if (a.room === room && !ids.has(a.id)) missing.push(a.id);
    const counts = new Map<string, number>();
    for (const e of entries) {
      const cm = (JSON.parse(e.body) as { clientMsgId?: string }).clientMsgId ?? e.id;
      counts.set(cm, (counts.get(cm) ?? 0) + 1);
    }
    for (const [cm, n] of counts) if (n > 1) storedTwice.push(cm);
  }
  return { stored, missing, storedTwice };
}
