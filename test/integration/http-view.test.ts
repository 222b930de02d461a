/** The line view's HTTP routes against a fake provider: token as header or cookie, snapshots read-only and traversal-safe, event stream. */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import type { LineViewProvider, ViewEvent, ViewState } from '../../src/contracts/line-view.js';
import { HttpServer } from '../../src/ops/http.js';
import { silentLogger } from '../../src/ops/log.js';
import { Metrics } from '../../src/ops/metrics.js';
import { tempDir } from '../helpers/daemon-harness.js';

const TOKEN = 'line-view-token-0123456789';

const STATE: ViewState = {
  device: 'd1',
  version: '0.0.0',
  state: 'online',
  uptimeSec: 1,
  engine: 'ort-cpu',
  refusals: [],
  model: { name: 'm.onnx', sha256: 'ab', classes: ['scratch'], error: null },
  configHash: 'h',
  configSource: 'c.yaml',
  lastConfigError: null,
  broker: { connected: true, description: 'embedded broker' },
  outboxDepth: 0,
  cameras: [],
};

function fakeView(snapDir: string | null) {
  const listeners = new Set<(e: ViewEvent) => void>();
  const provider: LineViewProvider = {
    state: () => STATE,
    recent: () => [],
    watch: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    latestJpeg: (camera) => (camera === 'cam1' ? { seq: 7, jpeg: Buffer.from([0xff, 0xd8, 0xff, 0xd9]) } : null),
    snapshotDir: () => snapDir,
  };
  return { provider, listeners };
}

