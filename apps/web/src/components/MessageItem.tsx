import type { PendingMessage } from '@chat/client';
import type { ChatMessage } from '@chat/protocol';

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

interface MessageProps {
  message: ChatMessage;
  own: boolean;
}

/** One delivered message. User content is rendered as text only. */
export function MessageItem({ message, own }: MessageProps) {
  const at = new Date(message.ts);
  return (
    <li className={own ? 'message own' : 'message'}>
      <div className="message-meta">
        <span className="message-author">{message.from.name}</span>
        <time dateTime={at.toISOString()} title={at.toLocaleString()}>
          {timeFormat.format(at)}
        </time>
      </div>
      <p className="message-text">{message.text}</p>
    </li>
  );
}

interface PendingProps {
  message: PendingMessage;
  author: string;
  onRetry: (clientMsgId: string) => void;
  onDiscard: (clientMsgId: string) => void;
}

/** A message not yet acknowledged by the server (pending), or refused for good (failed). */
export function PendingItem({ message, author, onRetry, onDiscard }: PendingProps) {
  const failed = message.status === 'failed';
  return (
    <li
      className={failed ? 'message own failed' : 'message own pending'}
      aria-busy={failed ? undefined : true}
    >
      <div className="message-meta">
        <span className="message-author">{author}</span>
        <span
          className="message-status"
          title={
            failed
              ? 'The server refused this message'
              : 'Not stored yet: sent again by itself until the server confirms it'
          }
        >
          {failed ? 'failed' : 'pending'}
        </span>
      </div>
      <p className="message-text">{message.text}</p>
      {failed && (
        <div className="message-actions">
          {message.error && <span className="message-error">{message.error.message}</span>}
          <button type="button" className="link-button" onClick={() => onRetry(message.clientMsgId)}>
            Retry
          </button>
          <button type="button" className="link-button" onClick={() => onDiscard(message.clientMsgId)}>
            Discard
          </button>
        </div>
      )}
    </li>
  );
}
