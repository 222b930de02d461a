import assert from 'node:assert/strict';
import { test } from 'node:test';
import { register } from 'prom-client';
import { Metrics } from '../../src/ops/metrics.js';

test('metrics use their own registry; two instances do not collide', { timeout: 5_000 }, async () => {
  const a = new Metrics();
  const b = new Metrics();
  a.rejects.inc({ camera: 'cam1', class: 'scratch' });
  a.rejects.inc({ camera: 'cam1', class: 'scratch' });
  b.rejects.inc({ camera: 'cam1', class: 'scratch' });
  assert.match(await a.text(), /inspectd_rejects_total\{camera="cam1",class="scratch"\} 2/);
  assert.match(await b.text(), /inspectd_rejects_total\{camera="cam1",class="scratch"\} 1/);
  assert.doesNotMatch(await register.metrics(), /inspectd_/);
});

test('metrics: stage histogram in seconds, engine info keeps a single series', { timeout: 5_000 }, async () => {
  const m = new Metrics();
  m.observeStageMs('cam1', 'total', 1500);
  m.observeStageMs('cam1', 'total', 0.5);
  m.setEngine('ort-cpu', 'yolov8n');
  m.setEngine('tensorrt', 'yolov8n');
  m.mqttConnected.set(1);
  m.cameraUp.set({ camera: 'cam1' }, 1);
  m.configReloads.inc({ result: 'ok' });
  m.framesDropped.inc({ camera: 'cam1', reason: 'busy' });
  const text = await m.text();
  assert.match(text, /inspectd_stage_seconds_bucket\{le="0.001",camera="cam1",stage="total"\} 1/);
  assert.match(text, /inspectd_stage_seconds_bucket\{le="2",camera="cam1",stage="total"\} 2/);
  assert.match(text, /inspectd_stage_seconds_sum\{camera="cam1",stage="total"\} 1.5005/);
  assert.match(text, /inspectd_engine_info\{engine="tensorrt",model="yolov8n"\} 1/);
  assert.doesNotMatch(text, /engine="ort-cpu"/);
  assert.match(text, /inspectd_frames_dropped_total\{camera="cam1",reason="busy"\} 1/);
  assert.match(text, /inspectd_config_reloads_total\{result="ok"\} 1/);
});

test('metrics: engine refusals are on /metrics, one series each, replaced when a model is loaded again', { timeout: 5_000 }, async () => {
  const m = new Metrics();
  m.setEngine('ort-cpu', 'a.onnx', [
    { kind: 'tensorrt', reason: 'TensorRT unavailable: the native addon was built without TensorRT' },
    { kind: 'ort-cuda', reason: 'onnxruntime-node has no CUDA provider libraries' },
  ]);
  let text = await m.text();
  assert.match(text, /inspectd_engine_refusal_info\{engine="tensorrt",reason="TensorRT unavailable: the native addon was built without TensorRT"\} 1/);
  assert.match(text, /inspectd_engine_refusal_info\{engine="ort-cuda",reason="onnxruntime-node has no CUDA provider libraries"\} 1/);
  m.setEngine('ort-cuda', 'b.onnx', [{ kind: 'tensorrt', reason: 'no engine' }]);
  text = await m.text();
  assert.doesNotMatch(text, /engine="ort-cuda",reason=/);
  assert.match(text, /inspectd_engine_refusal_info\{engine="tensorrt",reason="no engine"\} 1/);
});

test('part metrics from the bus: parts seen, verdicts by outcome, fail-safes, suppressed duplicates, switches, decision latency', { timeout: 5_000 }, async () => {
  const { EventBus } = await import('../../src/util/event-bus.js');
  const { MetricsObserver } = await import('../../src/app/observers.js');
  const { verdictPayload } = await import('../helpers/messages.js');
  type Events = import('../../src/app/events.js').DaemonEvents;
  const bus = new EventBus<Events>(() => undefined);
  const m = new Metrics();
  const obs = new MetricsObserver(bus, m);
  obs.start();
  bus.emit('parts.frame', { camera: 'cam1', stats: { partsSeen: 2, suppressed: 3, reversed: 1, jumped: 0, orphans: 1 } });
  bus.emit('verdict.decided', { payload: verdictPayload({ key: 'k1', captureWall: 0, latencyMs: 12 }), published: true, causes: [] });
  bus.emit('verdict.decided', { payload: verdictPayload({ key: 'k2', captureWall: 0, verdict: 'pass', failSafe: true }), published: false, causes: [] });
  obs.stop();
  const text = await m.text();
  assert.match(text, /inspectd_parts_seen_total\{camera="cam1"\} 2/);
  assert.match(text, /inspectd_duplicates_suppressed_total\{camera="cam1"\} 3/);
  assert.match(text, /inspectd_track_switches_suspected_total\{camera="cam1",kind="reverse"\} 1/);
  assert.match(text, /inspectd_orphan_detections_total\{camera="cam1"\} 1/);
  assert.match(text, /inspectd_verdicts_total\{camera="cam1",verdict="reject",failsafe="false",published="true"\} 1/);
  assert.match(text, /inspectd_verdicts_total\{camera="cam1",verdict="none",failsafe="true",published="false"\} 1/);
  assert.match(text, /inspectd_parts_failsafe_total\{camera="cam1"\} 1/);
  assert.match(text, /inspectd_decision_latency_seconds_bucket\{le="0.02",camera="cam1"\} 2/);
});
