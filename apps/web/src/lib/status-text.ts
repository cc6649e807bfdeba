import type { ConnectionStatus, ServiceStatus } from '@chat/client';

export type Tone = 'ok' | 'degraded' | 'busy' | 'wait' | 'down';

export interface Described {
  text: string;
  tone: Tone;
  /** Longer explanation (tooltip and screen readers). */
  detail?: string;
}

/**
 * The connection indicator's words, one source for the UI and its tests: "Connected",
 * "Connected, chat service degraded: messages wait", "Reconnecting in N s", "Offline: ...".
 */
export function describeStatus(status: ConnectionStatus, service: ServiceStatus, now: number): Described {
  const lastClose =
    status.code === undefined
      ? undefined
      : `Last close: ${status.code}${status.reason ? ` (${status.reason})` : ''}`;
  const withDetail = (d: Omit<Described, 'detail'>, detail = lastClose): Described =>
    detail === undefined ? d : { ...d, detail };
  switch (status.state) {
    case 'open':
      if (service.state === 'degraded') {
        return withDetail(
          { text: 'Connected, chat service degraded: messages wait', tone: 'degraded' },
          service.reason ?? 'The server cannot reach its message store right now.',
        );
      }
      return withDetail({ text: 'Connected', tone: 'ok' }, undefined);
    case 'connecting':
      return withDetail({ text: status.code === undefined ? 'Connecting…' : 'Reconnecting…', tone: 'busy' });
    case 'reconnecting': {
      if (!status.online) return withDetail({ text: 'Offline: no network', tone: 'down' });
      if (status.retryAt === undefined) return withDetail({ text: 'Reconnecting…', tone: 'wait' });
      const seconds = Math.ceil((status.retryAt - now) / 1000);
      return withDetail({
        text: seconds > 0 ? `Reconnecting in ${seconds} s` : 'Reconnecting…',
        tone: 'wait',
      });
    }
    case 'closed':
      return withDetail({ text: `Offline: ${status.reason || 'disconnected'}`, tone: 'down' });
  }
}
