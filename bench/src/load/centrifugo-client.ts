import type { ClientOptions, Pending } from './client-base.js';
import { WsBenchClient } from './ws-client.js';

/** What the bench publishes into a channel (the same fields this server's `send` carries). */
interface BenchData {
  clientMsgId?: string;
  text?: string;
}

interface Publication {
  data?: BenchData;
  offset?: number;
}

/** One reply or push of Centrifugo's JSON protocol (client protocol v2). */
interface CfReply {
  id?: number;
  error?: { code: number; message: string };
  connect?: { client: string; ping?: number; pong?: boolean };
  subscribe?: {
    recoverable?: boolean;
    epoch?: string;
    offset?: number;
    publications?: Publication[];
    recovered?: boolean;
  };
  publish?: Record<string, never>;
  push?: { channel: string; pub?: Publication };
}

type Call =
  | { t: 'connect' }
  | { t: 'subscribe'; room: string; recovering: boolean }
  | { t: 'publish'; room: string; clientMsgId: string };

/**
 * A client of Centrifugo's JSON protocol over `ws`, written for the bench rather than the
 * `centrifuge` npm SDK so that its per-message cost matches the other `ws` clients: the same
 * socket library, one `JSON.parse` per message (Centrifugo batches several replies or pushes in
 * one frame, newline-separated), and no SDK layers (promises per command, event emitters,
 * subscription state machines) that the other clients do not have.
 *
 * `connect` with the token, `subscribe` per room, `publish` per message (its reply is the ack);
 * a server ping (`{}`) is answered with a pong (`{}`). With `recover` (history on), a
 * resubscribe after a close asks for what came after the last offset seen in that epoch, as the
 * SDK does, and the publications in the reply count as replayed, not live.
 */
export class CentrifugoClient extends WsBenchClient {
  private nextId = 1;
  private readonly calls = new Map<number, Call>();
  private readonly positions = new Map<string, { epoch: string; offset: number }>();
  private readonly recover: boolean;

  constructor(opts: ClientOptions, recover: boolean) {
    super(opts);
    this.recover = recover;
  }

  protected connect(url: string): Promise<void> {
    this.calls.clear();
    return this.open(url, [], () => undefined);
  }

  protected override opened(): void {
    this.call({ t: 'connect' }, `"connect":{"token":"${this.opts.token ?? ''}","name":"bench"}`);
  }

  protected join(room: string): Promise<void> {
    const pos = this.recover && this.closes > 0 ? this.positions.get(room) : undefined;
    const id = this.nextId++;
    this.calls.set(id, { t: 'subscribe', room, recovering: pos !== undefined });
    const recover = pos ? `,"recover":true,"epoch":"${pos.epoch}","offset":${pos.offset}` : '';
    return this.awaitJoin(room, `{"id":${id},"subscribe":{"channel":"${room}"${recover}}}`);
  }

  protected transmit(p: Pending): void {
    this.call(
      { t: 'publish', room: p.room, clientMsgId: p.clientMsgId },
      `"publish":{"channel":"${p.room}","data":{"clientMsgId":"${p.clientMsgId}","text":"${p.text}"}}`,
    );
  }

  private call(c: Call, body: string): void {
    const id = this.nextId++;
    this.calls.set(id, c);
    this.ws?.send(`{"id":${id},${body}}`);
  }

  protected onFrame(data: Buffer): void {
    const text = data.toString();
    if (text.indexOf('\n') < 0) {
      this.onReply(JSON.parse(text) as CfReply);
      return;
    }
    for (const line of text.split('\n')) if (line) this.onReply(JSON.parse(line) as CfReply);
  }

  private onReply(r: CfReply): void {
    if (r.push) {
      const pub = r.push.pub;
      if (!pub) return; // join/leave/unsubscribe pushes: not used here
      this.track(r.push.channel, pub);
      this.onDelivered(r.push.channel, pub.data?.clientMsgId ?? '', pub.data?.text ?? '', true);
      return;
    }
    if (r.id === undefined) {
      this.ws?.send('{}'); // a ping: pong
      return;
    }
    const c = this.calls.get(r.id);
    if (!c) return;
    this.calls.delete(r.id);
    if (r.error) {
      this.opts.sink.error(this, `centrifugo ${r.error.code} ${r.error.message}`);
      if (c.t === 'subscribe') this.joinRefused(c.room, String(r.error.code));
      else if (c.t === 'connect') this.ws?.close(1000);
      return;
    }
    switch (c.t) {
      case 'connect':
        this.welcome();
        return;
      case 'publish':
        this.onAck(c.room, c.clientMsgId);
        return;
      case 'subscribe': {
        const s = r.subscribe ?? {};
        if (c.recovering && !s.recovered) this.opts.sink.error(this, 'resync');
        if (s.epoch !== undefined) this.positions.set(c.room, { epoch: s.epoch, offset: s.offset ?? 0 });
        for (const pub of s.publications ?? []) {
          this.track(c.room, pub);
          this.onDelivered(c.room, pub.data?.clientMsgId ?? '', pub.data?.text ?? '', false);
        }
        this.joined(c.room);
        return;
      }
    }
  }

  /** Remembers the last offset seen per channel (history on: publications carry one). */
  private track(room: string, pub: Publication): void {
    if (pub.offset === undefined) return;
    const pos = this.positions.get(room);
    if (pos && pub.offset > pos.offset) pos.offset = pub.offset;
  }
}
