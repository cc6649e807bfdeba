export {
  Autoscaler,
  type AutoscalerEvents,
  type AutoscalerOptions,
  chartMetric,
  type ScaleTarget,
} from './autoscaler.js';
export type { Backend, BalancerEvents } from './backend.js';
export { Balancer, type BalancerOptions } from './balancer.js';
export {
  type AdapterRule,
  adapterQuery,
  adapterRuleFor,
  type ChartAutoscaling,
  fromHpa,
  fromScaledObject,
  type KedaTrigger,
} from './chart-autoscaling.js';
export { Cluster, type ClusterState, startCluster } from './cluster.js';
export { bounceRedis, controlHandler } from './control.js';
export type { ClusterEvents, RollResult, RollStep } from './events.js';
export {
  type Behavior,
  HpaAlgorithm,
  type HpaSpec,
  type MetricReading,
  metricReplicas,
  type Recommendation,
} from './hpa.js';
export { deletionCost, deletionOrder, type KillResult } from './operations.js';
export { type ClusterOptions, DEFAULT_SERVER_ENTRY } from './options.js';
export { Pod, type PodExit, type PodInfo, type PodPhase } from './pod.js';
export {
  PROMETHEUS_INSTALL_HINT,
  type PrometheusOptions,
  PrometheusServer,
  prometheusAvailable,
  type Sample,
  type ScrapeTarget,
} from './prometheus.js';
