/**
 * What `npm start` runs: `inspectd run` with no config = the embedded defaults (demo model on the moving
 * synthetic line, embedded broker). A real MQTT subscriber on the embedded broker must see one verdict per
 * plate (the line is deterministic: frame seq n shows conveyor frame n, so each verdict's box names the
 * plate it is about), reject verdicts of every demo reject class mostly on plates that truly are defective,
 * with the payload the README specifies; the evidence snapshots land in ./var.
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
import { DEMO_CLASSES } from '../../src/synth/scene.js';
import { buildConveyorSvg, conveyorParts } from '../../src/synth/conveyor.js';
import { boxIou } from '../../src/eval/metrics.js';
import type { PublishedVerdict } from '../../src/contracts/sink.js';
import type { Box } from '../../src/contracts/vision.js';

const MAIN_JS = path.join(REPO_ROOT, 'dist', 'src', 'main.js');
const DEMO_MODEL = path.join(REPO_ROOT, 'models', 'demo', 'inspectd-demo.onnx');

test('inspectd run with no config: one verdict per plate, rejects of every demo class, on the embedded broker', { timeout: 240_000 }, async (t) => {
  assert.ok(existsSync(DEMO_MODEL), `demo model missing at ${DEMO_MODEL}: it is committed; rebuild with models/make-demo.sh`);
  const cam = embeddedDefaults(REPO_ROOT).config.cameras[0];
  assert.equal(cam.source.type, 'synthetic');
  assert.equal(cam.source.scene, 'conveyor');
  const src = cam.source;

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
  await until(
    () => brokerUrl() !== undefined,
    60_000,
    () => 'the embedded broker',
  );
  const rec = new MqttRecorder();
  t.after(() => rec.stop());
  await rec.start(brokerUrl()!, 'inspectd/#');
  await until(
    () => out.includes('"msg":"inspectd ready"'),
    60_000,
    () => 'ready',
  );
  const readyAt = out.length;

  const verdicts = () => rec.json<PublishedVerdict>(`/${cam.id}/verdict`);
  const rejected = () => verdicts().filter((v) => v.verdict === 'reject');
  const seen = () => new Set(rejected().flatMap((r) => r.classes));
  // 5 fps, 64 px per frame, 30% defective plates: about 0.8 plates a second, every class within ~90 s.
  await until(
    () => DEMO_REJECT_CLASSES.every((c) => seen().has(c)),
    150_000,
    () => `reject verdicts of ${DEMO_REJECT_CLASSES.join(', ')}; saw ${[...seen()].join(', ') || 'none'}`,
  );
  assert.equal(rec.on(`${cam.id}/reject`).length, 0, 'decision: part: no per-frame rejects');

  // Status and camera state, retained, per the MQTT contract.
  const statusMsg = rec.messages.find((m) => /^inspectd\/[^/]+\/status$/.test(m.topic) && m.text === 'online');
  assert.ok(statusMsg, 'status online published');
  const device = statusMsg.topic.split('/')[1];
  const statusJson = rec.json<{ engine: string; model: { sha256: string; classes: number } }>('/status/json').at(-1);
  assert.ok(statusJson, 'JSON status published');
  assert.equal(statusJson.model.classes, DEMO_CLASSES.length);
  assert.match(statusJson.model.sha256, /^[0-9a-f]{64}$/);
  assert.ok(
    rec.on(`${device}/${cam.id}/state`).some((m) => m.text.includes('ok')),
    'camera state ok published',
  );
  assert.ok(rec.on(`${device}/${cam.id}/detections`).length > 0, 'detections published');

  // Every verdict: well-formed, one per physical part, and a reject mostly on a part that truly is defective.
  const line = { width: src.width, height: src.height, defectRate: src.defectRate, beltPxPerFrame: src.beltPxPerFrame };
  const truth = new Map(conveyorParts(src.seed, line, Math.max(...verdicts().map((v) => v.seq)) + 1).map((p) => [p.id, p]));
  const partOf = new Map<number, string>();
  let onTruth = 0;
  for (const v of verdicts()) {
    assert.equal(v.device, device);
    assert.equal(v.camera, cam.id);
    assert.equal(v.key, `${device}:${cam.id}:part:${v.partId}`);
    assert.match(v.partId, /^\d+-\d+$/);
    assert.ok(v.verdict === 'reject' || v.verdict === 'pass');
    assert.ok(v.reason.length > 0);
    assert.ok(!Number.isNaN(Date.parse(v.captureTime)) && !Number.isNaN(Date.parse(v.decidedAt)));
    assert.ok(v.framesSeen >= 2 && v.latencyMs >= 0);
    assert.equal(typeof v.late, 'boolean');
    // The demo has an ejector model (300 mm past the line at 160 mm/s): about 1.9 s after the decision.
    assert.ok(v.ejectInMs !== undefined && v.ejectInMs > 1000 && v.ejectInMs < 3000, `ejectInMs ${v.ejectInMs}`);
    for (const d of v.detections) {
      assert.equal(DEMO_CLASSES[d.classId], d.class);
      assert.ok(d.confidence > 0 && d.confidence <= 1 && d.frames >= 1);
      assert.ok(d.box.x1 >= 0 && d.box.y1 >= 0 && d.box.x2 <= src.width && d.box.y2 <= src.height && d.box.x2 > d.box.x1 && d.box.y2 > d.box.y1, JSON.stringify(d.box));
    }
    for (const c of v.classes) assert.ok(DEMO_REJECT_CLASSES.includes(c), `reject class ${c}`);
    const views = buildConveyorSvg(src.seed, v.seq, line).parts;
    const match = views.map((p) => ({ p, o: boxIou(p.box, v.box) })).sort((a, b) => b.o - a.o)[0];
    assert.ok(match && match.o >= 0.3, `${v.key}: a plate is where the verdict says (frame ${v.seq})`);
    assert.equal(partOf.get(match.p.id), undefined, `plate ${match.p.id} got two verdicts: ${partOf.get(match.p.id)} and ${v.key}`);
    partOf.set(match.p.id, v.key);
    if (v.verdict === 'reject' && truth.get(match.p.id)?.defective) onTruth++;
  }
  const n = rejected().length;
  t.diagnostic(`${verdicts().length} verdicts, ${n} rejects (${[...seen()].join(', ')}), ${onTruth} on a defective plate; broker ${brokerUrl()}`);
  assert.ok(onTruth >= 0.75 * n, `${onTruth} of ${n} reject verdicts are about a defective plate`);
  assert.doesNotMatch(out.slice(readyAt), /"level":(50|60)/, 'no error logs after ready');

  // Ctrl-C (what a terminal sends to npm start): drain and exit 0.
  child.kill('SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise((r) => (timer = setTimeout(() => r('timeout'), 30_000)))]);
  clearTimeout(timer);
  assert.equal(code, 0, out.slice(-2000));
  assert.match(out, /"msg":"inspectd stopped"/);

  // Annotated snapshots under ./var/snapshots: a reject verdict names its evidence, the reject box drawn in red.
  const snapDir = path.join(tmp.dir, 'var', 'snapshots');
  const snaps = readdirSync(snapDir).filter((f) => f.endsWith('.jpg'));
  assert.ok(snaps.length > 0, `no snapshot in ${snapDir}`);
  const r = rejected().find((v) => v.evidence.snapshot !== undefined && existsSync(v.evidence.snapshot));
  assert.ok(r, `a reject verdict whose evidence.snapshot exists (have ${snaps.slice(0, 5).join(', ')})`);
  const file = path.basename(r.evidence.snapshot!);
  assert.equal(path.dirname(r.evidence.snapshot!), snapDir);
  const ev = r.detections.find((d) => r.classes.includes(d.class) && d.seq === r.evidence.seq) ?? r.detections.find((d) => r.classes.includes(d.class))!;
  const { data, info } = await sharp(path.join(snapDir, file)).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height], [src.width, src.height]);
  const red = redFractionOnEdges(data, info.width, info.channels, ev.box);
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
