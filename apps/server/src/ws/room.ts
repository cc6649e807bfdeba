import type { PresenceEntry } from '@chat/protocol';
import type { Conn } from './connection.js';

export interface BufferedFrame {
  id: string;
  data: Buffer;
}

/** This pod's view of one room: who is here, what was delivered, and its presence cache. */
export class Room {
  /** Sockets receiving live messages. */
  readonly live = new Set<Conn>();
  /** Sockets whose history is being read: live messages queue here until the replay is sent. */
  readonly joining = new Map<Conn, BufferedFrame[]>();
  /** Newest id handed to sockets; live delivery is in id order, so older ids are repeats. */
  lastDelivered: string | undefined;
  /** Newest id in history when this pod subscribed: where a catch-up starts if nothing came yet. */
  baseline = '0-0';
  /** While the pod re-reads history after a subscriber reconnect, live messages wait here. */
  catchUp: { id: string; body: string }[] | undefined;
  readonly presence = new Map<string, PresenceEntry>();
  /** Presence changes coalesced into one frame per room per flush (storms stay cheap). */
  pendingJoin = new Map<string, PresenceEntry>();
  pendingLeave = new Set<string>();
  presenceTimer: NodeJS.Timeout | undefined;
  /** Set when presence deltas arrived before the initial list was read. */
  removedDuringInit: Set<string> | undefined = new Set();
  ready: Promise<void> = Promise.resolve();

  constructor(readonly name: string) {}

  get size(): number {
    return this.live.size + this.joining.size;
  }
}
