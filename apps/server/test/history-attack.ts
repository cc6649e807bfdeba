import { compareIds, handshakeProtocols } from '@chat/protocol';
import WebSocket from 'ws';

/**
 * Child process of the history-read flood test: opens `sockets` sockets (in waves), then all
 * of them join `room` with the same old `since` at once, and checks what each receives: the
 * messages after `since`, in order, each once, up to `lastId` (a `joined` frame, then `msg`
 * frames chained by `prev`). A `busy` or `unavailable` refusal is retried the way
 * @chat/client does, from the last id received. On `stop` (or when every socket is done) it
 * reports one outcome per socket.
 */

export interface AttackOrder {
  wsUrl: string;
  token: string;
  room: string;
  sockets: number;
  since: string;
  lastId: string;
  /** How many messages follow `since` up to `lastId`. */
  expected: number;
}

export interface AttackOutcome {
  /**
   * complete: all `expected` messages, in order, each once; partial: a correct prefix so far
   * (or nothing yet, only refusals); wrong: out of order, duplicated, a hole or a resync;
   * closed: the server closed the socket.
   */
  result: 'complete' | 'partial' | 'wrong' | 'closed';
  received: number;
  /** Join refusals, by error code. */
  refusals: Record<string, number>;
  closeCode?: number;
  detail?: string;
  /** From the burst of joins to the outcome. */
  ms: number;
}

type Frame = {
  type: string;
  code?: string;
  retryAfterMs?: number;
  id?: string;
  prev?: string;
  messages?: { id: string }[];
};

const OPEN_WAVE = 50;
let burstAt = 0;
let release: () => void = () => {};
const burst = new Promise<void>((r) => {
  release = () => {
    burstAt = performance.now();
    r();
  };
});

class Attacker {
  private last: string;
  private received = 0;
  private readonly refusals: Record<string, number> = {};
  private outcome: AttackOutcome | undefined;
  readonly done: Promise<AttackOutcome>;
  private resolve: (o: AttackOutcome) => void = () => {};
  private readonly ws: WebSocket;

  /** `settled` is called once: on `welcome`, or when the socket ends before it. */
  constructor(
    private readonly order: AttackOrder,
    settled: () => void,
  ) {
    this.last = order.since;
    this.done = new Promise((r) => {
      this.resolve = r;
    });
    let welcomed = false;
    const settle = () => {
      if (welcomed) return;
      welcomed = true;
      settled();
    };
    const ws = new WebSocket(order.wsUrl, handshakeProtocols(order.token), { perMessageDeflate: false });
    this.ws = ws;
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as Frame;
      if (f.type === 'welcome') {
        settle();
        void burst.then(() => this.join());
      } else this.onFrame(f);
    });
    ws.on('close', (code) => {
      settle();
      this.finish({ result: 'closed', closeCode: code });
    });
    ws.on('unexpected-response', (_req, res) => {
      settle();
      this.finish({ result: 'closed', closeCode: res.statusCode });
    });
    ws.on('error', () => {});
  }

  private join(): void {
    if (!this.outcome)
      this.ws.send(JSON.stringify({ type: 'join', room: this.order.room, since: this.last }));
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case 'ping':
        this.ws.send('{"type":"pong"}');
        return;
      case 'joined':
        for (const m of f.messages ?? []) if (!this.take(m.id)) return;
        return;
      case 'msg':
        if (f.prev !== this.last)
          this.finish({ result: 'wrong', detail: `msg ${f.id} prev ${f.prev}, had ${this.last}` });
        else this.take(f.id as string);
        return;
      case 'resync':
        this.finish({ result: 'wrong', detail: 'resync' });
        return;
      case 'error': {
        const code = f.code ?? '?';
        this.refusals[code] = (this.refusals[code] ?? 0) + 1;
        if (code === 'busy' || code === 'unavailable')
          setTimeout(() => this.join(), (f.retryAfterMs ?? 500) * (0.5 + Math.random()));
        else this.finish({ result: 'wrong', detail: `error ${code}` });
        return;
      }
    }
  }

  private take(id: string): boolean {
    if (compareIds(id, this.last) <= 0) {
      this.finish({ result: 'wrong', detail: `id ${id} after ${this.last}` });
      return false;
    }
    this.last = id;
    this.received++;
    if (id === this.order.lastId)
      this.finish(
        this.received === this.order.expected
          ? { result: 'complete' }
          : { result: 'wrong', detail: `${this.received} messages` },
      );
    return true;
  }

  finish(o: Pick<AttackOutcome, 'result' | 'closeCode' | 'detail'>): void {
    if (this.outcome) return;
    this.outcome = {
      ...o,
      received: this.received,
      refusals: this.refusals,
      ms: Math.round(performance.now() - burstAt),
    };
    this.ws.terminate();
    this.resolve(this.outcome);
  }
}

process.on('message', (m: { cmd: 'start'; order: AttackOrder } | { cmd: 'stop' }) => {
  if (m.cmd === 'stop') {
    for (const a of attackers) a.finish({ result: 'partial' });
    return;
  }
  void start(m.order);
});

const attackers: Attacker[] = [];

async function start(order: AttackOrder): Promise<void> {
  let settled = 0;
  // Opened in waves (the pod drops the oldest handshakes past MAX_PENDING_CONNECTIONS).
  for (let i = 0; i < order.sockets; i += OPEN_WAVE) {
    const size = Math.min(OPEN_WAVE, order.sockets - i);
    await new Promise<void>((waveDone) => {
      let left = size;
      for (let k = 0; k < size; k++)
        attackers.push(
          new Attacker(order, () => {
            if (--left === 0) waveDone();
            if (++settled === order.sockets) {
              release();
              process.send?.({ type: 'burst' });
            }
          }),
        );
    });
  }
  const outcomes = await Promise.all(attackers.map((a) => a.done));
  process.send?.({ type: 'done', outcomes });
}

process.on('disconnect', () => process.exit(0));
