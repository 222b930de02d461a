/**
 * The HTTP inference API against a running daemon (real onnxruntime on the demo model, a synthetic conveyor
 * camera, mosquitto, fetch on loopback): every route and error status, metadata and raw outputs against
 * onnxruntime-node run directly, /v1/detect against the CLI's `detect --json`, and the camera's frame rate
 * while the API is under a bounded load.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { Daemon } from '../../src/app/daemon.js';
import { defaultParts } from '../../src/app/parts.js';
import { loadConfigFile } from '../../src/config/load.js';
import { DEMO_MODEL_RELPATH } from '../../src/config/defaults.js';
import { renderConveyor } from '../../src/synth/conveyor.js';
import { silentLogger } from '../../src/ops/log.js';
import { freePort, mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js';
import { sleep, tempDir, writeYaml } from '../helpers/daemon-harness.js';
import { repoPath } from '../helpers/fixtures.js';

const MODEL = repoPath(DEMO_MODEL_RELPATH);
const MAIN = repoPath('dist', 'src', 'main.js');
const TOKEN = 'api-test-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const FPS = 10;

function cliDetect(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [MAIN, 'detect', ...args], { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
  );
}

/** A deterministic pseudo-random tensor (xorshift), so a failure can be replayed. */
function tensor(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) / 4294967296;
  }
  return out;
}

