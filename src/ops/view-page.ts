/**
 * The line view page: one HTML document with its CSS and JS inline (no build step, nothing fetched from
 * elsewhere: the box is offline). Data arrives on /view/events (server-sent events); live images are
 * fetched from /view/live/<camera>.jpg when the stream says a new one is ready, one request in flight per
 * camera, so a slow phone simply shows fewer frames. Every daemon value is set with textContent, never as HTML.
 */

const STYLE = `
:root{--ok:#1fa34a;--fault:#e0342b;--warn:#e6a100;--bg:#101214;--card:#1b1e22;--line:#2c3137;--dim:#9aa3ad}
*{box-sizing:border-box}
body{margin:0;font:16px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:#eef1f4}
header{display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center;padding:.5rem 1rem;background:#16191c;border-bottom:1px solid var(--line)}
header h1{font-size:1.2rem;margin:0}
.badge{display:inline-block;padding:.15rem .55rem;border-radius:.4rem;font-weight:700;font-size:.9rem;color:#fff;background:#555}
.ok{background:var(--ok)}.fault{background:var(--fault)}.starting,.warn{background:var(--warn);color:#111}
main{display:grid;grid-template-columns:minmax(0,1fr);gap:1rem;padding:1rem}
#strip-section{order:2}#daemon-section{order:3}
@media (min-width:1200px){main{grid-template-columns:minmax(0,3fr) minmax(340px,1fr)}#daemon-section{order:0}#strip-section{grid-column:1/-1}}
details summary{cursor:pointer}
section h2{font-size:1rem;margin:0 0 .5rem;color:var(--dim);text-transform:uppercase;letter-spacing:.05em}
#cams{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:1rem}
.cam,.panel{background:var(--card);border:2px solid var(--line);border-radius:.6rem;padding:.6rem}
.cam[data-state=fault]{border-color:var(--fault)}.cam[data-state=ok]{border-color:var(--ok)}
.cam-head{display:flex;justify-content:space-between;align-items:center;gap:.5rem;margin-bottom:.4rem}
.cam-head b{font-size:1.25rem}
.frame{position:relative;background:#000;aspect-ratio:4/3;border-radius:.3rem;overflow:hidden}
.frame img{width:100%;height:100%;object-fit:contain;display:block}
.frame .why{position:absolute;inset:auto 0 0 0;padding:.4rem .6rem;background:rgba(224,52,43,.92);font-weight:700;display:none}
.cam[data-state=fault] .why{display:block}
.counters{display:grid;grid-template-columns:repeat(4,1fr);gap:.3rem;margin-top:.5rem;text-align:center}
.counter span{display:block;font-size:.75rem;color:var(--dim)}
.counter b{font-size:1.9rem;font-variant-numeric:tabular-nums}
.classes{font-size:.9rem;color:var(--dim);margin-top:.3rem;min-height:1.2em}
#strip{display:flex;gap:.6rem;overflow-x:auto;padding-bottom:.4rem;min-height:3rem}
.item{flex:0 0 190px;background:var(--card);border:2px solid var(--fault);border-radius:.5rem;padding:.35rem;cursor:pointer;font-size:.85rem}
.item.pass{border-color:var(--ok)}
.item .thumb{width:100%;aspect-ratio:4/3;object-fit:cover;background:#000;display:block;border-radius:.25rem}
.item .cls{font-weight:700;font-size:1rem;color:#ff7b73}.item.pass .cls{color:#7be39a}
.item .meta{color:var(--dim)}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.3rem .8rem;margin:0}
dt{color:var(--dim)}dd{margin:0;overflow-wrap:anywhere}
#config-error{display:none;margin-top:.6rem;padding:.5rem;border-radius:.4rem;background:rgba(224,52,43,.18);border:1px solid var(--fault);white-space:pre-wrap;overflow-wrap:anywhere}
#conn[data-live=false]{background:var(--fault)}
#lightbox{position:fixed;inset:0;background:rgba(0,0,0,.9);display:none;align-items:center;justify-content:center;z-index:9;cursor:zoom-out;flex-direction:column;gap:.5rem}
#lightbox img{max-width:96vw;max-height:88vh}
.empty{color:var(--dim)}
`;

