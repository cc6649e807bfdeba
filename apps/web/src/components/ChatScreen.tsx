import { useCallback, useEffect, useState } from 'react';
import { useChatClient } from '../hooks/useChatClient';
import { useConnection, useRooms, useService, useWelcome } from '../hooks/useClientState';
import { useUnread } from '../hooks/useUnread';
import { DEFAULT_ROOM } from '../lib/rooms';
import { loadRooms, saveRooms } from '../lib/storage';
import type { TokenSession } from '../lib/token';
import { ConnectionIndicator } from './ConnectionIndicator';
import { JoinRoomForm } from './JoinRoomForm';
import { PodBadge } from './PodBadge';
import { RoomNav } from './RoomNav';
import { RoomView } from './RoomView';

interface Props {
  session: TokenSession;
  onSignOut: () => void;
}

/** The signed-in chat: connection bar, rooms, and the room on screen. */
export function ChatScreen({ session, onSignOut }: Props) {
  const client = useChatClient(session);
  const status = useConnection(client);
  const service = useService(client);
  const rooms = useRooms(client);
  const welcome = useWelcome(client);
  // The rooms of the last visit (this browser, this user), or #general the first time.
  const [saved] = useState(() => loadRooms(session.userId));
  const [selected, setSelected] = useState(saved?.active ?? saved?.rooms[0] ?? DEFAULT_ROOM);
  const active = rooms.includes(selected) ? selected : rooms[0];
  const me = status.user ?? session.user;
  const unread = useUnread(client, active, me.id);

  useEffect(() => {
    const initial = saved ? saved.rooms : [DEFAULT_ROOM];
    for (const room of initial) void client.join(room);
  }, [client, saved]);

  // Remembered on every change (a refused room drops out of the list by itself); a render
  // older than the client's list (the first, before the joins above) is not saved.
  useEffect(() => {
    if (rooms !== client.rooms) return;
    saveRooms(session.userId, { rooms: [...rooms], ...(active ? { active } : {}) });
  }, [client, rooms, active, session.userId]);

  const join = useCallback(
    async (room: string) => {
      setSelected(room);
      await client.join(room);
    },
    [client],
  );

  const leave = useCallback(
    (room: string) => {
      client.leave(room);
      if (room === selected) setSelected(client.rooms[0] ?? DEFAULT_ROOM);
    },
    [client, selected],
  );

  return (
    <div className="app">
      <header className="topbar">
        <h1 className="brand">Chat</h1>
        <ConnectionIndicator
          status={status}
          service={service}
          onReconnect={() => client.connect()}
          onRetryNow={() => client.reconnectNow()}
        />
        <PodBadge node={status.node} />
        <div className="whoami">
          <span className="muted whoami-label">Signed in as</span> <strong>{me.name}</strong>
          <button type="button" className="link-button" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <div className="layout">
        <aside className="sidebar">
          <RoomNav rooms={rooms} active={active} unread={unread} onSelect={setSelected} onLeave={leave} />
          <JoinRoomForm onJoin={join} />
        </aside>
        <main className="content">
          {active ? (
            <RoomView
              key={active}
              client={client}
              room={active}
              me={me}
              maxChars={welcome?.maxTextChars}
              connected={status.state === 'open'}
              service={service}
            />
          ) : (
            <p className="empty muted">Join a room to start chatting.</p>
          )}
        </main>
      </div>
    </div>
  );
}
