import type { EventEmitter } from 'node:events';
import { httpStatus } from '@chat/testkit';
import type { ClusterEvents } from './events.js';
import type { Pod } from './pod.js';
import type { PrometheusServer, ScrapeTarget } from './prometheus.js';

/** Every pod that has a process (starting, running or draining), labelled as on Kubernetes. */
export function scrapeTargets(pods: readonly Pod[], namespace: string): ScrapeTarget[] {
  return pods
    .filter((p) => p.phase !== 'exited')
    .map((p) => ({ address: `${p.host}:${p.metricsPort ?? p.port}`, pod: p.id, namespace }));
}

/**
 * Keeps Prometheus' targets equal to the pod set, as service discovery does on Kubernetes:
 * retargeted on every pod start and exit, and when a ready pod's metrics port is known.
 */
export function followPods(
  prometheus: PrometheusServer,
  events: EventEmitter<ClusterEvents>,
  pods: () => readonly Pod[],
  namespace: string,
): void {
  const retarget = () => prometheus.setTargets(scrapeTargets(pods(), namespace));
  events.on('pod:start', retarget);
  events.on('pod:exit', retarget);
  // Where /metrics is (METRICS_PORT or the main port) is known once the pod answers.
  events.on('pod:ready', (info) => {
    const pod = pods().find((p) => p.id === info.id);
    if (pod && pod.metricsPort === undefined)
      void findMetricsPort(pod).then((port) => {
        pod.metricsPort = port;
        retarget();
      });
  });
}

/** The pod's METRICS_PORT when it serves /metrics there, else its main port. */
async function findMetricsPort(pod: Pod): Promise<number> {
  const port = Number(pod.env.METRICS_PORT);
  if (port && (await httpStatus(port, '/metrics', 1000)) === 200) return port;
  return pod.port;
}
