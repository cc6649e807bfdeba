import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { until } from './net.js';
import { RedisServer } from './redis.js';
import { type ClusterNode, parseClusterNodes } from './redis-cluster-nodes.js';

export type { ClusterNode } from './redis-cluster-nodes.js';

const run = promisify(execFile);

export interface ClusterSetOptions {
  /** Parent dir: one sub-dir per redis-server. */
  dir: string;
  /** Primaries (default 3). */
  primaries?: number;
  /** Replicas of each primary (default 1). */
  replicas?: number;
  /** `cluster-node-timeout` (default 1000 ms): how fast a dead primary is noticed. */
  nodeTimeoutMs?: number;
  /** More arguments for every redis-server. */
  redisArgs?: string[];
  redisBin?: string;
  cliBin?: string;
}

/**
 * A Redis Cluster on loopback: N primaries and R replicas each (`--cluster-enabled yes`,
 * created with `redis-cli --cluster create --cluster-replicas R`), every redis-server on a free
 * port with its own dir, config file and pidfile; only its own processes are ever killed. It
 * can kill -9 a primary and wait for its replica to take over, and move slots between
 * primaries (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE) as a reshard does.
 */
export class RedisClusterSet {
  readonly servers: RedisServer[] = [];
  private readonly opts: ClusterSetOptions;

  constructor(opts: ClusterSetOptions) {
    this.opts = opts;
    mkdirSync(opts.dir, { recursive: true });
  }

  /** The seed list: every node (REDIS_CLUSTER_NODES takes it as `host:port,...`). */
  get nodes(): { host: string; port: number }[] {
    return this.servers.map((s) => ({ host: '127.0.0.1', port: s.port }));
  }

  get seedList(): string {
    return this.nodes.map((n) => `${n.host}:${n.port}`).join(',');
  }

