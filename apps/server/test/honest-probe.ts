import { Honest } from './security-helpers.js';

/**
 * Child process of HonestProcess: one honest chat user measuring round trips on command, so
 * the attack the test process generates does not stall the measurement.
 */
const ROOM = 'lobby';
let honest: Honest | undefined;
let probe: ReturnType<Honest['probe']> | undefined;
const send = (m: Record<string, unknown>) => process.send?.(m);

process.on('message', (m: { cmd: string; wsUrl?: string; token?: string; localAddress?: string }) => {
  void (async () => {
    try {
      switch (m.cmd) {
        case 'connect':
          honest = await Honest.connect(
            m.wsUrl ?? '',
            m.token ?? '',
            m.localAddress ? { localAddress: m.localAddress } : {},
          );
          await honest.join(ROOM);
          send({ type: 'ready' });
          return;
        case 'start':
          probe = honest?.probe(ROOM);
          send({ type: 'started' });
          return;
        case 'stop': {
          const samples = probe ? await probe.stop() : undefined;
          probe = undefined;
          send({ type: 'stats', samples: samples?.raw ?? [] });
          return;
        }
        case 'once':
          send({ type: 'rtt', ms: await honest?.roundTrip(ROOM) });
          return;
        case 'close':
          await honest?.close();
          process.exit(0);
      }
    } catch (err) {
      send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
