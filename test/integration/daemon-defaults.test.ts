/**
 * What `npm start` runs: `inspectd run` with no config = the embedded defaults (demo model on the synthetic
 * line, embedded broker). A real MQTT subscriber on the embedded broker must see rejects of every demo
 * reject class, each on a frame whose ground truth (the synthetic line is deterministic: frame seq n shows
 * scene n) really has that defect, with the payload README.md "MQTT contract" specifies; annotated snapshots land in ./var.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { MqttRecorder, tempDir } from '../helpers/daemon-harness.js';
import { DEMO_REJECT_CLASSES, embeddedDefaults } from '../../src/config/defaults.js';
import { buildSceneSvg, DEMO_CLASSES } from '../../src/synth/scene.js';
import { boxIou } from '../../src/eval/metrics.js';
import type { PublishedReject } from '../../src/contracts/sink.js';
import type { Box } from '../../src/contracts/vision.js';

const MAIN_JS = path.join(REPO_ROOT, 'dist', 'src', 'main.js');
const DEMO_MODEL = path.join(REPO_ROOT, 'models', 'demo', 'inspectd-demo.onnx');

test('inspectd run with no config: rejects of every demo class reach a subscriber on the embedded broker', { timeout: 180_000 }, async (t) => {
  assert.ok(existsSync(DEMO_MODEL), `demo model missing at ${DEMO_MODEL}: it is committed; rebuild with models/make-demo.sh`);
  const cam = embeddedDefaults(REPO_ROOT).config.cameras[0];
  assert.equal(cam.source.type, 'synthetic');
  const src = cam.source as { seed: number; width: number; height: number; defectRate: number };

  // cwd = a fresh folder and no STATE_DIRECTORY: the state (outbox, snapshots) must go to ./var there.
  const tmp = tempDir('inspectd-defaults-');
  t.after(() => tmp.cleanup());
  const env: NodeJS.ProcessEnv = { ...process.env, INSPECTD_LOG_LEVEL: 'info' };
  delete env.INSPECTD_CONFIG;
  delete env.STATE_DIRECTORY;
  delete env.NOTIFY_SOCKET;
  const child = spawn(process.execPath, [MAIN_JS, 'run'], { cwd: tmp.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const until = async (pred: () => boolean, ms: number, what: () => string) => {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`waiting for ${what()}; daemon output:\n${out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  // The embedded broker falls back to a free port when 1883 is taken: read the URL it logs.
  const brokerUrl = (): string | undefined => {
    for (const line of out.split('\n')) {
      if (!line.includes('embedded MQTT broker listening')) continue;
      try {
        const url = (JSON.parse(line) as { url?: string }).url;
        if (url) return url;
      } catch {
        // the line is still being written
      }
    }
    return undefined;
  };
  await until(() => brokerUrl() !== undefined, 60_000, () => 'the embedded broker');
  const rec = new MqttRecorder();
  t.after(() => rec.stop());
  await rec.start(brokerUrl()!, 'inspectd/#');
  await until(() => out.includes('"msg":"inspectd ready"'), 60_000, () => 'ready');
  const readyAt = out.length;

  const rejects = () => rec.json<PublishedReject>(`/${cam.id}/reject`);
  const seen = () => new Set(rejects().flatMap((r) => r.classes));
  // 5 fps with 30% defective plates: every class shows up within the first ~30 s of the demo line.
  await until(() => DEMO_REJECT_CLASSES.every((c) => seen().has(c)), 90_000, () => `rejects of ${DEMO_REJECT_CLASSES.join(', ')}; saw ${[...seen()].join(', ') || 'none'}`);

  // Status and camera state, retained, per the MQTT contract.
  const statusMsg = rec.messages.find((m) => /^inspectd\/[^/]+\/status$/.test(m.topic) && m.text === 'online');
  assert.ok(statusMsg, 'status online published');
  const device = statusMsg.topic.split('/')[1];
  const statusJson = rec.json<{ engine: string; model: { sha256: string; classes: number } }>('/status/json').at(-1);
  assert.ok(statusJson, 'JSON status published');
  assert.equal(statusJson.model.classes, DEMO_CLASSES.length);
  assert.match(statusJson.model.sha256, /^[0-9a-f]{64}$/);
  assert.ok(rec.on(`${device}/${cam.id}/state`).some((m) => m.text.includes('ok')), 'camera state ok published');
  assert.ok(rec.on(`${device}/${cam.id}/detections`).length > 0, 'detections published');

  // Every reject: well-formed, demo classes only, and mostly on frames that truly carry that defect.
  let onTruth = 0;
  for (const r of rejects()) {
    assert.equal(r.device, device);
    assert.equal(r.camera, cam.id);
    assert.ok(Number.isInteger(r.seq) && r.seq >= 0);
    assert.ok(r.key.includes(device) && r.key.includes(cam.id) && r.key.includes(String(r.seq)), `idempotency key ${r.key}`);
    assert.equal(typeof r.reason, 'string');
    assert.ok(r.reason.length > 0);
    assert.ok(!Number.isNaN(Date.parse(r.captureTime)));
    assert.equal(typeof r.deadlineMet, 'boolean');
    assert.ok(r.deadlineMs > 0 && r.latencyMs >= 0);
    assert.ok(r.detections.length > 0, 'a reject carries the detections that caused it');
    for (const d of r.detections) {
      assert.ok(DEMO_REJECT_CLASSES.includes(d.class), `reject class ${d.class}`);
      assert.equal(DEMO_CLASSES[d.classId], d.class);
      assert.ok(d.confidence > 0 && d.confidence <= 1);
      assert.ok(d.box.x1 >= 0 && d.box.y1 >= 0 && d.box.x2 <= src.width && d.box.y2 <= src.height && d.box.x2 > d.box.x1 && d.box.y2 > d.box.y1, JSON.stringify(d.box));
    }
    assert.deepEqual([...r.classes].sort(), [...new Set(r.detections.map((d) => d.class))].sort());
    const truth = buildSceneSvg(src.seed, r.seq, src).labels.map((l) => ({
      cls: DEMO_CLASSES[l.classId],
      box: { x1: (l.cx - l.w / 2) * src.width, y1: (l.cy - l.h / 2) * src.height, x2: (l.cx + l.w / 2) * src.width, y2: (l.cy + l.h / 2) * src.height },
    }));
    if (r.detections.some((d) => truth.some((g) => g.cls === d.class && boxIou(g.box, d.box) >= 0.3))) onTruth++;
  }
  const n = rejects().length;
  t.diagnostic(`${n} rejects (${[...seen()].join(', ')}), ${onTruth} on a ground-truth defect; broker ${brokerUrl()}`);
  // The model card's precision is ~0.9 at its best-F1 threshold; 0.75 leaves room without letting a broken model pass.
  assert.ok(onTruth >= 0.75 * n, `${onTruth} of ${n} rejects match a ground-truth defect of the frame`);
  assert.doesNotMatch(out.slice(readyAt), /"level":(50|60)/, 'no error logs after ready');

  // Ctrl-C (what a terminal sends to npm start): drain and exit 0.
  child.kill('SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise((r) => (timer = setTimeout(() => r('timeout'), 30_000)))]);
  clearTimeout(timer);
  assert.equal(code, 0, out.slice(-2000));
  assert.match(out, /"msg":"inspectd stopped"/);

  // Annotated snapshots under ./var/snapshots: the reject's box is drawn in red on the frame.
  const snapDir = path.join(tmp.dir, 'var', 'snapshots');
  const snaps = readdirSync(snapDir).filter((f) => f.endsWith('.jpg'));
  assert.ok(snaps.length > 0, `no snapshot in ${snapDir}`);
  const bySeq = new Map(rejects().map((r) => [r.seq, r]));
  const file = snaps.find((f) => bySeq.has(Number(/_(\d+)\.jpg$/.exec(f)?.[1])));
  assert.ok(file, `a snapshot named after a published reject's seq (have ${snaps.slice(0, 5).join(', ')})`);
  const r = bySeq.get(Number(/_(\d+)\.jpg$/.exec(file)![1]))!;
  const { data, info } = await sharp(path.join(snapDir, file)).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height], [src.width, src.height]);
  const red = redFractionOnEdges(data, info.width, info.channels, r.detections[0].box);
  assert.ok(red > 0.8, `box edges red in ${file}: ${red.toFixed(2)}`);
  t.diagnostic(`${snaps.length} snapshots; ${file}: ${(red * 100).toFixed(0)}% of the box edge pixels red`);
});

/** Fraction of pixels along a box's left, right and bottom edges (the top carries the label) that are red. */
function redFractionOnEdges(data: Buffer, width: number, channels: number, b: Box): number {
  const pts: [number, number][] = [];
  const [x1, y1, x2, y2] = [b.x1, b.y1, b.x2, b.y2].map(Math.round);
  for (let y = y1 + 2; y <= y2 - 2; y++) pts.push([x1, y], [Math.min(x2, width - 1), y]);
  for (let x = x1 + 2; x <= x2 - 2; x++) pts.push([x, y2]);
  let red = 0;
  for (const [x, y] of pts) {
    const i = (Math.min(y, data.length / channels / width - 1) * width + x) * channels;
    if (data[i]! > 170 && data[i + 1]! < 90 && data[i + 2]! < 90) red++;
  }
  return pts.length ? red / pts.length : 0;
}
