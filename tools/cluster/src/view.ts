/**
 * The cluster view at `/__cluster/`: one self-contained page (no build step, no framework)
 * that polls `GET /__cluster/state` and draws each pod as a card with its state and live
 * connection count, Redis, and buttons for the control API. It is served by the harness's load
 * balancer only, so it exists under `pnpm cluster` and never in the web app's production build.
 *
 * Pod states: starting (process up, not ready yet), ready (in the balancer), not ready (probe
 * failing), draining (taken out and SIGTERMed, closing its sockets), gone (exited; its card
 * stays a few seconds so a person sees where the connections went).
 */
export const VIEW_POLL_MS = 300;

const STYLE = `
:root { color-scheme: light dark; --bg:#f6f7fb; --panel:#fff; --text:#1d2233; --muted:#697089;
  --border:#e1e4ee; --ok:#16a34a; --wait:#d97706; --down:#dc2626; --accent:#4f46e5;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--text); }
@media (prefers-color-scheme: dark) { :root { --bg:#0f1220; --panel:#171b2e; --text:#e7e9f3; --muted:#9aa1bd; --border:#2a3050; } }
body { margin: 0; padding: 1rem 1.25rem; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .5rem 1rem; }
h1 { font-size: 1.2rem; margin: 0; }
.muted { color: var(--muted); }
.controls { display: flex; flex-wrap: wrap; gap: .5rem; margin: 1rem 0; align-items: center; }
button { font: inherit; padding: .35rem .8rem; border-radius: 8px; border: 1px solid var(--border);
  background: var(--panel); color: var(--text); cursor: pointer; }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
button:disabled { opacity: .5; cursor: default; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .75rem; }
.card { background: var(--panel); border: 1px solid var(--border); border-left: 6px solid var(--muted);
  border-radius: 10px; padding: .6rem .8rem; transition: opacity .4s; }
.card h2 { font: 600 .95rem ui-monospace, Menlo, Consolas, monospace; margin: 0 0 .2rem; }
.card .count { font-size: 2rem; font-weight: 700; line-height: 1.1; font-variant-numeric: tabular-nums; }
.card .bar { height: 6px; background: var(--border); border-radius: 3px; overflow: hidden; margin-top: .3rem; }
.card .bar span { display: block; height: 100%; background: var(--accent); transition: width .3s; }
.state-ready { border-left-color: var(--ok); }
.state-starting, .state-not-ready { border-left-color: var(--wait); }
.state-draining { border-left-color: var(--down); }
.state-gone { opacity: .45; border-left-style: dashed; }
.state { font-size: .8rem; text-transform: uppercase; letter-spacing: .05em; font-weight: 600; }
.redis { margin-top: 1rem; }
#log { margin-top: 1rem; font: .8rem ui-monospace, Menlo, Consolas, monospace; color: var(--muted); white-space: pre-wrap; }
`;

