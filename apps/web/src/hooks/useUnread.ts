import type { ChatClient } from '@chat/client';
import { useEffect, useState } from 'react';

/** Counts messages from others that arrive in rooms other than the one on screen. */
export function useUnread(
  client: ChatClient,
  activeRoom: string | undefined,
  me: string,
): Record<string, number> {
  const [unread, setUnread] = useState<Record<string, number>>({});

  useEffect(
    () =>
      client.on('message', (m) => {
        if (m.room === activeRoom || m.from.id === me) return;
        setUnread((u) => ({ ...u, [m.room]: (u[m.room] ?? 0) + 1 }));
      }),
    [client, activeRoom, me],
  );

  useEffect(() => {
    if (activeRoom === undefined) return;
    setUnread((u) => {
      if (!u[activeRoom]) return u;
      const { [activeRoom]: _read, ...rest } = u;
      return rest;
    });
  }, [activeRoom]);

  return unread;
}