test('HTTP inference API on the running daemon', { skip: mosquittoSkip(), timeout: 180_000 }, async (t) => {
  const tmp = tempDir('inspectd-api-');
  t.after(() => tmp.cleanup());
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const port = await freePort();
  const tokenFile = path.join(tmp.dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const cfgFile = path.join(tmp.dir, 'config.yaml');
  const base = {
    device: { id: 'api1' },
    model: { path: MODEL, engine: 'cpu', threads: 1 },
    cameras: [
      {
        id: 'cam1',
        source: { type: 'synthetic', scene: 'conveyor', fps: FPS, width: 320, height: 240, seed: 7, defectRate: 0.5, beltPxPerFrame: 16 },
        deadlineMs: 2000,
        rules: { rejectClasses: ['scratch', 'dent', 'stain', 'missing_hole'] },
        decision: 'frame',
      },
    ],
    mqtt: { url: broker.url },
    outbox: { dir: path.join(tmp.dir, 'outbox') },
    snapshots: { enabled: false, dir: path.join(tmp.dir, 'snaps') },
    http: { port, tokenFile, maxQueueMs: 5000, api: { maxBodyBytes: 8 * 1024 * 1024, maxPixels: 1_000_000 } },
    console: { summary: 'off' },
  };
  writeYaml(cfgFile, base);
  // The model load waits for the test: the API must say it is not ready meanwhile.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const daemon = new Daemon({
    loaded: await loadConfigFile(cfgFile),
    configPath: cfgFile,
    logger: silentLogger(),
    statusIntervalMs: 1000,
    parts: {
      loadDetector: async (...a) => {
        await gate;
        return defaultParts.loadDetector(...a);
      },
      watchdogIntervalMs: async () => null,
    },
  });
  t.after(() => daemon.stop().catch(() => undefined));
  const started = daemon.start();
  started.catch(() => undefined);
  const url = `http://127.0.0.1:${port}`;
  const get = (p: string, init: RequestInit = {}) => fetch(url + p, { ...init, headers: { ...AUTH, ...(init.headers as Record<string, string>) } });
  const post = (p: string, body: Buffer | string, type: string) => get(p, { method: 'POST', body, headers: { 'content-type': type } });
  const json = async (res: Response) => (await res.json()) as Record<string, any>;

  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`${url}/v2/health/live`, { headers: AUTH }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await sleep(50);
  }
  const scene = await renderConveyor(7, 3, { width: 640, height: 480, defectRate: 1, beltPxPerFrame: 64 });
  const jpeg = await sharp(scene.rgb, { raw: { width: 640, height: 480, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();

  await t.test('model not loaded yet: /v2/health/ready, /v1/detect and model metadata answer 503 with Retry-After', async () => {
    for (const res of [await get('/v2/health/ready'), await post('/v1/detect', jpeg, 'image/jpeg'), await get('/v2/models/inspectd-demo')]) {
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '1');
      assert.match((await json(res)).error, /model is loading/);
    }
    const live = await get('/v2/health/live');
    assert.equal(live.status, 200);
    assert.deepEqual(await live.json(), { live: true });
  });
  release();
  await started;

  await t.test('bearer token: API routes without it are 401', async () => {
    for (const [method, p] of [
      ['POST', '/v1/detect'],
      ['POST', '/v2/models/inspectd-demo/infer'],
      ['GET', '/v2/models/inspectd-demo'],
      ['GET', '/openapi.json'],
    ] as const) {
      const res = await fetch(url + p, { method, ...(method === 'POST' ? { body: jpeg, headers: { 'content-type': 'image/jpeg' } } : {}) });
      assert.equal(res.status, 401, `${method} ${p}`);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="inspectd"');
      await res.text();
    }
  });

  const session = await ort.InferenceSession.create(MODEL, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  t.after(() => session.release());

  await t.test('health and model metadata: shapes and names as in the ONNX file, also under /versions/1; unknown model or version 404', async () => {
    assert.deepEqual(await json(await get('/v2/health/ready')), { ready: true });
    const server = await json(await get('/v2'));
    assert.equal(server.name, 'inspectd');
    const res = await get('/v2/models/inspectd-demo');
    assert.equal(res.status, 200);
    const meta = await json(res);
    assert.equal(meta.name, 'inspectd-demo');
    assert.equal(meta.platform, 'onnxruntime_onnx');
    const want = (m: readonly ort.InferenceSession.ValueMetadata[]) =>
      m.map((v) => ({ name: v.name, datatype: 'FP32', shape: (v as { shape: readonly (number | string)[] }).shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1)) }));
    assert.deepEqual(meta.inputs, want(session.inputMetadata));
    assert.deepEqual(meta.outputs, want(session.outputMetadata));
    assert.deepEqual(await json(await get('/v2/models/inspectd-demo/ready')), { name: 'inspectd-demo', ready: true });
    for (const p of ['/v2/models/nope', '/v2/models/nope/ready']) {
      const r = await get(p);
      assert.equal(r.status, 404);
      assert.match((await json(r)).error, /unknown model 'nope'/);
    }
    // The protocol's versioned paths: version 1 is the model served, any other 404.
    assert.deepEqual(await json(await get('/v2/models/inspectd-demo/versions/1')), meta);
    assert.deepEqual(await json(await get('/v2/models/inspectd-demo/versions/1/ready')), { name: 'inspectd-demo', ready: true });
    const v2 = await get('/v2/models/inspectd-demo/versions/2');
    assert.equal(v2.status, 404);
    assert.match((await json(v2)).error, /unknown version '2'/);
  });

  await t.test('infer: outputs equal a direct onnxruntime run on the same tensor, bit for bit; id echoed; nested data', async () => {
    const [n, c, h, w] = [1, 3, 320, 320];
    const input = tensor(n * c * h * w, 42);
    const direct = await session.run({ images: new ort.Tensor('float32', input, [n, c, h, w]) });
    const body = { id: 'req-1', inputs: [{ name: 'images', shape: [n, c, h, w], datatype: 'FP32', data: Array.from(input) }] };
    const res = await post('/v2/models/inspectd-demo/infer', JSON.stringify(body), 'application/json');
    assert.equal(res.status, 200);
    const out = await json(res);
    assert.equal(out.model_name, 'inspectd-demo');
    assert.equal(out.id, 'req-1');
    assert.equal(out.outputs.length, session.outputNames.length);
    for (const o of out.outputs) {
      const ref = direct[o.name];
      assert.ok(ref, `output ${o.name}`);
      assert.deepEqual(o.shape, [...ref.dims]);
      assert.equal(o.datatype, 'FP32');
      const got = new Uint32Array(Float32Array.from(o.data).buffer);
      const exp = new Uint32Array((ref.data as Float32Array).slice().buffer);
      assert.equal(got.length, exp.length);
      let diff = 0;
      for (let i = 0; i < got.length; i++) if (got[i] !== exp[i]) diff++;
      assert.equal(diff, 0, `${diff} of ${got.length} values differ from the direct run`);
    }
    // Nested row-major data is the same tensor (sent to the versioned path this time).
    const rows: number[][][][] = [[0, 1, 2].map((ci) => Array.from({ length: h }, (_, y) => Array.from(input.subarray((ci * h + y) * w, (ci * h + y + 1) * w))))];
    const nested = await post(
      '/v2/models/inspectd-demo/versions/1/infer',
      JSON.stringify({ inputs: [{ name: 'images', shape: [n, c, h, w], datatype: 'FP32', data: rows }] }),
      'application/json',
    );
    assert.equal(nested.status, 200);
    const nestedOut = await json(nested);
    assert.equal(nestedOut.id, undefined);
    assert.deepEqual(nestedOut.outputs[0].data, out.outputs[0].data);
  });

  await t.test('infer, binary tensor data extension: binary input, binary output, equal to the direct run', async () => {
    const dims = [1, 3, 320, 320];
    const input = tensor(3 * 320 * 320, 7);
    const direct = await session.run({ images: new ort.Tensor('float32', input, dims) });
    const name = session.outputNames[0]!;
    const header = Buffer.from(
      JSON.stringify({
        id: 'bin',
        inputs: [{ name: 'images', shape: dims, datatype: 'FP32', parameters: { binary_data_size: input.byteLength } }],
        outputs: [{ name, parameters: { binary_data: true } }],
      }),
    );
    const res = await get('/v2/models/inspectd-demo/infer', {
      method: 'POST',
      body: Buffer.concat([header, Buffer.from(input.buffer)]),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    const body = Buffer.from(await res.arrayBuffer());
    const len = Number(res.headers.get('inference-header-content-length'));
    const head = JSON.parse(body.subarray(0, len).toString()) as Record<string, any>;
    assert.equal(head.id, 'bin');
    const out = head.outputs[0];
    assert.equal(out.name, name);
    assert.equal(out.data, undefined);
    const ref = direct[name]!.data as Float32Array;
    assert.equal(out.parameters.binary_data_size, ref.byteLength);
    assert.ok(body.subarray(len).equals(Buffer.from(ref.buffer, ref.byteOffset, ref.byteLength)), 'binary output equals the direct run');
    const server = await json(await get('/v2'));
    assert.ok(server.extensions.includes('binary_tensor_data'));
    const short = await get('/v2/models/inspectd-demo/infer', {
      method: 'POST',
      body: Buffer.concat([header, Buffer.alloc(16)]),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    });
    assert.equal(short.status, 400);
    assert.match((await json(short)).error, /binary_data_size 1228800, but 16 bytes follow/);
  });

  await t.test('infer errors: 400 wrong shape, datatype, input name, malformed body; 404 unknown model', async () => {
    const bad = async (body: unknown, pattern: RegExp, model = 'inspectd-demo', status = 400) => {
      const res = await post(`/v2/models/${model}/infer`, typeof body === 'string' ? body : JSON.stringify(body), 'application/json');
      assert.equal(res.status, status, JSON.stringify(body).slice(0, 80));
      const e = await json(res);
      assert.equal(typeof e.error, 'string');
      assert.match(e.error, pattern);
    };
    await bad({ inputs: [{ name: 'images', shape: [1, 3, 2, 2], datatype: 'FP32', data: Array(12).fill(0) }] }, /shape \[1, 3, 2, 2\]/);
    await bad({ inputs: [{ name: 'images', shape: [1, 3, 320, 320], datatype: 'FP32', data: [1, 2, 3] }] }, /has 3 values/);
    await bad({ inputs: [{ name: 'images', shape: [1, 3, 320, 320], datatype: 'INT8', data: [1] }] }, /datatype INT8/);
    await bad({ inputs: [{ name: 'pixels', shape: [1, 3, 320, 320], datatype: 'FP32', data: [1] }] }, /unknown input 'pixels'/);
    await bad({ inputs: [{ name: 'images', shape: [1], datatype: 'FP32', data: ['a'] }] }, /FP32 data are numbers/);
    await bad({ inputs: [] }, /bad request/);
    await bad('{"inputs": [', /JSON/);
    await bad({ inputs: [{ name: 'images', shape: [1], datatype: 'FP32', data: [1] }] }, /unknown model 'other'/, 'other', 404);
  });

  await t.test('/v1/detect on a JPEG equals the CLI detect output (also as a form upload); camera rules add the reject decision; annotated JPEG', async () => {
    const file = path.join(tmp.dir, 'scene.jpg');
    writeFileSync(file, jpeg);
    const cli = JSON.parse((await cliDetect(['--model', MODEL, '--engine', 'cpu', '--threads', '1', '--conf', '0.25', '--iou', '0.7', '--json', file])).trim());
    const res = await post('/v1/detect?conf=0.25&iou=0.7&name=scene.jpg', jpeg, 'image/jpeg');
    assert.equal(res.status, 200, await res.clone().text());
    const api = await json(res);
    assert.ok(cli.detections.length > 0, 'the scene has detections');
    assert.deepEqual({ image: api.image, width: api.width, height: api.height, detections: api.detections }, cli);
    assert.equal(api.engine, 'ort-cpu');
    for (const k of ['preprocessMs', 'queueMs', 'inferenceMs', 'postprocessMs', 'totalMs']) assert.equal(typeof api.latency[k], 'number', k);

    const png = await sharp(jpeg).png().toBuffer();
    const fromPng = await json(await post('/v1/detect?conf=0.25&iou=0.7&name=scene.jpg', png, 'image/png'));
    assert.equal(fromPng.width, 640);
    const raw = await json(await post('/v1/detect?width=640&height=480&format=rgb24', scene.rgb, 'application/octet-stream'));
    assert.equal(raw.image, 'image');
    assert.equal(raw.height, 480);
    assert.ok(raw.detections.length > 0);

    // A form upload (what curl -F and browsers send): the same answer as the JPEG body.
    const form = new FormData();
    form.append('note', 'a text field before the file');
    form.append('image', new Blob([jpeg], { type: 'image/jpeg' }), 'scene.jpg');
    const fromForm = await get('/v1/detect?conf=0.25&iou=0.7&name=scene.jpg', { method: 'POST', body: form });
    assert.equal(fromForm.status, 200, await fromForm.clone().text());
    assert.deepEqual((await json(fromForm)).detections, api.detections);
    const textOnly = new FormData();
    textOnly.append('note', 'no file');
    const noImage = await get('/v1/detect', { method: 'POST', body: textOnly });
    assert.equal(noImage.status, 400);
    assert.match((await json(noImage)).error, /the form has no image/);

    const cam = await json(await post('/v1/detect?camera=cam1', jpeg, 'image/jpeg'));
    const rejectClasses = new Set(['scratch', 'dent', 'stain', 'missing_hole']);
    const defects = cam.detections.filter((d: { class: string }) => rejectClasses.has(d.class));
    assert.equal(cam.reject.camera, 'cam1');
    assert.equal(cam.reject.rejected, defects.length > 0);
    assert.deepEqual([...cam.reject.classes].sort(), [...new Set(defects.map((d: { class: string }) => d.class))].sort());

    const ann = await post('/v1/detect?annotated=1', jpeg, 'image/jpeg');
    assert.equal(ann.status, 200);
    assert.equal(ann.headers.get('content-type'), 'image/jpeg');
    assert.equal(ann.headers.get('x-inspectd-detections'), String(api.detections.length));
    const annMeta = await sharp(Buffer.from(await ann.arrayBuffer())).metadata();
    assert.deepEqual([annMeta.format, annMeta.width, annMeta.height], ['jpeg', 640, 480]);
  });

  await t.test('/v1/detect errors: 400 corrupt or incomplete, 404 camera, 413 body and pixels, 415 content type', async () => {
    const expect = async (res: Response, status: number, pattern: RegExp) => {
      assert.equal(res.status, status);
      const e = await json(res);
      assert.match(e.error, pattern);
    };
    await expect(await post('/v1/detect', Buffer.from('not an image at all'), 'image/jpeg'), 400, /cannot be decoded/);
    await expect(await post('/v1/detect', jpeg.subarray(0, 2000), 'image/jpeg'), 400, /cannot be decoded/);
    await expect(await post('/v1/detect', scene.rgb, 'application/octet-stream'), 400, /need \?width=&height=/);
    await expect(await post('/v1/detect?width=640&height=400', scene.rgb, 'application/octet-stream'), 400, /768000 bytes; the body has 921600/);
    await expect(await post('/v1/detect?conf=2', jpeg, 'image/jpeg'), 400, /conf/);
    await expect(await post('/v1/detect?camera=nope', jpeg, 'image/jpeg'), 404, /no camera 'nope'; cameras: cam1/);
    await expect(await post('/v1/detect', Buffer.alloc(9 * 1024 * 1024), 'application/octet-stream'), 413, /Request body is too large/);
    const huge = await sharp({ create: { width: 1200, height: 1000, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    await expect(await post('/v1/detect', huge, 'image/png'), 413, /1200x1000 pixels, more than http.api.maxPixels \(1000000\)/);
    await expect(await post('/v1/detect', 'hello', 'text/plain'), 415, /content type text\/plain/);
    await expect(await post('/v1/detect', '{}', 'application/json'), 415, /content type application\/json/);
    await expect(await post('/v1/detect', 'hello', 'application/x-unknown'), 415, /Unsupported Media Type/);
  });

  await t.test('/openapi.json documents every API route from the route schemas', async () => {
    const doc = await json(await get('/openapi.json'));
    assert.match(doc.openapi, /^3\./);
    for (const p of ['/v1/detect', '/v2/health/live', '/v2/health/ready', '/v2/models/{name}', '/v2/models/{name}/ready', '/v2/models/{name}/infer', '/healthz', '/metrics']) {
      assert.ok(doc.paths[p], `${p} documented`);
    }
    const params = doc.paths['/v1/detect'].post.parameters.map((p: { name: string }) => p.name);
    for (const q of ['conf', 'iou', 'camera', 'annotated', 'width', 'height', 'format']) assert.ok(params.includes(q), q);
    assert.deepEqual(doc.paths['/v2/models/{name}/infer'].post.requestBody.content['application/json'].schema.required, ['inputs']);
  });

  await t.test('the camera keeps its frame rate (within 10 %) while 4 clients load the API for 5 s', async () => {
    const pipeline = daemon.pipelineStats!;
    const published = () => pipeline.counters('cam1')!.published;
    const window = async (ms: number, during: Promise<unknown>[] = []) => {
      const p0 = published();
      const t0 = performance.now();
      await sleep(ms);
      const fps = ((published() - p0) * 1000) / (performance.now() - t0);
      await Promise.all(during);
      return fps;
    };
    // The clients run in another process, as a MES would: their own CPU is not the daemon's event loop's.
    const file = path.join(tmp.dir, 'load.jpg');
    writeFileSync(file, jpeg);
    const script = `
      const [url, token, file, ms, n] = process.argv.slice(1);
      const body = require('node:fs').readFileSync(file);
      const end = performance.now() + Number(ms);
      const counts = { served: 0, refused: 0, other: 0 };
      const client = async () => {
        while (performance.now() < end) {
          const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'image/jpeg', authorization: 'Bearer ' + token } });
          await res.arrayBuffer();
          counts[res.status === 200 ? 'served' : res.status === 503 ? 'refused' : 'other']++;
        }
      };
      Promise.all(Array.from({ length: Number(n) }, client)).then(() => process.stdout.write(JSON.stringify(counts)));`;
    const runLoad = () =>
      new Promise<{ served: number; refused: number; other: number }>((resolve, reject) =>
        execFile(process.execPath, ['-e', script, `${url}/v1/detect`, TOKEN, file, '5000', '4'], { timeout: 30_000 }, (err, stdout) =>
          err ? reject(err) : resolve(JSON.parse(stdout)),
        ),
      );
    // The build VM is shared and its speed drifts 2x: a pair (idle, loaded) is measured again once when it misses, and
    // one pair within 10 % passes. A scheduler that let the API take the camera's turns would miss both.
    const misses: string[] = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      const idle = await window(5000);
      let counts = { served: 0, refused: 0, other: 0 };
      const loaded = await window(5000, [runLoad().then((c) => (counts = c))]);
      assert.equal(counts.other, 0, 'every answer is 200 or 503');
      assert.ok(counts.served > 0, 'the API served requests under load');
      const c = pipeline.counters('cam1')!;
      if (idle >= FPS * 0.8 && loaded >= idle * 0.9) return;
      misses.push(
        `camera fps ${loaded.toFixed(1)} under API load (${counts.served} served, ${counts.refused} refused), ${idle.toFixed(1)} without; ` +
          `counters ${JSON.stringify({ captured: c.captured, dropped: c.dropped })}`,
      );
    }
    assert.fail(misses.join('\n'));
  });

  await t.test('a full queue or a request that waited http.maxQueueMs gets 503 with Retry-After', async () => {
    writeYaml(cfgFile, { ...base, http: { ...base.http, maxQueueMs: 1, api: { ...base.http.api, maxQueue: 1, retryAfterSec: 7 } } });
    await daemon.reload();
    const results = await Promise.all(Array.from({ length: 16 }, () => post('/v1/detect', jpeg, 'image/jpeg')));
    const busy = results.filter((r) => r.status === 503);
    assert.ok(busy.length > 0, `statuses ${results.map((r) => r.status).join(',')}`);
    assert.ok(results.every((r) => r.status === 200 || r.status === 503));
    for (const r of busy) {
      assert.equal(r.headers.get('retry-after'), '7');
      assert.match((await json(r)).error, /queue is full|waited 1 ms/);
    }
    for (const r of results) if (r.status === 200) await r.arrayBuffer();
  });

  await t.test('/healthz and /metrics are unchanged; unknown paths 404', async () => {
    const h = await get('/healthz');
    assert.equal(h.status, 200);
    assert.equal((await json(h)).ready, true);
    const m = await get('/metrics');
    assert.match(await m.text(), /inspectd_frames_captured_total\{camera="cam1"\}/);
    const nf = await get('/nope');
    assert.equal(nf.status, 404);
    assert.ok((await json(nf)).paths.includes('/v1/detect'));
  });
});
