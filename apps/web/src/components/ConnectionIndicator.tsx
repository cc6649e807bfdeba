import type { ConnectionStatus, ServiceStatus } from '@chat/client';
import { useNow } from '../hooks/useNow';
import { describeStatus } from '../lib/status-text';

interface Props {
  status: ConnectionStatus;
  service: ServiceStatus;
  /** Reconnect after the client stayed closed. */
  onReconnect: () => void;
  /** Skip the rest of a reconnect countdown. */
  onRetryNow: () => void;
}

/**
 * "Connected", "Connected, chat service degraded: messages wait", "Reconnecting in N s"
 * (counting down, with "Retry now") or "Offline: <reason>" (with "Reconnect").
 */
export function ConnectionIndicator({ status, service, onReconnect, onRetryNow }: Props) {
  const counting = status.state === 'reconnecting' && status.retryAt !== undefined && status.online;
  const now = useNow(counting ? 250 : null);
  const { text, tone, detail } = describeStatus(status, service, now);
  return (
    <div className={`connection connection-${tone}`} title={detail}>
      <span className="connection-dot" aria-hidden="true" />
      <span role="status" aria-label="Connection" aria-description={detail}>
        {text}
      </span>
      {counting && (
        <button type="button" className="link-button" onClick={onRetryNow}>
          Retry now
        </button>
      )}
      {status.state === 'closed' && (
        <button type="button" className="link-button" onClick={onReconnect}>
          Reconnect
        </button>
      )}
    </div>
  );
}
