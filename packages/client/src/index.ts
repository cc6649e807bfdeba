export {
  type BackoffOptions,
  backoffDelay,
  DEFAULT_BACKOFF,
  planReconnect,
  type ReconnectPlan,
} from './backoff.js';
export { ChatClient } from './client.js';
export { Emitter, type Listener } from './emitter.js';
export { browserEnvironment, type ClientEnvironment, type EnvironmentHandlers } from './environment.js';
export { RoomStore, type RoomStoreOptions } from './room-store.js';
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