/** A raw GET (fetch normalises `..` away, a browser or curl --path-as-is need not). */
function get(port: number, rawPath: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('line view: with http.tokenFile, /view?token= sets a cookie that opens the view (not the API); header works too', { timeout: 15_000 }, async (t) => {
  const tmp = tempDir('inspectd-view-http-');
  t.after(() => tmp.cleanup());
  const tokenFile = path.join(tmp.dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const { provider } = fakeView(null);
  const srv = new HttpServer({
    config: { enabled: true, host: '127.0.0.1', port: 0, tokenFile },
    metrics: new Metrics(),
    health: () => ({ ok: true, ready: true, mqttConnected: true, engine: 'ort-cpu', cameras: [] }),
    logger: silentLogger(),
    view: provider,
  });
  await srv.start();
  t.after(() => srv.stop());

  let r = await get(srv.port, '/view');
  assert.equal(r.status, 401);
  assert.match(r.body.toString(), /<form method="get" action="\/view">/, 'a sign-in form');
  assert.equal((await get(srv.port, '/view/state')).status, 401);
  assert.equal((await get(srv.port, '/view/live/cam1.jpg')).status, 401);
  r = await get(srv.port, '/view?token=wrong-token-0123456789');
  assert.equal(r.status, 401);
  assert.equal(r.headers['set-cookie'], undefined);

  r = await get(srv.port, `/view?token=${TOKEN}`);
  assert.equal(r.status, 303);
  assert.equal(r.headers.location, '/view');
  const cookie = r.headers['set-cookie']?.[0] ?? '';
  assert.match(cookie, /^inspectd_token=/);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  const jar = { cookie: cookie.split(';')[0]! };
  r = await get(srv.port, '/view', jar);
  assert.equal(r.status, 200);
  assert.match(r.body.toString(), /<title>inspectd line view<\/title>/);
  assert.doesNotMatch(r.body.toString(), /<(script|link|img)[^>]+(src|href)="(https?:)?\/\//, 'nothing loaded from elsewhere');
  r = await get(srv.port, '/view/state', jar);
  assert.equal(r.status, 200);
  assert.equal((JSON.parse(r.body.toString()) as { state: ViewState }).state.device, 'd1');
  assert.equal((await get(srv.port, '/view/live/cam1.jpg', jar)).status, 200);
  assert.equal((await get(srv.port, '/view/state', { cookie: 'inspectd_token=nope-nope-nope-nope-nope' })).status, 401);
  assert.equal((await get(srv.port, '/view/state', { cookie: 'inspectd_token=%E0%A4%A' })).status, 401, 'a malformed cookie is refused, not a crash');
  assert.equal((await get(srv.port, '/healthz', jar)).status, 401, 'the cookie opens the view only; the API still wants the header');
  assert.equal((await get(srv.port, '/view/state', { authorization: `Bearer ${TOKEN}` })).status, 200);
  assert.equal((await get(srv.port, '/healthz', { authorization: `Bearer ${TOKEN}` })).status, 200);
});

test('line view: snapshots are served from snapshots.dir only (no traversal, no symlinks, no other files); live JPEGs; /view/events', { timeout: 15_000 }, async (t) => {
  const tmp = tempDir('inspectd-view-snaps-');
  t.after(() => tmp.cleanup());
  const snaps = path.join(tmp.dir, 'snaps');
  mkdirSync(snaps);
  writeFileSync(path.join(snaps, '20260101T000000000Z_cam1_000000000001.jpg'), 'JPEGDATA');
  writeFileSync(path.join(tmp.dir, 'secret.jpg'), 'SECRET');
  writeFileSync(path.join(snaps, 'notes.txt'), 'TEXT');
  symlinkSync(path.join(tmp.dir, 'secret.jpg'), path.join(snaps, 'link.jpg'));
  const { provider, listeners } = fakeView(snaps);
  const srv = new HttpServer({
    config: { enabled: true, host: '127.0.0.1', port: 0 },
    metrics: new Metrics(),
    health: () => ({ ok: true, ready: true, mqttConnected: true, engine: 'ort-cpu', cameras: [] }),
    logger: silentLogger(),
    view: provider,
  });
  await srv.start();
  t.after(() => srv.stop());

  let r = await get(srv.port, '/view/snapshots/20260101T000000000Z_cam1_000000000001.jpg');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'image/jpeg');
  assert.equal(r.body.toString(), 'JPEGDATA');
  for (const p of [
    '../secret.jpg',
    '..%2Fsecret.jpg',
    '%2e%2e%2fsecret.jpg',
    '..%5Csecret.jpg',
    'link.jpg',
    'notes.txt',
    '%2Fetc%2Fpasswd',
    '.hidden.jpg',
    'missing.jpg',
    '%E0%A4%A.jpg',
  ]) {
    r = await get(srv.port, `/view/snapshots/${p}`);
    assert.equal(r.status, 404, `${p} refused`);
    assert.doesNotMatch(r.body.toString(), /SECRET|TEXT|root:/);
  }
  assert.equal((await get(srv.port, '/view/secret.jpg')).status, 404);

  r = await get(srv.port, '/view/live/cam1.jpg');
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-inspectd-seq'], '7');
  assert.equal((await get(srv.port, '/view/live/cam2.jpg')).status, 404, 'no image of that camera yet');
  assert.equal((await get(srv.port, '/')).headers.location, '/view');

  // The event stream: hello first, then what the provider sends; closing it unsubscribes.
  const body = await new Promise<string>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: srv.port, path: '/view/events' }, (res) => {
      assert.equal(res.headers['content-type'], 'text/event-stream');
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
        if (text.includes('event: hello') && listeners.size === 1 && !text.includes('event: frame')) {
          for (const l of listeners) l({ type: 'frame', camera: 'cam1', seq: 8 });
        }
        if (text.includes('event: frame')) {
          req.destroy();
          resolve(text);
        }
      });
    });
    req.on('error', (err) => (/socket hang up|aborted/.test(err.message) ? undefined : reject(err)));
  });
  assert.match(body, /^retry: 1000\n\nevent: hello\ndata: \{"state":/);
  assert.match(body, /event: frame\ndata: \{"camera":"cam1","seq":8\}/);
  const end = Date.now() + 2000;
  while (listeners.size > 0 && Date.now() < end) await new Promise((r2) => setTimeout(r2, 20));
  assert.equal(listeners.size, 0, 'a closed stream stops watching');
});
