import type { SparseCounts } from '../hist.js';

/** The systems measured side by side. */
export const SYSTEM_KINDS = ['chat', 'socketio', 'bare', 'centrifugo', 'centrifugo-recovery'] as const;
export type SystemKind = (typeof SYSTEM_KINDS)[number];

/**
 * A group of load clients, described compactly so that tens of thousands of clients cross IPC
 * in one small message. Client `k` (0 <= k < total) of a group joins room `k % rooms` and
 * connects to pod `floor(k / rooms) % urls.length`, so every room has its members spread
 * evenly over the pods. The publisher of room `r` is its member number `r % min(pods, members)`,
 * which puts the publishers of consecutive rooms on different pods.
 */
export interface GroupSpec {
  group: string;
  system: SystemKind;
  /** One endpoint per pod: ws://host:port/ws (chat), http://host:port (socketio), ws://host:port (bare),
   * ws://host:port/connection/websocket (centrifugo). */
  urls: string[];
  total: number;
  /** This worker's share of the group: clients [from, to). */
  from: number;
  to: number;
  /** Rooms of the group (0: connect only, no join). */
  rooms: number;
  roomPrefix: string;
  /** Whether the group's publishers send when told to. */
  publishers: boolean;
  /** Reconnect on an unrequested close, to a random pod of `reconnectUrls`, and resume. */
  reconnect: boolean;
  /** Record every message id per client (for the loss and duplicate audit). */
  track: boolean;
  /** Source addresses to spread the client sockets over (ephemeral ports per address). */
  localAddresses?: string[];
  /** HS256 secret for the tokens (every system but the bare loop checks one). */
  tokenSecret?: string;
  /** Characters of padding in each message text (the payload size). */
  textPad: number;
}

export type Command =
  | { t: 'open'; spec: GroupSpec; concurrency: number }
  | { t: 'publish'; tag: number; ratePerPublisher: number; warmupMs: number; durationMs: number }
  | { t: 'startBackground'; tag: number; ratePerPublisher: number }
  | { t: 'stopBackground'; waitAcksMs: number }
  | { t: 'stats'; tag: number }
  | { t: 'reconnectUrls'; urls: string[] }
  | { t: 'acked' }
  | { t: 'audit'; acked: Record<string, string[]> }
  | { t: 'recovery'; group: string }
  | { t: 'closeAll' };

/** What a load process answers to each command (the IPC contract, checked on both sides). */
export interface Results {
  open: OpenResult;
  publish: { sent: number };
  startBackground: { started: true };
  stopBackground: BackgroundResult;
  stats: StatsResult;
  reconnectUrls: { ok: true };
  /** Per room, the clientMsgIds of the background messages this process saw acknowledged. */
  acked: Record<string, string[]>;
  audit: AuditResult;
  recovery: RecoveryResult;
  closeAll: { closed: number };
}

export type ResultOf<C extends Command> = Results[C['t']];

export interface Request {
  id: number;
  cmd: Command;
}

export interface OpenResult {
  opened: number;
  failed: number;
  joined: number;
  firstError?: string;
  ms: number;
}

export interface StatsResult {
  hist: { counts: SparseCounts; count: number; maxUs: number; sumUs: number };
  /** Deliveries of messages with this tag received so far. */
  delivered: number;
  /** Messages with this tag sent by this worker. */
  sent: number;
  /** Of those, acknowledged by the server. */
  acked: number;
  /** Expected deliveries of what this worker sent: sent x members of the room. */
  expected: number;
  errors: number;
}

export interface AuditResult {
  /** (client, acked message) pairs where the client was a member and never got the message. */
  lost: number;
  /** Messages a client received more than once. */
  duplicates: number;
  /** (client, acked message) pairs checked. */
  checked: number;
  lostSamples: string[];
  duplicateSamples: string[];
}

export interface RecoveryResult {
  clients: number;
  /** Clients that were closed by the server and came back (joined every room again). */
  recovered: number;
  /** Clients closed and not back yet. */
  down: number;
  /** Earliest close and latest rejoin seen, on the shared monotonic clock (µs). */
  firstCloseUs: number;
  lastRejoinUs: number;
  /** Offline time per recovered client (µs), sorted. */
  gapsUs: number[];
  reconnectAttempts: number;
  refused: number;
  closeCodes: Record<string, number>;
  /** Errors the clients of this load process reported, by code (e.g. `resync`). */
  errors: Record<string, number>;
}

export function emptyRecovery(): RecoveryResult {
  return {
    clients: 0,
    recovered: 0,
    down: 0,
    firstCloseUs: 0,
    lastRejoinUs: 0,
    gapsUs: [],
    reconnectAttempts: 0,
    refused: 0,
    closeCodes: {},
    errors: {},
  };
}

export interface BackgroundResult {
  sent: number;
  acked: number;
  unacked: number;
  resent: number;
}

export type Reply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string }
  | { id: -1; progress: { group: string; done: number; of: number } };

/** Microseconds on the machine-wide monotonic clock (CLOCK_MONOTONIC): comparable across processes. */
export function nowUs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e6 + ns / 1e3;
}
