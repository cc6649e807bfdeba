import { Cluster, Redis } from 'ioredis';
import { RedisBroker } from '../src/broker/redis.js';
import { ClusterLink } from '../src/broker/redis-cluster-link.js';
import { type RedisLink, SingleLink } from '../src/broker/redis-link.js';
import type { BrokerFactory } from './broker.suite.js';

const warn = (err: unknown, msg: string) => console.warn(msg, err);

/** A broker link to one Redis, connected. */
export async function singleLink(url: string): Promise<SingleLink> {
  const client = new Redis(url);
  const subscriber = new Redis(url);
  await Promise.all([client.ping(), subscriber.ping()]);
  return new SingleLink(client, subscriber, 1000, warn);
}

/** A broker link to a Redis Cluster (sharded pub/sub), connected; options as the server uses them. */
export async function clusterLink(nodes: readonly { host: string; port: number }[]): Promise<ClusterLink> {
  const cluster = new Cluster([...nodes], {
    shardedSubscribers: true,
    slotsRefreshInterval: 1000,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
  });
  await cluster.ping();
  return new ClusterLink(cluster, 1000, warn);
}

let pods = 0;

/** The shared suite's factory for Redis brokers on the links `link` makes: two pods on one store. */
export function redisBrokers(name: string, link: () => Promise<RedisLink>): BrokerFactory {
  return {
    name,
    async create({ maxLen }) {
      const make = async (nodeId: string) =>
        new RedisBroker({
          link: await link(),
          prefix: 'test:',
          nodeId,
          maxLen,
          idempotencyTtlS: 60,
          roomTtlS: 3600,
          healthIntervalMs: 200,
        });
      const nodeA = `pod-${pods++}`;
      const [a, b] = await Promise.all([make(nodeA), make(`pod-${pods++}`)]);
      await new Promise<void>((resolve) => {
        const check = () => (a.healthy() ? resolve() : setTimeout(check, 20));
        check();
      });
      return { a, b, nodeA, close: async () => void (await Promise.all([a.close(), b.close()])) };
    },
  };
}