const SCRIPT = `
'use strict';
const $ = (s) => document.querySelector(s);
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
const cams = new Map();
const items = new Map();
let stream = null;

function fmtMs(v) { return v === null || v === undefined ? '–' : (v < 100 ? v.toFixed(1) : Math.round(v)); }
function fmtUptime(s) { const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60); return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + m + 'm ' + (s % 60) + 's'; }
function setText(sel, text) { const e = $(sel); if (e) e.textContent = text; }

function camCard(id) {
  let c = cams.get(id);
  if (c) return c;
  const card = el('article', 'cam'); card.dataset.camera = id;
  const head = el('div', 'cam-head'); const name = el('b', '', id); const badge = el('span', 'badge', '…');
  head.append(name, badge);
  const frame = el('div', 'frame'); const img = el('img'); img.alt = 'live view of ' + id; const why = el('div', 'why');
  frame.append(img, why);
  const counters = el('div', 'counters'); const n = {};
  for (const [k, label] of [['fps', 'fps'], ['p50', 'p50 ms'], ['p99', 'p99 ms'], ['rejects', 'rejects']]) {
    const box = el('div', 'counter'); n[k] = el('b', '', '–'); box.append(n[k], el('span', '', label)); counters.append(box);
  }
  const classes = el('div', 'classes');
  card.append(head, frame, counters, classes);
  $('#cams').append(card);
  c = { card, badge, img, why, n, classes, loading: false, want: -1, shown: -1 };
  img.addEventListener('load', () => { c.loading = false; c.shown = Number(img.dataset.pending); img.dataset.seq = String(c.shown); if (c.want > c.shown) loadFrame(id); });
  img.addEventListener('error', () => { c.loading = false; });
  cams.set(id, c);
  return c;
}

function loadFrame(id) {
  const c = camCard(id);
  if (c.loading || c.want <= c.shown) return;
  c.loading = true;
  c.img.dataset.pending = String(c.want);
  c.img.src = '/view/live/' + encodeURIComponent(id) + '.jpg?seq=' + c.want;
}

function renderState(s) {
  setText('#device', s.device);
  setText('#version', 'v' + s.version);
  setText('#uptime', 'up ' + fmtUptime(s.uptimeSec));
  const st = $('#daemon-state'); st.textContent = s.state; st.className = 'badge ' + (s.state === 'online' ? 'ok' : 'starting');
  const eng = $('#engine'); eng.textContent = s.engine || 'none'; eng.className = 'badge ' + (s.engine ? 'ok' : 'fault');
  setText('#refusals-summary', s.refusals.length ? s.refusals.map((r) => r.kind).join(', ') : 'none');
  setText('#refusals', s.refusals.map((r) => r.kind + ': ' + r.reason).join('\\n'));
  setText('#model-name', s.model.name + (s.model.error ? ' (error: ' + s.model.error + ')' : ''));
  setText('#model-sha', s.model.sha256 ? s.model.sha256.slice(0, 16) + '…' : '–');
  $('#model-sha').title = s.model.sha256 || '';
  setText('#model-classes', s.model.classes.join(', ') || '–');
  setText('#config-hash', s.configHash.slice(0, 12));
  setText('#config-source', s.configSource);
  const ce = $('#config-error');
  if (s.lastConfigError) { ce.style.display = 'block'; ce.textContent = 'Last config edit rejected (' + s.lastConfigError.at + '):\\n' + s.lastConfigError.message; }
  else { ce.style.display = 'none'; ce.textContent = ''; }
  const b = $('#broker'); b.textContent = s.broker.connected ? 'connected' : 'disconnected'; b.className = 'badge ' + (s.broker.connected ? 'ok' : 'fault');
  setText('#broker-desc', s.broker.description || '');
  const od = $('#outbox'); od.textContent = String(s.outboxDepth); od.className = 'badge ' + (s.outboxDepth > 0 ? 'warn' : 'ok');
  const seen = new Set();
  for (const cam of s.cameras) {
    seen.add(cam.id);
    const c = camCard(cam.id);
    const state = cam.paused ? 'paused' : cam.state;
    c.card.dataset.state = state;
    c.badge.textContent = state.toUpperCase(); c.badge.className = 'badge ' + (state === 'ok' ? 'ok' : state === 'fault' ? 'fault' : 'warn');
    c.why.textContent = cam.reason ? 'FAULT: ' + cam.reason : 'FAULT';
    c.n.fps.textContent = cam.fps.toFixed(1); c.n.p50.textContent = fmtMs(cam.p50Ms); c.n.p99.textContent = fmtMs(cam.p99Ms); c.n.rejects.textContent = String(cam.rejects);
    const by = Object.entries(cam.rejectsByClass).sort((a, b) => b[1] - a[1]);
    c.classes.textContent = by.length ? by.map(([k, v]) => k + ' ' + v).join(' · ') : 'no rejects';
  }
  for (const [id, c] of cams) if (!seen.has(id)) { c.card.remove(); cams.delete(id); }
}

function itemCard(it) {
  const card = el('div', 'item' + (it.decision === 'pass' ? ' pass' : '')); card.dataset.key = it.key; card.tabIndex = 0;
  const img = el('img', 'thumb'); img.alt = 'snapshot ' + it.key;
  if (it.snapshot) img.src = '/view/snapshots/' + encodeURIComponent(it.snapshot);
  const conf = it.confidence === null ? '' : ' ' + Math.round(it.confidence * 100) + '%';
  const time = new Date(it.time).toLocaleTimeString();
  const lines = [el('div', 'cls', (it.decision === 'pass' ? 'PASS' : it.classes.join(', ')) + conf), el('div', 'meta', it.camera + ' #' + it.seq + ' · ' + time)];
  if (it.partId) lines.push(el('div', 'meta', 'part ' + it.partId));
  if (it.ejectAt) lines.push(el('div', 'meta', 'eject ' + new Date(it.ejectAt).toLocaleTimeString() + (it.ejectDelayMs !== undefined ? ' (+' + it.ejectDelayMs + ' ms)' : '')));
  lines.push(el('div', 'meta', it.key));
  card.append(img, ...lines);
  const open = () => { if (!it.snapshot) return; $('#lightbox img').src = img.src; setText('#lightbox-caption', it.key + ' · ' + it.reason); $('#lightbox').style.display = 'flex'; };
  card.addEventListener('click', open);
  card.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
  return card;
}

function upsert(it, atEnd) {
  const old = items.get(it.key);
  const card = itemCard(it);
  if (old) old.replaceWith(card); else if (atEnd) $('#strip').append(card); else $('#strip').prepend(card);
  items.set(it.key, card);
  while ($('#strip').children.length > 24) { const last = $('#strip').lastElementChild; items.delete(last.dataset.key); last.remove(); }
  setText('#strip-empty', items.size ? '' : 'No rejects since the daemon started.');
}

function setLive(live) { const c = $('#conn'); c.dataset.live = String(live); c.textContent = live ? 'live' : 'reconnecting…'; c.className = 'badge ' + (live ? 'ok' : 'fault'); }

function connect() {
  if (stream) stream.close();
  const es = stream = new EventSource('/view/events');
  es.addEventListener('hello', (e) => {
    const d = JSON.parse(e.data);
    setLive(true);
    for (const card of items.values()) card.remove();
    items.clear();
    for (const it of d.recent) upsert(it, true);
    setText('#strip-empty', items.size ? '' : 'No rejects since the daemon started.');
    for (const c of cams.values()) { c.want = -1; c.shown = -1; c.loading = false; }
    renderState(d.state);
  });
  es.addEventListener('state', (e) => renderState(JSON.parse(e.data)));
  es.addEventListener('item', (e) => upsert(JSON.parse(e.data), false));
  es.addEventListener('frame', (e) => { const f = JSON.parse(e.data); const c = camCard(f.camera); c.want = Math.max(c.want, f.seq); if (f.seq < c.shown) { c.shown = -1; c.want = f.seq; } loadFrame(f.camera); });
  es.addEventListener('error', () => {
    setLive(false);
    // The browser retries a dropped stream itself; one refused outright (closed) is reopened here.
    if (es.readyState === EventSource.CLOSED) setTimeout(() => { if (stream === es) connect(); }, 2000);
  });
}

$('#lightbox').addEventListener('click', () => { $('#lightbox').style.display = 'none'; });
connect();
`;

