import type { ConnectionStatus } from '@chat/client';
import { useNow } from '../hooks/useNow';

interface Props {
  status: ConnectionStatus;
  onReconnect: () => void;
}

type Tone = 'ok' | 'busy' | 'wait' | 'down';

function describe(status: ConnectionStatus, now: number): { text: string; tone: Tone } {
  switch (status.state) {
    case 'open':
      return { text: 'Connected', tone: 'ok' };
    case 'connecting':
      return { text: status.code === undefined ? 'Connecting…' : 'Reconnecting…', tone: 'busy' };
    case 'reconnecting': {
      if (!status.online) return { text: 'Offline: no network', tone: 'down' };
      if (status.retryAt === undefined) return { text: 'Reconnecting…', tone: 'wait' };
      const seconds = Math.ceil((status.retryAt - now) / 1000);
      return { text: seconds > 0 ? `Reconnecting in ${seconds} s` : 'Reconnecting…', tone: 'wait' };
    }
    case 'closed':
      return { text: `Offline: ${status.reason || 'disconnected'}`, tone: 'down' };
  }
}

/** "Connected", "Reconnecting in N s" (counting down) or "Offline: <reason>". */
export function ConnectionIndicator({ status, onReconnect }: Props) {
  const counting = status.state === 'reconnecting' && status.retryAt !== undefined;
  const now = useNow(counting ? 250 : null);
  const { text, tone } = describe(status, now);
  const detail =
    status.code === undefined
      ? undefined
      : `Last close: ${status.code}${status.reason ? ` (${status.reason})` : ''}`;
  return (
    <div className={`connection connection-${tone}`}>
      <span className="connection-dot" aria-hidden="true" />
      <span role="status" aria-label="Connection" title={detail}>
        {text}
      </span>
      {status.state === 'closed' && (
        <button type="button" className="link-button" onClick={onReconnect}>
          Reconnect
        </button>
      )}
    </div>
  );
}
