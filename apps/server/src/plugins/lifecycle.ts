import fp from 'fastify-plugin';

export type LifecycleState = 'serving' | 'draining' | 'stopped';

export interface Lifecycle {
  readonly state: LifecycleState;
  readonly draining: boolean;
  /** Registers work to run on drain (in registration order). */
  onDrain(task: () => Promise<void>): void;
  /** Flips readiness to 503 at once, then runs the drain tasks. Idempotent. */
  drain(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: Lifecycle;
  }
}

/**
 * Liveness, readiness and the drain sequence. Liveness stays 200 while draining (restarting a
 * draining pod would drop the sockets it is handing over); readiness is 503 while draining, so
 * no new client is routed here.
 *
 * Readiness and the shared store (READINESS_BROKER): a Redis that stops answering is the same
 * outage for every pod, and failing readiness on all of them at once would empty the Service
 * (web app, token endpoint and connected reads with it) without moving anyone anywhere better.
 * So by default (`startup`) a pod waits for its broker to answer once before it is ready, and
 * after that stays ready through outages, telling its clients "degraded" instead (status
 * frames; sends answered `unavailable`). `always` is the stricter policy: not ready whenever
 * the broker does not answer. The body always says what the broker is doing.
 */
export default fp(
  async (app) => {
    let state: LifecycleState = 'serving';
    const strict = app.config.READINESS_BROKER === 'always';
    let brokerAnswered = app.brokerHealth.state.ok;
    const stopWatching = app.brokerHealth.onChange((h) => {
      brokerAnswered ||= h.ok;
    });
    app.addHook('onClose', async () => stopWatching());
    const tasks: (() => Promise<void>)[] = [];
    let drained: Promise<void> | undefined;

    const lifecycle: Lifecycle = {
      get state() {
        return state;
      },
      get draining() {
        return state !== 'serving';
      },
      onDrain(task) {
        tasks.push(task);
      },
      drain() {
        drained ??= (async () => {
          state = 'draining';
          app.metrics.drainStarted.set(Date.now() / 1000);
          const started = performance.now();
          for (const task of tasks) await task();
          app.metrics.drainDuration.observe((performance.now() - started) / 1000);
          state = 'stopped';
        })();
        return drained;
      },
    };
    app.decorate('lifecycle', lifecycle);
    // The broker's health as a gauge (dashboards and the broker-unhealthy alert): with
    // READINESS_BROKER=startup readiness stays 200 through an outage, so only this shows it.
    const brokerUp = () => app.metrics.brokerUp.set(app.brokerHealth.state.ok ? 1 : 0);
    brokerUp();
    app.brokerHealth.onChange(brokerUp);

    app.get('/livez', { logLevel: 'warn' }, async () => ({ status: 'ok', node: app.config.NODE_ID }));
    app.get('/readyz', { logLevel: 'warn' }, async (_req, reply) => {
      const broker = app.broker.healthy() ? 'ok' : 'unavailable';
      brokerAnswered ||= broker === 'ok';
      const ready = state === 'serving' && (broker === 'ok' || (!strict && brokerAnswered));
      reply.code(ready ? 200 : 503);
      return { status: ready ? 'ready' : 'not_ready', state, broker, node: app.config.NODE_ID };
    });
  },
  { name: 'lifecycle', dependencies: ['config', 'metrics', 'broker'] },
);
