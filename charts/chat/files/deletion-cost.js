// Keeps this pod's controller.kubernetes.io/pod-deletion-cost at its number of open WebSockets (lower cost is deleted first), so a
// ReplicaSet scale-down removes (and drains) the emptiest pod first (KEP-2255). Runs in its own
// container of the server pod with the server image's Node; only this container gets an API token.
// Env: POD_NAME, POD_NAMESPACE, METRICS_URL, INTERVAL_S, TOKEN_FILE, KUBE_API, METRIC.
'use strict';
const { readFileSync } = require('node:fs');

const env = (name, fallback) => process.env[name] || fallback;
const pod = env('POD_NAME');
const namespace = env('POD_NAMESPACE');
const metricsUrl = env('METRICS_URL', 'http://127.0.0.1:9090/metrics');
const api = env('KUBE_API', 'https://kubernetes.default.svc');
const tokenFile = env('TOKEN_FILE', '/var/run/secrets/chat-deletion-cost/token');
const metric = env('METRIC', 'chat_connections_active');
const intervalMs = Number(env('INTERVAL_S', '30')) * 1000;
if (!pod || !namespace) {
  console.error('deletion-cost: POD_NAME and POD_NAMESPACE are required');
  process.exit(78);
}
const line = new RegExp(`^${metric}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm');

let last;
async function tick() {
  try {
    const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) });
    const m = line.exec(await res.text());
    if (!m) return;
    const cost = String(Math.round(Number(m[1])));
    if (cost === last) return;
    const patch = await fetch(`${api}/api/v1/namespaces/${namespace}/pods/${pod}`, {
      method: 'PATCH',
      headers: {
        authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}`,
        'content-type': 'application/merge-patch+json',
      },
      body: JSON.stringify({ metadata: { annotations: { 'controller.kubernetes.io/pod-deletion-cost': cost } } }),
      signal: AbortSignal.timeout(5000),
    });
    if (patch.ok) {
      last = cost;
      console.log(JSON.stringify({ msg: 'pod-deletion-cost set', cost: Number(cost) }));
    } else {
      console.error(JSON.stringify({ msg: 'pod-deletion-cost patch refused', status: patch.status }));
    }
  } catch (err) {
    console.error(JSON.stringify({ msg: 'pod-deletion-cost update failed', err: String(err) }));
  }
}

// One update at a time: the next starts intervalMs after the previous one finished, so a slow
// API call never overlaps the next one (which would patch the same value twice).
let timer;
async function loop() {
  await tick();
  timer = setTimeout(loop, intervalMs);
}
void loop();
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    clearTimeout(timer);
    process.exit(0);
  });
}
