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
