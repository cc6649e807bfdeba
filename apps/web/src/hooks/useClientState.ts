import type { ChatClient, ConnectionStatus, RoomSnapshot, ServiceStatus } from '@chat/client';
import type { ServerFrameOf } from '@chat/protocol';
import { useCallback, useSyncExternalStore } from 'react';

/** The connection status (state, close code and reason, next retry, pod). */
export function useConnection(client: ChatClient): ConnectionStatus {
  const subscribe = useCallback((onChange: () => void) => client.on('state', onChange), [client]);
  return useSyncExternalStore(subscribe, () => client.status);
}

/** The current connection's `welcome` (limits such as maxTextChars), undefined while not open. */
export function useWelcome(client: ChatClient): ServerFrameOf<'welcome'> | undefined {
  // A new welcome comes with a state change to open; losing it, with the next state change.
  const subscribe = useCallback(
    (onChange: () => void) => {
      const offState = client.on('state', onChange);
      const offWelcome = client.on('welcome', onChange);
      return () => {
        offState();
        offWelcome();
      };
    },
    [client],
  );
  return useSyncExternalStore(subscribe, () => client.welcome);
}

/** The rooms the client is in, in the order they were joined. */
export function useRooms(client: ChatClient): readonly string[] {
  const subscribe = useCallback((onChange: () => void) => client.on('rooms', onChange), [client]);
  return useSyncExternalStore(subscribe, () => client.rooms);
}

/** One room's messages, pending sends and presence; re-renders only when that room changes. */
export function useRoom(client: ChatClient, room: string): RoomSnapshot | undefined {
  const subscribe = useCallback(
    (onChange: () => void) =>
      client.on('room', (event) => {
        if (event.room === room) onChange();
      }),
    [client, room],
  );
  return useSyncExternalStore(subscribe, () => client.getRoom(room));
}

/** What the server says about its chat service: ok, or degraded (and why). */
export function useService(client: ChatClient): ServiceStatus {
  const subscribe = useCallback((onChange: () => void) => client.on('service', onChange), [client]);
  return useSyncExternalStore(subscribe, () => client.service);
}