  async start(): Promise<void> {
    const replicas = this.opts.replicas ?? 1;
    const count = (this.opts.primaries ?? 3) * (1 + replicas);
    const args = [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      String(this.opts.nodeTimeoutMs ?? 1000),
      // A replica takes over whatever its replication offset (tests kill primaries under load).
      '--cluster-replica-validity-factor',
      '0',
      '--repl-diskless-sync-delay',
      '0',
      // Durability here is replication's (a killed node is never restarted): no fsync per write
      // on six processes sharing one disk.
      '--appendonly',
      'no',
      ...(this.opts.redisArgs ?? []),
    ];
    for (let i = 0; i < count; i++) {
      const server = new RedisServer({
        dir: join(this.opts.dir, `node-${i}`),
        args,
        bin: this.opts.redisBin,
      });
      this.servers.push(server);
    }
    await Promise.all(this.servers.map((s) => s.start()));
    await run(this.opts.cliBin ?? 'redis-cli', [
      '--cluster',
      'create',
      ...this.servers.map((s) => `127.0.0.1:${s.port}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
    await this.settled(this.servers, 20_000);
    // Replicas synced (a failover right after start needs them to have the data).
    await until(
      async () => {
        for (const node of await this.topology())
          if (
            node.role === 'replica' &&
            (await this.info(node.port, 'replication')).get('master_link_status') !== 'up'
          )
            return false;
        return true;
      },
      'every replica in sync',
      20_000,
      100,
    );
  }

  /** Every node: its role, and for a primary the slots it serves (as the first live node sees it). */
  async topology(): Promise<ClusterNode[]> {
    return parseClusterNodes(
      String(await this.command(this.alive()[0] as RedisServer, ['CLUSTER', 'NODES'])),
    );
  }

  /** The primary serving `slot` now. */
  async ownerOf(slot: number): Promise<ClusterNode> {
    const owner = (await this.topology()).find(
      (n) => n.role === 'primary' && !n.failed && n.slots.includes(slot),
    );
    if (!owner) throw new Error(`no primary serves slot ${slot}`);
    return owner;
  }

  async slotOf(key: string): Promise<number> {
    return Number(await this.command(this.alive()[0] as RedisServer, ['CLUSTER', 'KEYSLOT', key]));
  }

  server(port: number): RedisServer {
    const server = this.servers.find((s) => s.port === port);
    if (!server) throw new Error(`no node on port ${port}`);
    return server;
  }

  /**
   * kill -9 of the primary on `port`; resolves once its replica has been promoted, owns the
   * slots and every live node reports the cluster ok, with the new primary, when the kill was
   * sent and how long the promotion took.
   */
  async killPrimary(
    port: number,
    timeoutMs = 20_000,
  ): Promise<{ promoted: ClusterNode; ms: number; killedAt: number }> {
    const before = await this.topology();
    const victim = before.find((n) => n.port === port && n.role === 'primary');
    if (!victim) throw new Error(`port ${port} is not a primary`);
    const started = Date.now();
    await this.server(port).kill();
    let promoted: ClusterNode | undefined;
    await until(
      async () => {
        try {
          const now = await this.topology();
          promoted = now.find(
            (n) =>
              n.role === 'primary' &&
              !n.failed &&
              n.port !== port &&
              n.slots.includes(victim.slots[0] as number),
          );
          return promoted !== undefined;
        } catch {
          return false;
        }
      },
      `a replica of ${port} promoted`,
      timeoutMs,
      50,
    );
    await this.settled(this.alive(), timeoutMs);
    return { promoted: promoted as ClusterNode, ms: Date.now() - started, killedAt: started };
  }

  /**
   * Moves `slots` from their primary to the primary on `toPort` while the cluster serves, one
   * slot at a time and `batch` keys per MIGRATE, as `redis-cli --cluster reshard` does.
   * `pauseMs` between batches keeps the migration going while traffic runs.
   */
  async moveSlots(
    slots: readonly number[],
    toPort: number,
    opts: { batch?: number; pauseMs?: number } = {},
  ): Promise<void> {
    const topology = await this.topology();
    const to = topology.find((n) => n.port === toPort && n.role === 'primary');
    if (!to) throw new Error(`port ${toPort} is not a primary`);
    const clients = new Map<number, Redis>();
    const client = (port: number) => {
      let c = clients.get(port);
      if (!c) {
        c = new Redis({ host: '127.0.0.1', port, lazyConnect: false, maxRetriesPerRequest: 1 });
        clients.set(port, c);
      }
      return c;
    };
    try {
      for (const slot of slots) {
        const from = topology.find((n) => n.role === 'primary' && n.slots.includes(slot));
        if (!from) throw new Error(`no primary serves slot ${slot}`);
        if (from.id === to.id) continue;
        const src = client(from.port);
        const dst = client(to.port);
        await dst.cluster('SETSLOT', slot, 'IMPORTING', from.id);
        await src.cluster('SETSLOT', slot, 'MIGRATING', to.id);
        for (;;) {
          const keys = (await src.cluster('GETKEYSINSLOT', slot, opts.batch ?? 10)) as string[];
          if (keys.length === 0) break;
          await src.migrate('127.0.0.1', to.port, '', 0, 5000, 'REPLACE', 'KEYS', ...keys);
          if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
        }
        // The new owner first, so the old one's MOVED points at a node that accepts the slot.
        await dst.cluster('SETSLOT', slot, 'NODE', to.id);
        await src.cluster('SETSLOT', slot, 'NODE', to.id);
        for (const n of topology)
          if (n.role === 'primary' && n.id !== from.id && n.id !== to.id && !n.failed)
            await client(n.port).cluster('SETSLOT', slot, 'NODE', to.id);
      }
    } finally {
      for (const c of clients.values()) c.disconnect();
    }
    await this.settled(this.alive(), 10_000);
  }

  /** INFO `section` of the node on `port` as a map. */
  async info(port: number, section: string): Promise<Map<string, string>> {
    const text = String(await this.command(this.server(port), ['INFO', section]));
    const out = new Map<string, string>();
    for (const line of text.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) out.set(line.slice(0, i), line.slice(i + 1));
    }
    return out;
  }

  /** SIGKILL of every node (teardown). */
  async destroy(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.kill()));
  }

  private alive(): RedisServer[] {
    return this.servers.filter((s) => s.state === 'running');
  }

  /** Until every node in `servers` says cluster_state:ok and agrees on the slot owners. */
  private async settled(servers: RedisServer[], timeoutMs: number): Promise<void> {
    await until(
      async () => {
        const views: string[] = [];
        for (const s of servers) {
          try {
            const info = String(await this.command(s, ['CLUSTER', 'INFO']));
            if (!info.includes('cluster_state:ok')) return false;
            const slots = (await this.command(s, ['CLUSTER', 'SLOTS'])) as [
              number,
              number,
              [string, number],
            ][];
            views.push(
              JSON.stringify(
                slots.map(([a, b, p]) => [a, b, p[1]]).sort((x, y) => (x[0] as number) - (y[0] as number)),
              ),
            );
          } catch {
            return false;
          }
        }
        return new Set(views).size === 1;
      },
      'the cluster settled (state ok, one slot map)',
      timeoutMs,
      100,
    );
  }

  private async command(server: RedisServer, args: (string | number)[]): Promise<unknown> {
    const c = new Redis({ host: '127.0.0.1', port: server.port, maxRetriesPerRequest: 0, lazyConnect: true });
    c.on('error', () => {});
    try {
      await c.connect();
      return await c.call(...(args.map(String) as [string, ...string[]]));
    } finally {
      c.disconnect();
    }
  }
}
