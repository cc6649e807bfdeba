export { type Backend, Balancer, type BalancerEvents, type BalancerOptions } from './balancer.js';
export { reapOrphans } from './children.js';
export {
  Cluster,
  type ClusterEvents,
  type ClusterOptions,
  type ClusterState,
  DEFAULT_SERVER_ENTRY,
  type KillResult,
  type RollResult,
  type RollStep,
  startCluster,
} from './cluster.js';
export { bounceRedis, controlHandler } from './control.js';
export { freePort } from './net.js';
export { Pod, type PodExit, type PodInfo, type PodPhase } from './pod.js';
export { type RedisOptions, RedisServer, type RedisState } from './redis.js';
