import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';
import { PROMETHEUS_INSTALL_HINT, prometheusAvailable } from '../src/prometheus.js';
import { Client, closeAll, token } from './client.js';

if (!prometheusAvailable()) throw new Error(PROMETHEUS_INSTALL_HINT);

/** pod label -> value of chat_connections_active, as Prometheus has it now. */
async function perPod(cluster: Cluster): Promise<Record<string, number>> {
  const samples = (await cluster.prometheus?.query('chat_connections_active')) ?? [];
  return Object.fromEntries(samples.map((s) => [s.metric.pod ?? '?', s.value]));
}

describe('Prometheus in the local cluster', () => {
  let cluster: Cluster;
  const clients: Client[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ pods: 2, prometheus: true, namespace: 'demo' });
  });
  afterAll(async () => {
    await closeAll(clients);
    await cluster?.stop();
  });

  it('scrapes every pod with pod and namespace labels, as Kubernetes service discovery would', async () => {
    const ids = cluster.pods().map((p) => p.id);
    await expect
      .poll(async () => (await cluster.prometheus?.targets())?.map((t) => t.health), {
        timeout: 15_000,
      })
      .toEqual(['up', 'up']);
    const up = (await cluster.prometheus?.query('up{job="chat"}')) ?? [];
    expect(up.map((s) => [s.metric.pod, s.metric.namespace, s.value]).sort()).toEqual(
      ids.map((id) => [id, 'demo', 1]).sort(),
    );
  });

  it('sees the sockets each pod really has open', async () => {
    const [a, b] = cluster.podHandles();
    if (!a || !b) throw new Error('two pods expected');
    const tok = await token(cluster.url, 'prom');
    for (let i = 0; i < 3; i++) clients.push(await Client.connect(`ws://127.0.0.1:${a.port}/ws`, tok));
    clients.push(await Client.connect(`ws://127.0.0.1:${b.port}/ws`, tok));
    await expect.poll(() => perPod(cluster), { timeout: 10_000 }).toEqual({ [a.id]: 3, [b.id]: 1 });
  });

  it('follows the pod set: a new pod is scraped, an exited one drops out', async () => {
    await cluster.scale(3);
    const third = cluster.pods()[2]?.id ?? '';
    await expect
      .poll(async () => Object.keys(await perPod(cluster)).sort(), { timeout: 15_000 })
      .toEqual(
        cluster
          .pods()
          .map((p) => p.id)
          .sort(),
      );
    expect((await perPod(cluster))[third]).toBe(0);
    await cluster.killPod(third, { replace: false });
    await expect
      .poll(async () => Object.keys(await perPod(cluster)), { timeout: 15_000 })
      .not.toContain(third);
  });
});

describe('a pod serving /metrics on its own METRICS_PORT', () => {
  let cluster: Cluster;
  afterAll(async () => {
    await cluster?.stop();
  });

  it('is scraped there (each pod gets its own METRICS_PORT; the main port has no /metrics)', async () => {
    cluster = await startCluster({
      pods: 2,
      prometheus: true,
      serverEntry: fileURLToPath(new URL('./fixtures/metrics-port-server.mjs', import.meta.url)),
    });
    const ports = cluster.podHandles().map((p) => Number(p.env.METRICS_PORT));
    expect(new Set(ports).size).toBe(2);
    await expect
      .poll(() => perPod(cluster), { timeout: 15_000 })
      .toEqual(Object.fromEntries(cluster.pods().map((p) => [p.id, 42])));
    expect(
      cluster
        .scrapeTargets()
        .map((t) => Number(t.address.split(':')[1]))
        .sort(),
    ).toEqual(ports.sort());
  });
});
