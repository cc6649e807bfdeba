import { WebSocket } from 'ws';
import {
  ChatClient,
  type ChatClientEvents,
  type ChatClientOptions,
  type StateChange,
  type TokenRequest,
} from '../src/index.js';
import type { FakeServer } from './fake-server.js';

export const FAST_BACKOFF = { baseMs: 10, capMs: 40, slowBaseMs: 20, slowCapMs: 80, soonMaxMs: 20 };

export interface TestClient {
  client: ChatClient;
  tokenRequests: TokenRequest[];
  states: StateChange[];
}

const live = new Set<ChatClient>();

/** A client wired for tests: `ws`, short backoff, fixed jitter, no browser environment. */
export function makeClient(server: FakeServer, overrides: Partial<ChatClientOptions> = {}): TestClient {
  const tokenRequests: TokenRequest[] = [];
  const states: StateChange[] = [];
  const client = new ChatClient({
    url: server.url,
    getToken: (request) => {
      tokenRequests.push(request);
      return 'alice';
    },
    WebSocket,
    backoff: FAST_BACKOFF,
    random: () => 0.5,
    environment: null,
    healthyAfterMs: 60_000,
    connectTimeoutMs: 2_000,
    ...overrides,
  });
  client.on('state', (s) => states.push(s));
  live.add(client);
  return { client, tokenRequests, states };
}

export function closeAllClients(): void {
  for (const c of live) c.close('test over');
  live.clear();
}

/** Resolves with the next `event` payload that matches (subscribe before triggering it). */
export function nextEvent<K extends keyof ChatClientEvents>(
  client: ChatClient,
  event: K,
  match: (payload: ChatClientEvents[K]) => boolean = () => true,
  timeoutMs = 4_000,
): Promise<ChatClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching "${String(event)}" event in ${timeoutMs} ms`));
    }, timeoutMs);
    const off = client.on(event, (payload) => {
      if (!match(payload)) return;
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

/** Resolves once the client is in `state` (at once if it already is). */
export function inState(
  client: ChatClient,
  state: StateChange['state'],
  match: (s: StateChange) => boolean = () => true,
): Promise<StateChange> {
  const current = client.status;
  if (current.state === state && match({ ...current, previous: current.state })) {
    return Promise.resolve({ ...current, previous: current.state });
  }
  return nextEvent(client, 'state', (s) => s.state === state && match(s));
}

/** Timers that really run, and record what the client asked for. */
export function recordingTimers() {
  interface Scheduled {
    ms: number;
    cleared: boolean;
    fired: boolean;
    handle?: ReturnType<typeof setTimeout>;
  }
  const scheduled: Scheduled[] = [];
  return {
    scheduled,
    setTimeout(callback: () => void, ms: number): unknown {
      const entry: Scheduled = { ms, cleared: false, fired: false };
      entry.handle = setTimeout(() => {
        entry.fired = true;
        callback();
      }, ms);
      scheduled.push(entry);
      return entry;
    },
    clearTimeout(handle: unknown): void {
      const entry = scheduled.find((e) => e === handle);
      if (!entry) return;
      entry.cleared = true;
      clearTimeout(entry.handle);
    },
  };
}
