import type { ChatClient } from '@chat/client';
import { useEffect, useState } from 'react';

/** A join the server refused for now (the client asks again by itself). */
export interface JoinTrouble {
  message: string;
  /** Refusals so far, for "retrying (attempt n)". */
  refusals: number;
  /** When the server suggested trying again (epoch ms), if it did. */
  retryAt?: number;
}

export type HistoryNotice = 'reset' | 'trimmed';

/**
 * Why a room is not live and what happened to its history, for the room's header: the latest
 * retryable join refusal (cleared once joined), and whether the last join replaced the room's
 * messages (`resync`): `reset` when the server's history no longer has what this tab saw (an
 * in-memory broker restarted, or Redis lost its data), `trimmed` when it is older than kept.
 */
export function useRoomNotices(client: ChatClient, room: string) {
  const [trouble, setTrouble] = useState<JoinTrouble>();
  const [history, setHistory] = useState<HistoryNotice>();
  useEffect(() => {
    setTrouble(undefined);
    setHistory(undefined);
    const offs = [
      client.on('error', (frame) => {
        if (frame.ref !== room || client.getRoom(room)?.joined) return;
        if (frame.code !== 'unavailable' && frame.code !== 'rate_limited') return;
        setTrouble((prev) => ({
          message: frame.message,
          refusals: (prev?.refusals ?? 0) + 1,
          ...(frame.retryAfterMs === undefined ? {} : { retryAt: Date.now() + frame.retryAfterMs }),
        }));
      }),
      client.on('joined', (frame) => {
        if (frame.room === room) setTrouble(undefined);
      }),
      client.on('resync', (frame) => {
        if (frame.room !== room) return;
        setTrouble(undefined);
        setHistory(frame.reason === 'unknown_id' ? 'reset' : 'trimmed');
      }),
    ];
    return () => {
      for (const off of offs) off();
    };
  }, [client, room]);
  return { trouble, history, dismissHistory: () => setHistory(undefined) };
}
