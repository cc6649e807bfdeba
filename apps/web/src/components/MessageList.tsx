import type { PendingMessage } from '@chat/client';
import type { ChatMessage } from '@chat/protocol';
import { useLayoutEffect, useRef } from 'react';
import { MessageItem, PendingItem } from './MessageItem';

interface Props {
  room: string;
  messages: readonly ChatMessage[];
  pending: readonly PendingMessage[];
  me: { id: string; name: string };
  onRetry: (clientMsgId: string) => void;
  onDiscard: (clientMsgId: string) => void;
}

/** How close to the bottom (px) still counts as "following" the conversation. */
const STICKY_PX = 80;

/** The room's messages, oldest first, then this tab's pending ones. Follows new messages. */
export function MessageList({ room, messages, pending, me, onRetry, onDiscard }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const following = useRef(true);
  const count = messages.length + pending.length;

  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && following.current) el.scrollTop = el.scrollHeight;
  }, [count, room]);

  return (
    <div
      ref={scroller}
      className="messages"
      role="log"
      aria-label={`Messages in #${room}`}
      onScroll={(e) => {
        const el = e.currentTarget;
        following.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICKY_PX;
      }}
    >
      {count === 0 ? (
        <p className="empty muted">No messages in #{room} yet. Say hello!</p>
      ) : (
        <ol className="message-list">
          {messages.map((m) => (
            <MessageItem key={m.id} message={m} own={m.from.id === me.id} />
          ))}
          {pending.map((p) => (
            <PendingItem
              key={p.clientMsgId}
              message={p}
              author={me.name}
              onRetry={onRetry}
              onDiscard={onDiscard}
            />
          ))}
        </ol>
      )}
    </div>
  );
}
