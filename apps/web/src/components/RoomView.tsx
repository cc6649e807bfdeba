import type { ChatClient, ServiceStatus } from '@chat/client';
import { MAX_TEXT_CHARS } from '@chat/protocol';
import { useRoom } from '../hooks/useClientState';
import { useRoomNotices } from '../hooks/useRoomNotices';
import { Composer } from './Composer';
import { MessageList } from './MessageList';
import { PresenceList } from './PresenceList';
import { RoomStatus } from './RoomStatus';

interface Props {
  client: ChatClient;
  room: string;
  me: { id: string; name: string };
  maxChars: number | undefined;
  connected: boolean;
  service: ServiceStatus;
}

/** One room: its messages, the composer and who is online. */
export function RoomView({ client, room, me, maxChars, connected, service }: Props) {
  const snapshot = useRoom(client, room);
  const { trouble, history, dismissHistory } = useRoomNotices(client, room);
  if (!snapshot) return null;
  return (
    <section className="room" aria-labelledby={`room-title-${room}`}>
      <div className="room-main">
        <header className="room-header">
          <h2 id={`room-title-${room}`}>#{room}</h2>
          <RoomStatus
            joined={snapshot.joined}
            connected={connected}
            service={service}
            trouble={trouble}
            history={history}
            onDismissHistory={dismissHistory}
          />
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
