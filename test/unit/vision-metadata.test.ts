import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseNamesLiteral, parseOnnxMetadata, readOnnxMetadata } from '../../src/vision/onnx-metadata.js';
import { buildModelMetadata, className, loadLabelsFile } from '../../src/vision/model-metadata.js';
import { ErrorCodes } from '../../src/errors.js';
import { repoPath } from '../helpers/fixtures.js';

test('names dict as Ultralytics writes it, with quotes and apostrophes inside names', { timeout: 5000 }, () => {
  assert.deepEqual(parseNamesLiteral("{0: 'person', 1: 'traffic light'}"), ['person', 'traffic light']);
  assert.deepEqual(parseNamesLiteral(`{0: "it's", 1: 'say "hi"', 2: 'back\\\\slash', 3: 'esc\\'aped'}`), ["it's", 'say "hi"', 'back\\slash', "esc'aped"]);
  assert.deepEqual(parseNamesLiteral("{0: 'a,b: {c}', 1: 'caf\\xe9'}"), ['a,b: {c}', 'café']);
  assert.deepEqual(parseNamesLiteral("{1: 'b', 0: 'a',}"), ['a', 'b']);
  assert.deepEqual(parseNamesLiteral('{"0": "a", "1": "b"}'), ['a', 'b']);
  assert.deepEqual(parseNamesLiteral("['x', 'y']"), ['x', 'y']);
  // Gaps become class<N> so ids keep their meaning.
  assert.deepEqual(parseNamesLiteral("{0: 'a', 2: 'c'}"), ['a', 'class1', 'c']);
});

test('unparseable names are undefined, not half-read', { timeout: 5000 }, () => {
  for (const bad of ['', 'person', "{0: 'unterminated}", "{0 'a'}", "{0: 'a'} trailing", "{x: 'a'}", '{0: a}']) {
    assert.equal(parseNamesLiteral(bad), undefined, bad);
  }
});

test('metadata_props read from an ONNX file without decoding the graph', { timeout: 5000 }, async () => {
  const raw = await readOnnxMetadata(repoPath('test', 'assets', 'tiny-v8.onnx'));
  assert.equal(raw.imgsz, '[32, 32]');
  assert.equal(raw.end2end, 'False');
  assert.deepEqual(parseNamesLiteral(raw.names), ['good part', "it's a scratch"]);
  assert.deepEqual(await readOnnxMetadata(repoPath('test', 'assets', 'tiny-4d.onnx')), {});
});

test('malformed or truncated model bytes are MODEL_INVALID', { timeout: 5000 }, async () => {
  const good = await readFile(repoPath('test', 'assets', 'tiny-v8.onnx'));
  assert.throws(() => parseOnnxMetadata(new Uint8Array(0)), { code: ErrorCodes.MODEL_INVALID, message: /empty/ });
  assert.throws(() => parseOnnxMetadata(Buffer.from('garbage text, not protobuf\n')), { code: ErrorCodes.MODEL_INVALID });
  assert.throws(() => parseOnnxMetadata(good.subarray(0, good.length - 10)), { code: ErrorCodes.MODEL_INVALID, message: /not a valid ONNX/ });
});

test('buildModelMetadata: static input shape wins, then imgsz, then 640; flags and stride parsed', { timeout: 5000 }, () => {
  const raw = { names: "{0: 'a', 1: 'b'}", imgsz: '[640, 640]', stride: '32', end2end: 'True', task: 'detect' };
  const m = buildModelMetadata(raw, { inputShape: [1, 3, 960, 960] });
  assert.deepEqual(m.imgsz, [960, 960]);
  assert.deepEqual(m.names, ['a', 'b']);
  assert.equal(m.stride, 32);
  assert.equal(m.end2end, true);
  assert.equal(m.task, 'detect');
  assert.deepEqual(buildModelMetadata(raw, { inputShape: [1, 3, -1, -1] }).imgsz, [640, 640]);
  assert.deepEqual(buildModelMetadata({ imgsz: '[320, 480]' }).imgsz, [320, 480]);
  assert.deepEqual(buildModelMetadata({ imgsz: '416' }).imgsz, [416, 416]);
  const bare = buildModelMetadata({});
  assert.deepEqual(bare.imgsz, [640, 640]);
  assert.equal(bare.end2end, undefined);
  assert.deepEqual(bare.names, []);
  assert.equal(buildModelMetadata({ end2end: 'False' }).end2end, false);
});

test('labels file is the fallback for names; metadata names win', { timeout: 5000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inspectd-labels-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'labels.txt');
  await writeFile(file, '# our classes\nscratch\r\ndent\n\n');
  const labels = await loadLabelsFile(file);
  assert.deepEqual(labels, ['scratch', 'dent']);
  assert.deepEqual(buildModelMetadata({}, { labels }).names, ['scratch', 'dent']);
  assert.deepEqual(buildModelMetadata({ names: "{0: 'x'}" }, { labels }).names, ['x']);
  await assert.rejects(loadLabelsFile(path.join(dir, 'missing.txt')), { code: ErrorCodes.MODEL_LABELS, message: /missing\.txt/ });
  await writeFile(file, '\n\n');
  await assert.rejects(loadLabelsFile(file), { code: ErrorCodes.MODEL_LABELS, message: /no class names/ });
  assert.equal(className(['a'], 3), 'class3');
});
