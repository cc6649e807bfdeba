/**
 * The package's public face: ChatClient and the types of its options, events, snapshots and
 * errors. Everything else in src/ is internal (tests import it by path).
 */
export type { BackoffOptions } from './backoff.js';
export { ChatClient } from './client.js';
export type { Listener } from './emitter.js';
export type { ClientEnvironment, EnvironmentHandlers } from './environment.js';
export {
  ChatClientError,
  type ChatClientEvents,
  type ChatClientOptions,
  type ClientErrorCode,
  type ConnectionState,
  type ConnectionStatus,
  type JoinResult,
  type PendingMessage,
  type PendingStatus,
  type RoomSnapshot,
  type SendHandle,
  type SendResult,
  type ServiceStatus,
  type StateChange,
  type Timers,
  type TokenRequest,
  type WebSocketConstructor,
  type WebSocketLike,
} from './types.js';
