import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TestRedis } from '@chat/testkit';
import { HonestProcess, MiB, type RoundTrips } from '../test/security-helpers.js';
import { cpuSeconds, rss, type Srv, sampleRss, startServer } from './attack-server.js';
import { ATTACKS, historyFlood, MESSAGES, sleep } from './attacks.js';

/**
 * Opt-in measurement (not part of `pnpm test`): runs each attack of issue 12 against the server
 * of a given checkout (`--checkout /path/to/repo`, default this one), one fresh server process
 * per attack, with an honest user in its own process measuring its round trips. Prints one row
 * per attack: the outcome, the server's RSS (VmRSS from /proc) before and at its peak, Redis
 * used_memory peak (history flood only), server CPU and the honest round trip. The attack code
 * is this checkout's, so an older server can be measured with the same attacks.
 *
 *   pnpm --filter @chat/server attack-figures -- --checkout /path/to/old --out old.json
 */
// pnpm passes the `--` of `pnpm attack-figures -- --only x` through; parseArgs would call it a positional.
const argv = process.argv.slice(2);
const { values: args } = parseArgs({
  args: argv[0] === '--' ? argv.slice(1) : argv,
  options: {
    checkout: { type: 'string', default: fileURLToPath(new URL('../../..', import.meta.url)) },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});
const SERVER_DIR = resolve(args.checkout ?? '.', 'apps/server');
const HONEST_FROM = '127.0.0.2';

interface Row {
  attack: string;
  outcome: string;
  rssBefore: number;
  rssPeak: number;
  redisPeak?: number;
  cpuPct: number;
  rtt: RoundTrips;
}

async function measure(
  name: string,
  env: Record<string, string>,
  run: (srv: Srv, sampleRedis: () => void) => Promise<string>,
  redis?: TestRedis,
): Promise<Row> {
  const srv = await startServer(SERVER_DIR, env);
  const honest = await HonestProcess.start(srv.wsUrl, await srv.token('honest'), {
    localAddress: HONEST_FROM,
  });
  let redisPeak = 0;
  let sampling = false;
  const admin = redis?.client();
  const redisLoop = async () => {
    sampling = true;
    while (sampling && admin) {
      const info = await admin.info('memory');
      redisPeak = Math.max(redisPeak, Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0));
      await sleep(20);
    }
  };
  const rssBefore = rss(srv.pid);
  const cpu0 = cpuSeconds(srv.pid);
  const t0 = performance.now();
  const peak = sampleRss(srv.pid);
  const probe = honest.probe();
  let outcome: string;
  try {
    outcome = await run(srv, () => void redisLoop());
  } catch (err) {
    outcome = `attack failed: ${err instanceof Error ? err.message : String(err)}`;
  }
  const rtt = await probe.stop();
  sampling = false;
  const cpuPct = ((cpuSeconds(srv.pid) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
  const row: Row = { attack: name, outcome, rssBefore, rssPeak: peak.stop(), cpuPct, rtt };
  if (admin) row.redisPeak = redisPeak;
  await honest.close().catch(() => {});
  admin?.disconnect();
  await srv.stop();
  return row;
}

const mib = (b: number) => (b / MiB).toFixed(0);
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : 'none');
function show(r: Row): string {
  const redis = r.redisPeak === undefined ? '-' : `${mib(r.redisPeak)} MiB`;
  return `| ${r.attack} | ${r.outcome} | ${mib(r.rssBefore)} -> ${mib(r.rssPeak)} MiB | ${redis} | ${r.cpuPct.toFixed(0)} % | ${ms(r.rtt.median)} / ${ms(r.rtt.p90)} / ${ms(r.rtt.max)} ms (n=${r.rtt.samples}) |`;
}

const rows: Row[] = [];
const wanted = (name: string) => !args.only || args.only.split(',').some((w) => name.includes(w));
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`server: ${SERVER_DIR}; machine load average ${loadavg()}`);
console.log(
  '| attack | outcome | server RSS before -> peak | Redis peak | server CPU | honest RTT p50 / p90 / max |',
);
console.log('|---|---|---|---|---|---|');
for (const [name, env, run] of ATTACKS) {
  if (!wanted(name)) continue;
  const row = await measure(name, env, run);
  rows.push(row);
  console.log(show(row));
}
if (wanted('history')) {
  const redis = await new TestRedis().start();
  try {
    const env = {
      BROKER: 'redis',
      REDIS_URL: redis.url,
      HISTORY_MAXLEN: String(MESSAGES),
      MAX_CONNECTIONS_PER_USER: '500',
      MAX_CONNECTIONS_PER_IP: '0',
      RATE_LIMIT_PER_S: '100000',
      RATE_LIMIT_BURST: '100000',
      USER_RATE_LIMIT_PER_S: '100000',
      USER_RATE_LIMIT_BURST: '100000',
    };
    const row = await measure('history-read flood', env, historyFlood, redis);
    rows.push(row);
    console.log(show(row));
  } finally {
    await redis.destroy();
  }
}
console.log(`machine load average at the end ${loadavg()}`);
if (args.out) writeFileSync(args.out, JSON.stringify({ server: SERVER_DIR, rows }, null, 2));
process.exit(0);