export const VIEW_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>inspectd line view</title><style>${STYLE}</style></head>
<body>
<header><h1>inspectd <span id="device"></span></h1><span id="daemon-state" class="badge">…</span><span id="conn" class="badge" data-live="false">connecting…</span>
<span id="version" class="meta"></span><span id="uptime"></span></header>
<main>
<section id="cams-section"><h2>Cameras</h2><div id="cams"></div></section>
<section id="daemon-section"><h2>Daemon</h2><div class="panel"><dl>
<dt>Engine</dt><dd><span id="engine" class="badge">–</span></dd>
<dt>Refused</dt><dd><details><summary id="refusals-summary">–</summary><div id="refusals" style="white-space:pre-wrap"></div></details></dd>
<dt>Model</dt><dd id="model-name">–</dd>
<dt>sha256</dt><dd id="model-sha">–</dd>
<dt>Classes</dt><dd id="model-classes">–</dd>
<dt>Config</dt><dd><span id="config-hash">–</span> <span id="config-source" style="color:var(--dim)"></span></dd>
<dt>Broker</dt><dd><span id="broker" class="badge">–</span> <span id="broker-desc" style="color:var(--dim)"></span></dd>
<dt>Outbox</dt><dd><span id="outbox" class="badge">–</span></dd>
</dl><div id="config-error" role="alert"></div></div></section>
<section id="strip-section"><h2>Recent rejects</h2><div id="strip"></div><div id="strip-empty" class="empty"></div></section>
</main>
<div id="lightbox" role="dialog" aria-label="snapshot"><img alt="snapshot"><div id="lightbox-caption"></div></div>
<script>${SCRIPT}</script>
</body></html>
`;

function escapeHtml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&#39;', '"': '&quot;' })[c]!);
}

/** Asked for when http.tokenFile is set and the browser has no token cookie yet. */
export function loginPage(problem: string | null): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>inspectd line view: token</title><style>body{font:18px system-ui,sans-serif;background:#101214;color:#eee;display:grid;place-items:center;min-height:90vh}
input,button{font-size:1rem;padding:.5rem}p.err{color:#ff7b73}</style></head><body><form method="get" action="/view">
<h1>inspectd line view</h1><p>This daemon asks for the token in its http.tokenFile.</p>${problem ? `<p class="err">${escapeHtml(problem)}</p>` : ''}
<input name="token" type="password" autocomplete="current-password" aria-label="token" required> <button>Open</button></form></body></html>`;
}
