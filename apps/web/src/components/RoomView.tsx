import type { ChatClient } from '@chat/client';
import { MAX_TEXT_CHARS } from '@chat/protocol';
import { useRoom } from '../hooks/useClientState';
import { Composer } from './Composer';
import { MessageList } from './MessageList';
import { PresenceList } from './PresenceList';

interface Props {
  client: ChatClient;
  room: string;
  me: { id: string; name: string };
  maxChars: number | undefined;
}

/** One room: its messages, the composer and who is online. */
export function RoomView({ client, room, me, maxChars }: Props) {
  const snapshot = useRoom(client, room);
  if (!snapshot) return null;
  return (
    <section className="room" aria-labelledby={`room-title-${room}`}>
      <div className="room-main">
        <header className="room-header">
          <h2 id={`room-title-${room}`}>#{room}</h2>
          {!snapshot.joined && <span className="muted">joining…</span>}
        </header>
        <MessageList
          room={room}
          messages={snapshot.messages}
          pending={snapshot.pending}
          me={me}
          onRetry={(id) => void client.retry(id)}
          onDiscard={(id) => client.discard(id)}
        />
        <Composer
          room={room}
          maxChars={maxChars ?? MAX_TEXT_CHARS}
          onSend={(text) => {
            void client.send(room, text);
          }}
        />
      </div>
      <PresenceList room={room} users={snapshot.users} me={me.id} live={snapshot.joined} />
    </section>
  );
}
