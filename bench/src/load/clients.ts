import { handshakeProtocols, parseCloseReason } from '@chat/protocol';
import { io, type Socket } from 'socket.io-client';
import { BenchClient, type Pending, Refused } from './client-base.js';
import { CONNECT_TIMEOUT_MS, WsBenchClient } from './ws-client.js';

interface WireMessage {
  id?: string;
  room?: string;
  clientMsgId?: string;
  text?: string;
}

interface ChatFrame extends WireMessage {
  type?: string;
  code?: string;
  ref?: string;
  retryAfterMs?: number;
  messages?: WireMessage[];
}

/** A client of this server: the chat.v1 protocol over `ws`, resuming with `since` after a close. */
export class ChatClient extends WsBenchClient {
  private readonly lastIds = new Map<string, string>();

  protected connect(url: string): Promise<void> {
    return this.open(
      url,
      handshakeProtocols(this.opts.token ?? ''),
      (reason) => parseCloseReason(reason).retryAfterMs,
    );
  }

  protected join(room: string): Promise<void> {
    const since = this.closes > 0 ? (this.lastIds.get(room) ?? '0-0') : undefined;
    return this.awaitJoin(room, JSON.stringify({ type: 'join', room, ...(since ? { since } : {}) }));
  }

  protected transmit(p: Pending): void {
    this.ws?.send(`{"type":"send","room":"${p.room}","clientMsgId":"${p.clientMsgId}","text":"${p.text}"}`);
  }

  protected onFrame(data: Buffer): void {
    const f = JSON.parse(data.toString()) as ChatFrame;
    switch (f.type) {
      case 'msg':
        if (f.room && f.id) this.lastIds.set(f.room, f.id);
        this.onDelivered(f.room ?? '', f.clientMsgId ?? '', f.text ?? '', true);
        return;
      case 'ack':
        this.onAck(f.room ?? '', f.clientMsgId ?? '');
        return;
      case 'welcome':
        this.welcome();
        return;
      case 'joined':
      case 'resync': {
        const room = f.room ?? '';
        if (f.type === 'resync') this.opts.sink.error(this, 'resync');
        for (const m of f.messages ?? []) {
          if (m.id) this.lastIds.set(room, m.id);
          // Replayed on a resume: the gap. A fresh join's history page is old news.
          if (this.closes > 0) this.onDelivered(room, m.clientMsgId ?? '', m.text ?? '', false);
        }
        this.joined(room);
        return;
      }
      case 'ping':
        this.ws?.send('{"type":"pong"}');
        return;
      case 'error':
        this.opts.sink.error(this, f.code ?? 'error');
        if (f.code === 'unavailable' && f.ref && this.pending.has(f.ref)) {
          const p = this.pending.get(f.ref);
          setTimeout(() => p && this.pending.has(p.clientMsgId) && this.transmit(p), f.retryAfterMs ?? 1000);
        }
        if (f.ref) this.joinRefused(f.ref, f.code ?? 'error');
        return;
      default:
        return;
    }
  }
}

/** A Socket.IO client (socket.io-client, websocket transport only). No resume exists: a rejoin is fresh. */
export class SocketIoClient extends BenchClient {
  private socket: Socket | undefined;

  protected connect(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const options = {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        timeout: CONNECT_TIMEOUT_MS,
        auth: { token: this.opts.token ?? '' },
        ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}),
      };
      const socket = io(url, options);
      this.socket = socket;
      let settled = false;
      socket.on('connect', () => {
        settled = true;
        resolve();
      });
      socket.on('connect_error', (err) => {
        socket.close();
        if (!settled) {
          settled = true;
          reject(new Refused(err.message));
        }
      });
      socket.on('msg', (m: WireMessage) =>
        this.onDelivered(m.room ?? '', m.clientMsgId ?? '', m.text ?? '', true),
      );
      socket.on('disconnect', (reason) => {
        if (this.socket !== socket || reason === 'io client disconnect') return;
        this.onClosed(reason === 'io server disconnect' ? 1001 : 1006, undefined);
      });
    });
  }

  protected join(room: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = this.socket;
      if (!socket) return reject(new Error('not connected'));
      socket
        .timeout(CONNECT_TIMEOUT_MS)
        .emit('join', room, (err: Error | null) => (err ? reject(err) : resolve()));
    });
  }

  protected transmit(p: Pending): void {
    this.socket?.emit(
      'send',
      { room: p.room, clientMsgId: p.clientMsgId, text: p.text },
      (res: { ok: boolean }) => {
        if (res?.ok) this.onAck(p.room, p.clientMsgId);
      },
    );
  }

  protected disconnect(): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.disconnect();
  }
}

interface BareFrame extends WireMessage {
  t?: string;
}

/** A client of the bare ws + Redis loop: join, send, get what is published; no resume. */
export class BareClient extends WsBenchClient {
  protected connect(url: string): Promise<void> {
    return this.open(url, [], () => undefined);
  }

  protected join(room: string): Promise<void> {
    return this.awaitJoin(room, `{"t":"join","room":"${room}"}`);
  }

  protected transmit(p: Pending): void {
    this.ws?.send(`{"t":"send","room":"${p.room}","clientMsgId":"${p.clientMsgId}","text":"${p.text}"}`);
  }

  protected onFrame(data: Buffer): void {
    const f = JSON.parse(data.toString()) as BareFrame;
    switch (f.t) {
      case 'msg':
        this.onDelivered(f.room ?? '', f.clientMsgId ?? '', f.text ?? '', true);
        return;
      case 'ack':
        this.onAck(f.room ?? '', f.clientMsgId ?? '');
        return;
      case 'welcome':
        this.welcome();
        return;
      case 'joined':
        this.joined(f.room ?? '');
        return;
      default:
        return;
    }
  }
}
