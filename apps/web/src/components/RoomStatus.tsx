import type { ServiceStatus } from '@chat/client';
import type { HistoryNotice, JoinTrouble } from '../hooks/useRoomNotices';

interface Props {
  joined: boolean;
  connected: boolean;
  service: ServiceStatus;
  trouble: JoinTrouble | undefined;
  history: HistoryNotice | undefined;
  onDismissHistory: () => void;
}

const HISTORY_TEXT: Record<HistoryNotice, string> = {
  reset:
    'The server no longer has the history this tab showed (it restarted without Redis, or its store was reset): earlier messages are gone, showing what it has now.',
  trimmed: 'You were away longer than the history kept: showing the latest messages.',
};

/** Next to the room's title: why it is not live yet, and what happened to its history. */
export function RoomStatus({ joined, connected, service, trouble, history, onDismissHistory }: Props) {
  return (
    <>
      {!joined && (
        <span className="room-state muted" role="status" aria-label="Room status">
          {joinText(connected, service, trouble)}
        </span>
      )}
      {history && (
        <p className="room-notice" role="alert">
          {HISTORY_TEXT[history]}{' '}
          <button type="button" className="link-button" onClick={onDismissHistory}>
            Dismiss
          </button>
        </p>
      )}
    </>
  );
}

function joinText(connected: boolean, service: ServiceStatus, trouble: JoinTrouble | undefined): string {
  if (!connected) return 'joining when connected…';
  if (!trouble) return service.state === 'degraded' ? 'joining: waiting for the chat service…' : 'joining…';
  const why =
    service.state === 'degraded' && service.reason
      ? `${trouble.message} (${service.reason})`
      : trouble.message;
  return `can't join yet: ${why}. Retrying${trouble.refusals > 1 ? ` (attempt ${trouble.refusals + 1})` : ''}…`;
}
