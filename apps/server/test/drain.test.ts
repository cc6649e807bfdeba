import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MemoryBroker } from '../src/broker/memory.js';
import { type RunningApp, randomId, SECRET, spawnServer, startApp, TestClient } from './harness.js';

/** A memory broker whose appends wait for a gate: an in-flight send during a drain. */
class GatedBroker extends MemoryBroker {
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  entered = 0;
  hold(): void {
    this.gate = new Promise((r) => {
      this.open = r;
    });
  }
  release(): void {
    this.open?.();
    this.gate = undefined;
  }
  override async append(room: string, body: string, key: string) {
    this.entered++;
    if (this.gate) await this.gate;
    return super.append(room, body, key);
  }
}

describe('drain', () => {
  let srv: RunningApp | undefined;
  afterEach(async () => {
    await srv?.close();
    srv = undefined;
  });

  it('a forced stop (no drain) closes every socket 1001 with a reason, not 1005', async () => {
    const s = await startApp();
    srv = s;
    const clients = await Promise.all([1, 2, 3].map(() => TestClient.connect(s.wsUrl, s.token('x'))));
    await clients[0]?.join('forced');
    const closing = s.close();
    srv = undefined;
    const closed = await Promise.all(clients.map((c) => c.closed));
    await closing;
    for (const c of closed) {
      expect(c.code).toBe(1001);
      expect(c.reason).toMatch(/stopping/);
    }
  });

  it('flips readiness, refuses upgrades with 503, acks in-flight sends, then closes 1012 spread out', async () => {
    const broker = new GatedBroker({ nodeId: 't', maxLen: 100, idempotencyTtlS: 60 });
    srv = await startApp({ DRAIN_WINDOW_MS: '2000', DRAIN_MAX_CLOSE_RATE: '50' }, { broker });
    const s = srv;
    const clients = await Promise.all(
      Array.from({ length: 20 }, (_, i) => TestClient.connect(s.wsUrl, s.token(`c${i}`))),
    );
    const sender = clients[0] as TestClient;
    await sender.join('drain');
    broker.hold();
    const cm = randomId();
    sender.send({ type: 'send', room: 'drain', clientMsgId: cm, text: 'in flight' });
    await expect.poll(() => broker.entered).toBe(1);

    /** When each socket other than the held sender was closed. */
    const closedAt: number[] = [];
    const closes = clients.map((c) =>
      c.closed.then((r) => {
        if (c !== sender) closedAt.push(performance.now());
        return r;
      }),
    );
    const gauge = async () =>
      Number(
        /chat_drain_started_timestamp_seconds\{[^}]*\} (\S+)/.exec(
          await s.app.metrics.registry.metrics(),
        )?.[1],
      );
    expect(await gauge()).toBe(0);
    const drainFrom = Date.now() / 1000;
    const drained = s.app.lifecycle.drain();
    expect(await gauge()).toBeGreaterThanOrEqual(drainFrom - 0.001);
    expect(await gauge()).toBeLessThanOrEqual(Date.now() / 1000);

    expect((await s.app.inject('/readyz')).statusCode).toBe(503);
    expect((await s.app.inject('/livez')).statusCode).toBe(200);
    const refused = new TestClient(s.wsUrl, s.token('late'));
    await expect(refused.opened).rejects.toThrow('HTTP 503');
    // The sender is held open until its message is durable and acked.
    await expect.poll(() => closedAt.length).toBeGreaterThan(5);
    expect(sender.ws.readyState).toBe(WebSocket.OPEN);
    broker.release();
    const ack = await sender.next('ack', (a) => a.clientMsgId === cm);
    expect(ack.duplicate).toBe(false);

    const results = await Promise.all(closes);
    await drained;
    for (const r of results) {
      expect(r.code).toBe(1012);
      expect(r.reason).toMatch(/retry=\d+/);
    }
    // 20 sockets at 50/s: batches due over ~400 ms, not all at once (a burst spreads < 20 ms;
    // the bound leaves room for timers that fire late on a loaded machine).
    const spread = Math.max(...closedAt) - Math.min(...closedAt);
    expect(spread).toBeGreaterThan(100);
    const metrics = await s.app.metrics.registry.metrics();
    expect(metrics).toMatch(/chat_drain_closed_sockets_total\{node="[^"]+"\} 20/);
    expect(metrics).toMatch(/chat_drain_duration_seconds_count\{node="[^"]+"\} 1/);
  });
});

describe('the server process', () => {
  it('prints its URL, drains on SIGTERM and exits 0', async () => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: new URL('..', import.meta.url),
      env: {
        ...process.env,
        PORT: '0',
        METRICS_PORT: '0',
        HOST: '127.0.0.1',
        TOKEN_SECRET: SECRET,
        NODE_ID: 'proc-test',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const lines = createInterface({ input: proc.stdout });
      let url = '';
      for await (const line of lines) {
        const m = /chat ready at (http:\/\/[^"\s]+)/.exec(line);
        if (m?.[1]) {
          url = m[1];
          break;
        }
      }
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const token = (
        (await await fetch(`${url}/api/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'proc' }),
        }).then((r) => r.json())) as { token: string }
      ).token;
      const client = await TestClient.connect(`${url.replace('http', 'ws')}/ws`, token);
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      expect((await client.closed).code).toBe(1012);
      const [code] = await exited;
      expect(code).toBe(0);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
  });

  it('exits at once (code 1) on a second SIGTERM during the drain', async () => {
    const srv = await spawnServer({ DRAIN_WINDOW_MS: '10000', DRAIN_MAX_CLOSE_RATE: '1' });
    const clients = await Promise.all(
      [1, 2, 3, 4].map(async (i) => TestClient.connect(srv.wsUrl, await srv.token(`c${i}`))),
    );
    srv.signal('SIGTERM');
    await clients[0]?.closed; // the drain has started: one socket per second
    srv.signal('SIGTERM');
    expect(await srv.exited).toBe(1);
    // The first socket got its 1012; the forced exit dropped the rest (1006: reconnect elsewhere).
    const codes = (await Promise.all(clients.map((c) => c.closed))).map((c) => c.code);
    expect(codes[0]).toBe(1012);
    expect(codes.filter((c) => c === 1006).length).toBeGreaterThan(0);
  });

  it('exits with code 1 when the drain outlives SHUTDOWN_TIMEOUT_MS', async () => {
    const srv = await spawnServer({ DRAIN_WINDOW_MS: '200', SHUTDOWN_TIMEOUT_MS: '1000' });
    const stuck = await TestClient.connect(srv.wsUrl, await srv.token('stuck'));
    // A client that stops reading never completes the close handshake; the drain waits for it.
    (stuck.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const started = performance.now();
    srv.signal('SIGTERM');
    expect(await srv.exited).toBe(1);
    expect(performance.now() - started).toBeLessThan(2900); // before the 3 s close grace would end it
  });

  it('refuses bad configuration naming the variable', async () => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: new URL('..', import.meta.url),
      env: { ...process.env, PORT: 'eighty', HEARTBEAT_MS: '5' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const [code] = await once(proc, 'exit');
    expect(code).toBe(78);
    expect(stderr).toMatch(/PORT="eighty": expected an integer/);
    expect(stderr).toMatch(/HEARTBEAT_MS="5": expected an integer in \[100/);
  });
});
