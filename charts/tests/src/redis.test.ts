import type { IDeployment, IStatefulSet } from 'kubernetes-models/apps/v1';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { describe, expect, it } from 'vitest';
import { configOf } from './fixtures.js';
import { one, render } from './helm.js';
import { validateManifest } from './models.js';

const serverEnv = (docs: ReturnType<typeof render>) =>
  one<IDeployment>(docs, 'Deployment').spec?.template.spec?.containers.find((c) => c.name === 'server')
    ?.env ?? [];

describe('Redis tier', () => {
  it('the embedded demo Redis fsyncs every write (what an ack promises) and says it is demo-only', () => {
    const docs = render();
    const redis = one<IStatefulSet>(docs, 'StatefulSet');
    const args = redis.spec?.template.spec?.containers[0]?.args?.join(' ') ?? '';
    expect(args).toContain('--appendfsync always');
    expect(args).toContain('--maxmemory-policy noeviction');
    expect(args).not.toContain('--requirepass');
    expect(redis.metadata?.annotations?.['demo-only']).toBeTruthy();
  });

  it('with redis.passwordSecret the embedded Redis requires the password the server reads from that Secret', () => {
    const docs = render({ set: { 'redis.passwordSecret': 'redis-auth' } });
    for (const doc of docs) validateManifest(doc);
    const redis = one<IStatefulSet>(docs, 'StatefulSet').spec?.template.spec?.containers[0];
    expect(redis?.args?.join(' ')).toContain('--requirepass $(REDIS_PASSWORD)');
    const ref = (name: string, env = redis?.env ?? []) =>
      env.find((e) => e.name === name)?.valueFrom?.secretKeyRef;
    expect(ref('REDIS_PASSWORD')).toEqual({ name: 'redis-auth', key: 'redis-password' });
    expect(ref('REDIS_PASSWORD', serverEnv(docs))).toEqual({ name: 'redis-auth', key: 'redis-password' });
    expect(serverEnv(docs).some((e) => e.name === 'REDIS_SENTINEL_PASSWORD')).toBe(false);
  });

  it('Sentinel mode: no embedded Redis, no REDIS_URL, the Sentinels and both passwords from an existing Secret', () => {
    const docs = render({
      set: {
        'redis.sentinels[0]': 'sentinel-0.redis:26379',
        'redis.sentinels[1]': 'sentinel-1.redis:26379',
        'redis.sentinelMasterName': 'chat',
        'redis.passwordSecret': 'redis-auth',
        'redis.sentinelPasswordSecretKey': 'sentinel-password',
        'redis.ackReplicas': 1,
        'networkPolicy.enabled': true,
      },
    });
    for (const doc of docs) validateManifest(doc);
    expect(docs.some((d) => d.kind === 'StatefulSet')).toBe(false);
    const config = configOf(docs);
    expect(config.REDIS_SENTINELS).toBe('sentinel-0.redis:26379,sentinel-1.redis:26379');
    expect(config.REDIS_SENTINEL_NAME).toBe('chat');
    expect(config.REDIS_ACK_REPLICAS).toBe('1');
    expect(config.REDIS_URL).toBeUndefined();
    const env = serverEnv(docs);
    expect(env.some((e) => e.name === 'REDIS_URL')).toBe(false);
    expect(env.find((e) => e.name === 'REDIS_SENTINEL_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({
      name: 'redis-auth',
      key: 'sentinel-password',
    });
    const egress = docs
      .filter((d) => d.kind === 'NetworkPolicy')
      .flatMap((d) => (d as INetworkPolicy).spec?.egress ?? [])
      .flatMap((e) => e.ports ?? [])
      .map((p) => p.port);
    expect(egress).toEqual(expect.arrayContaining([6379, 26379]));
  });

  it('cluster mode: an external Redis Cluster from redis.clusterNodes, no embedded Redis and no REDIS_URL', () => {
    const docs = render({
      set: {
        'redis.clusterNodes[0]': 'chat-redis.abc123.clustercfg.use1.cache.amazonaws.com:6379',
        'redis.clusterNodes[1]': 'chat-redis-0002-001.abc123.use1.cache.amazonaws.com:6379',
        'redis.tls': true,
        'redis.passwordSecret': 'redis-auth',
        'redis.ackReplicas': 1,
        'networkPolicy.enabled': true,
      },
    });
    for (const doc of docs) validateManifest(doc);
    expect(docs.some((d) => d.kind === 'StatefulSet')).toBe(false);
    const config = configOf(docs);
    expect(config.REDIS_CLUSTER_NODES).toBe(
      'chat-redis.abc123.clustercfg.use1.cache.amazonaws.com:6379,chat-redis-0002-001.abc123.use1.cache.amazonaws.com:6379',
    );
    expect(config.REDIS_SENTINELS).toBe('');
    expect(config.REDIS_TLS).toBe('true');
    expect(config.REDIS_URL).toBeUndefined();
    const env = serverEnv(docs);
    expect(env.some((e) => e.name === 'REDIS_URL')).toBe(false);
    expect(env.find((e) => e.name === 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({
      name: 'redis-auth',
      key: 'redis-password',
    });
    const egress = docs
      .filter((d) => d.kind === 'NetworkPolicy')
      .flatMap((d) => (d as INetworkPolicy).spec?.egress ?? [])
      .flatMap((e) => e.ports ?? [])
      .map((p) => p.port);
    expect(egress).toContain(6379);
    expect(egress).not.toContain(26379);
  });

  it('refuses redis.sentinels together with redis.clusterNodes, and a malformed node', () => {
    expect(() =>
      render({ set: { 'redis.sentinels[0]': 's-0:26379', 'redis.clusterNodes[0]': 'c-0:6379' } }),
    ).toThrow(/mutually exclusive/);
    expect(() => render({ set: { 'redis.clusterNodes[0]': 'no-port' } })).toThrow(/clusterNodes/);
  });
});
