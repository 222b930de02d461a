import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { HttpServer } from '../../src/ops/http.js';
import { Metrics } from '../../src/ops/metrics.js';
import { silentLogger } from '../../src/ops/log.js';

test('http: /healthz follows health(), /metrics serves prometheus text, others 404; stop closes keep-alive sockets', { timeout: 15_000 }, async (t) => {
  const metrics = new Metrics();
  metrics.framesCaptured.inc({ camera: 'cam1' }, 3);
  metrics.observeStageMs('cam1', 'inference', 12);
  let healthy = true;
  const srv = new HttpServer({
    config: { enabled: true, host: '127.0.0.1', port: 0 },
    metrics,
    health: () => ({ ok: healthy, ready: true, mqttConnected: true, engine: 'ort-cpu', cameras: [{ id: 'cam1', state: healthy ? 'ok' : 'fault' }] }),
    logger: silentLogger(),
  });
  await srv.start();
  t.after(() => srv.stop());
  assert.ok(srv.port > 0);
  const base = `http://127.0.0.1:${srv.port}`;

  let res = await fetch(`${base}/healthz`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true, ready: true, mqttConnected: true, engine: 'ort-cpu', cameras: [{ id: 'cam1', state: 'ok' }] });
  healthy = false;
  res = await fetch(`${base}/healthz`);
  assert.equal(res.status, 503);
  assert.equal(((await res.json()) as { ok: boolean }).ok, false);

  res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const text = await res.text();
  assert.match(text, /inspectd_frames_captured_total\{camera="cam1"\} 3/);
  assert.match(text, /inspectd_stage_seconds_bucket\{le="0.012",camera="cam1",stage="inference"\} 1/);

  res = await fetch(`${base}/nope`);
  assert.equal(res.status, 404);
  await res.text();

  // A keep-alive connection left open must not hold stop() up.
  const agent = new http.Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    http
      .get(`${base}/healthz`, { agent }, (r) => {
        r.resume();
        r.on('end', () => resolve());
      })
      .on('error', reject);
  });
  const t0 = Date.now();
  await srv.stop();
  await srv.stop();
  assert.ok(Date.now() - t0 < 3000);
  agent.destroy();
  await assert.rejects(fetch(`${base}/healthz`));
});

test('http.tokenFile: every route needs the bearer token (401 with WWW-Authenticate otherwise); a short token is refused at start', { timeout: 10_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-token-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tokenFile = path.join(dir, 'token');
  writeFileSync(tokenFile, 's3cret-token-0123456789\n');
  const metrics = new Metrics();
  const srv = new HttpServer({
    config: { enabled: true, host: '127.0.0.1', port: 0, tokenFile },
    metrics,
    health: () => ({ ok: true, ready: true, mqttConnected: true, engine: 'ort-cpu', cameras: [] }),
    logger: silentLogger(),
  });
  await srv.start();
  t.after(() => srv.stop());
  const base = `http://127.0.0.1:${srv.port}`;
  for (const route of ['/healthz', '/metrics', '/nope']) {
    for (const auth of [undefined, 'Bearer wrong', 'Bearer s3cret-token-012345678', 'Basic czNjcmV0']) {
      const res = await fetch(base + route, auth ? { headers: { authorization: auth } } : {});
      assert.equal(res.status, 401, `${route} with ${auth ?? 'no header'}`);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="inspectd"');
      await res.text();
    }
  }
  const ok = await fetch(`${base}/healthz`, { headers: { authorization: 'Bearer s3cret-token-0123456789' } });
  assert.equal(ok.status, 200);
  assert.equal(((await ok.json()) as { ok: boolean }).ok, true);
  const m = await fetch(`${base}/metrics`, { headers: { authorization: 'bearer s3cret-token-0123456789' } });
  assert.equal(m.status, 200);
  await m.text();

  writeFileSync(tokenFile, 'short\n');
  const weak = new HttpServer({
    config: { enabled: true, host: '127.0.0.1', port: 0, tokenFile },
    metrics,
    health: () => ({ ok: true, ready: true, mqttConnected: true, engine: null, cameras: [] }),
    logger: silentLogger(),
  });
  await assert.rejects(weak.start(), { code: 'INSPECTD_ERR_CONFIG_INVALID', message: /at least 16 characters/ });
});
