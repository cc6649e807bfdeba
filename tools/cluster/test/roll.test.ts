import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, type RollStep, startCluster } from '../src/index.js';
import { Client, type Closed, closeAll, token } from './client.js';

/** A client that reconnects through the LB at once when closed 1012, as the real client does. */
class Reconnecting {
  current!: Client;
  readonly nodes: string[] = [];
  readonly closes: number[] = [];
  readonly failures: string[] = [];
  private stopped = false;

  constructor(
    private readonly wsUrl: string,
    private readonly tok: string,
  ) {}

  async start(): Promise<void> {
    await this.open();
  }

  private async open(): Promise<void> {
    const c = await Client.connect(this.wsUrl, this.tok);
    this.current = c;
    this.nodes.push(c.node);
    void c.closed.then((closed: Closed) => this.onClose(closed));
  }

  private onClose(closed: Closed): void {
    this.closes.push(closed.code);
    if (this.stopped || closed.code !== 1012) return;
    this.open().catch((err: unknown) => this.failures.push(String(err)));
  }

  stop(): Promise<Closed> {
    this.stopped = true;
    return this.current.close();
  }
}

describe('roll(): maxSurge 1, maxUnavailable 0', () => {
  let cluster: Cluster;
  const extra: Client[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ pods: 3 });
  });
  afterAll(async () => {
    await closeAll(extra);
    await cluster?.stop();
  });

  it('replaces every pod, old pods exit 0, clients get 1012 and reconnect to new pods at once', async () => {
    const tok = await token(cluster.url, 'roller');
    const oldIds = cluster.pods().map((p) => p.id);
    const clients = Array.from({ length: 6 }, () => new Reconnecting(cluster.wsUrl, tok));
    await Promise.all(clients.map((c) => c.start()));
    expect(new Set(clients.map((c) => c.nodes[0])).size).toBe(3);

    // The LB must never send an upgrade to a pod already out of its endpoints (draining soon).
    const outOfRotation = new Set<string>();
    const misrouted: string[] = [];
    cluster.on('pod:unroutable', (p) => outOfRotation.add(p.id));
    cluster.balancer.on('route', ({ backend }) => {
      if (outOfRotation.has(backend)) misrouted.push(backend);
    });
    const refusedBefore = cluster.balancer.stats.refused;

    // Fresh connections keep arriving during the whole roll; none may fail.
    let rolling = true;
    const fresh: string[] = [];
    const freshFailures: string[] = [];
    const churn = (async () => {
      while (rolling) {
        try {
          const c = await Client.connect(cluster.wsUrl, tok);
          fresh.push(c.node);
          await c.close();
        } catch (err) {
          freshFailures.push(String(err));
        }
      }
    })();

    const steps: RollStep[] = [];
    cluster.on('roll:step', (s) => steps.push(s));
    const result = await cluster.roll();
    rolling = false;
    await churn;

    expect(result.steps).toHaveLength(3);
    expect(steps).toEqual(result.steps);
    expect(result.steps.map((s) => s.old)).toEqual(oldIds);
    for (const s of result.steps) {
      expect(s.exit.code).toBe(0);
      expect(s.exit.signal).toBeNull();
      expect(s.exit.drainMs).toBeGreaterThanOrEqual(0);
    }
    const newIds = cluster.pods().map((p) => p.id);
    expect(newIds).toEqual(result.steps.map((s) => s.new));
    expect(newIds.filter((id) => oldIds.includes(id))).toEqual([]);

    // Each pre-roll client was closed 1012 at least once and is now on a new pod.
    await expect
      .poll(() => clients.every((c) => newIds.includes(c.current.node) && c.current.ws.readyState === 1))
      .toBe(true);
    for (const c of clients) {
      expect(c.closes.length).toBeGreaterThanOrEqual(1);
      expect(c.closes.every((code) => code === 1012)).toBe(true);
      expect(c.failures).toEqual([]);
    }

    expect(fresh.length).toBeGreaterThan(0);
    expect(freshFailures).toEqual([]);
    expect(misrouted).toEqual([]);
    expect(cluster.balancer.stats.refused).toBe(refusedBefore);
    expect(cluster.pods().reduce((n, p) => n + p.connections, 0)).toBe(6);
    await Promise.all(clients.map((c) => c.stop()));
  });

  it('gives each pod incarnation a new NODE_ID', async () => {
    const before = cluster.pods().map((p) => p.id);
    const result = await cluster.roll({ preStopMs: 0 });
    const after = cluster.pods().map((p) => p.id);
    expect(after).toEqual(result.steps.map((s) => s.new));
    const num = (id: string) => Number(id.split('-').pop());
    expect(Math.min(...after.map(num))).toBeGreaterThan(Math.max(...before.map(num)));
    extra.push(await Client.connect(cluster.wsUrl, await token(cluster.url)));
    expect(after).toContain(extra[0]?.node);
  });
});
