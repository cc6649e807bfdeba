import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every metric of one app instance, on its own registry (tests run several instances in one
 * process). `chat_connections_active` is the autoscaling metric used by the chart's HPA/KEDA.
 */
export function createMetrics(nodeId: string, opts: { defaults: boolean }) {
  const registry = new Registry();
  registry.setDefaultLabels({ node: nodeId });
  if (opts.defaults) collectDefaultMetrics({ register: registry });
  return {
    registry,
    connections: new Gauge({
      name: 'chat_connections_active',
      help: 'Open WebSocket connections on this pod',
      registers: [registry],
    }),
    connectionsTotal: new Counter({
      name: 'chat_connections_total',
      help: 'WebSocket connections accepted',
      registers: [registry],
    }),
    refused: new Counter({
      name: 'chat_upgrades_refused_total',
      help: 'WebSocket upgrades refused before the handshake, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    closes: new Counter({
      name: 'chat_server_closes_total',
      help: 'Sockets closed by the server, by close code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    framesIn: new Counter({
      name: 'chat_frames_in_total',
      help: 'Frames received from clients, by type (invalid frames as "invalid")',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    framesOut: new Counter({
      name: 'chat_frames_out_total',
      help: 'Frames queued to client sockets',
      registers: [registry],
    }),
    acked: new Counter({
      name: 'chat_messages_acked_total',
      help: 'Messages made durable and acknowledged (duplicates included)',
      labelNames: ['duplicate'] as const,
      registers: [registry],
    }),
    errors: new Counter({
      name: 'chat_error_frames_total',
      help: 'Error frames sent to clients, by code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    fanoutLatency: new Histogram({
      name: 'chat_fanout_latency_seconds',
      help: 'Time from a message being stored to this pod handing it to its sockets',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    liveHeals: new Counter({
      name: 'chat_live_heals_total',
      help: 'Times a room read history because live delivery had a gap (gap), lost its tail (tail) or reconnected (resubscribed)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    liveHealed: new Counter({
      name: 'chat_live_healed_messages_total',
      help: 'Messages live delivery missed and this pod read from history instead, by heal reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    liveTailChecks: new Counter({
      name: 'chat_live_tail_checks_total',
      help: 'Periods of the tail check run (LIVE_CHECK_MS)',
      registers: [registry],
    }),
    liveTailReads: new Counter({
      name: 'chat_live_tail_reads_total',
      help: 'Room stream tails read by the tail check (idle rooms are read less and less often)',
      registers: [registry],
    }),
    liveResyncs: new Counter({
      name: 'chat_live_resyncs_total',
      help: 'Times a gap in live delivery was no longer in history and members were sent a resync',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    rooms: new Gauge({
      name: 'chat_rooms_active',
      help: 'Rooms with at least one member on this pod',
      registers: [registry],
    }),
    drainDuration: new Histogram({
      name: 'chat_drain_duration_seconds',
      help: 'Time from SIGTERM to the last socket closed',
      buckets: [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60],
      registers: [registry],
    }),
    drainStarted: new Gauge({
      name: 'chat_drain_started_timestamp_seconds',
      help: 'Unix time this pod began draining (SIGTERM); 0 while serving (alerts on a drain past its window)',
      registers: [registry],
    }),
    brokerUp: new Gauge({
      name: 'chat_broker_up',
      help: '1 while the broker can serve (Redis reachable and answering), 0 while it cannot (sends are answered unavailable)',
      registers: [registry],
    }),
    drainClosed: new Counter({
      name: 'chat_drain_closed_sockets_total',
      help: 'Sockets closed with 1012 by a drain',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
