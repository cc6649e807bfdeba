import type { SystemKind } from '../load/protocol.js';

/** How each system is named in logs, results and reports (one place for every table). */
export const LABELS: Record<SystemKind, string> = {
  chat: 'this server',
  socketio: 'Socket.IO + redis-adapter',
  bare: 'bare ws + ioredis',
  centrifugo: 'Centrifugo',
  'centrifugo-recovery': 'Centrifugo + recovery',
};

/** Short column heads of the side-by-side tables. */
export const COLUMNS: Record<SystemKind, string> = {
  chat: 'this server',
  socketio: 'Socket.IO',
  bare: 'bare',
  centrifugo: 'Centrifugo',
  'centrifugo-recovery': 'Centrifugo + recovery',
};
