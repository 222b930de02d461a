import assert from 'node:assert/strict';
import http from 'node:http';
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
    http.get(`${base}/healthz`, { agent }, (r) => {
      r.resume();
      r.on('end', () => resolve());
    }).on('error', reject);
  });
  const t0 = Date.now();
  await srv.stop();
  await srv.stop();
  assert.ok(Date.now() - t0 < 3000);
  agent.destroy();
  await assert.rejects(fetch(`${base}/healthz`));
});
