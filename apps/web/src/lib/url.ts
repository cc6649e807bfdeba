import { WS_PATH } from '@chat/protocol';

/** The WebSocket endpoint on the page's own origin (the dev server proxies it). */
export function webSocketUrl(location: Location = window.location): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${WS_PATH}`;
}
