import type { SystemKind } from '../load/protocol.js';

export interface PodRef {
  id: string;
  pid: number | undefined;
  port: number;
  /** What a load client connects to. */
  url: string;
}

export interface PodExitInfo {
  code: number | null;
  signal: string | null;
  ms: number;
}

export interface RunningSystem {
  kind: SystemKind;
  label: string;
  version: string;
  pods: PodRef[];
  redisPid: number | undefined;
  /** Every Redis process when there are several (a Redis Cluster): their CPU is summed. */
  redisPids?: number[];
  /** CPU seconds each Redis node reports for itself (INFO cpu), read around a measured step. */
  redisNodeCpu?: () => Promise<RedisNodeCpu[]>;
  tokenSecret: string | undefined;
  /** SIGTERM one pod (the chat server drains; the others do what they do) and wait for its exit. */
  terminate(id: string): Promise<PodExitInfo>;
  stop(): Promise<void>;
}

export interface RedisNodeCpu {
  port: number;
  role: 'primary' | 'replica';
  cpuS: number;
}

export interface StartOptions {
  /** The chat server's Redis: one server (default) or a Redis Cluster of 3 primaries + 3 replicas. */
  redis?: 'single' | 'cluster';
  pods?: number;
  /** Extra environment for the pods (e.g. NODE_OPTIONS=--cpu-prof for the profile run). */
  env?: Record<string, string>;
  /** SIGTERM the pods and wait for their exit on stop. */
  gracefulStop?: boolean;
  /** Another entry for the chat pods (the profile run wraps the server bundle). */
  serverEntry?: string;
}