const SCRIPT = `
const POLL_MS = ${VIEW_POLL_MS};
const GONE_MS = 8000;
const cards = document.getElementById('cards');
const gone = new Map(); // pod id -> { info, at }
let last;

function podState(p) {
  if (p.phase === 'exited') return 'gone';
  if (p.phase === 'terminating') return 'draining';
  if (p.phase === 'starting') return 'starting';
  if (!p.routable) return 'draining';
  return p.ready ? 'ready' : 'not ready';
}

function card(p, state, max) {
  const el = document.createElement('article');
  el.className = 'card state-' + state.replace(' ', '-');
  el.dataset.pod = p.id;
  el.setAttribute('aria-label', 'Pod ' + p.id);
  const exit = p.exit ? (p.exit.signal ? 'signal ' + p.exit.signal : 'exit ' + p.exit.code) : '';
  el.innerHTML = '<h2></h2><div class="state"></div><div class="count" aria-label="Connections"></div>' +
    '<div class="muted">connections</div><div class="bar"><span></span></div><div class="muted detail"></div>';
  el.querySelector('h2').textContent = p.id;
  el.querySelector('.state').textContent = state;
  el.querySelector('.count').textContent = String(p.connections);
  el.querySelector('.bar span').style.width = (max ? Math.round((100 * p.connections) / max) : 0) + '%';
  el.querySelector('.detail').textContent = 'port ' + p.port + (p.pid ? ' · pid ' + p.pid : '') + (exit ? ' · ' + exit : '');
  return el;
}

function render(s) {
  const now = Date.now();
  const live = new Set(s.pods.map((p) => p.id));
  if (last) for (const p of last.pods) if (!live.has(p.id) && !gone.has(p.id)) {
    const exit = s.exited.find((e) => e.id === p.id);
    gone.set(p.id, { info: { ...p, phase: 'exited', connections: 0, exit }, at: now });
  }
  for (const [id, g] of gone) if (now - g.at > GONE_MS || live.has(id)) gone.delete(id);
  const all = [...s.pods.map((p) => [p, podState(p)]), ...[...gone.values()].map((g) => [g.info, 'gone'])];
  all.sort((a, b) => a[0].startedAt - b[0].startedAt);
  const max = Math.max(1, ...s.pods.map((p) => p.connections));
  cards.replaceChildren(...all.map(([p, st]) => card(p, st, max)));
  const total = s.pods.reduce((n, p) => n + p.connections, 0);
  document.getElementById('total').textContent = total + ' connections on ' + s.pods.length + ' pods' + (s.busy ? ' · rolling…' : '');
  const r = document.getElementById('redis');
  r.textContent = 'Redis 127.0.0.1:' + s.redis.port + ': ' + s.redis.state;
  r.dataset.state = s.redis.state;
  document.getElementById('redis-toggle').textContent = s.redis.state === 'running' ? 'Stop Redis' : 'Start Redis';
  document.getElementById('replicas').textContent = String(s.pods.filter((p) => p.phase !== 'terminating').length);
  document.getElementById('roll').disabled = s.busy;
  document.body.dataset.busy = String(s.busy);
  last = s;
}

async function poll() {
  try {
    const res = await fetch('/__cluster/state', { cache: 'no-store' });
    if (res.ok) render(await res.json());
  } catch (err) {
    document.getElementById('total').textContent = 'cluster not answering: ' + err.message;
  }
  setTimeout(poll, POLL_MS);
}

function note(text) {
  const log = document.getElementById('log');
  log.textContent = new Date().toLocaleTimeString() + '  ' + text + '\\n' + log.textContent.split('\\n').slice(0, 8).join('\\n');
}

async function act(label, path) {
  note(label + '…');
  try {
    const res = await fetch('/__cluster/' + path, { method: 'POST' });
    const body = await res.json().catch(() => ({}));
    note(label + (res.status === 202 ? ': started' : res.ok ? ': done' : ': failed (' + (body.message || body.error || res.status) + ')'));
  } catch (err) {
    note(label + ': ' + err.message);
  }
}

document.getElementById('roll').onclick = () => act('rolling update', 'roll?wait=0');
document.getElementById('kill').onclick = () => act('kill -9 the busiest pod', 'kill');
document.getElementById('redis-toggle').onclick = () =>
  last && last.redis.state === 'running' ? act('stop Redis', 'redis/stop') : act('start Redis', 'redis/start');
document.getElementById('scale-down').onclick = () => last && act('scale down', 'scale?replicas=' + Math.max(1, last.pods.length - 1));
document.getElementById('scale-up').onclick = () => last && act('scale up', 'scale?replicas=' + (last.pods.length + 1));
poll();
`;

export function clusterPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cluster view</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>Cluster view</h1>
  <span id="total" class="muted" role="status" aria-label="Cluster">loading…</span>
  <a href="/" target="_blank" rel="noopener">open the chat ↗</a>
</header>
<div class="controls">
  <button id="roll" class="primary" type="button">Rolling update</button>
  <button id="kill" type="button">Kill busiest pod</button>
  <button id="redis-toggle" type="button">Stop Redis</button>
  <span>Replicas</span>
  <button id="scale-down" type="button" aria-label="Scale down">−</button>
  <strong id="replicas">·</strong>
  <button id="scale-up" type="button" aria-label="Scale up">+</button>
</div>
<section id="cards" class="cards" aria-label="Pods"></section>
<p id="redis" class="redis" role="note" aria-label="Redis"></p>
<div id="log" aria-live="polite"></div>
<script type="module">${SCRIPT}</script>
</body>
</html>
`;
}
