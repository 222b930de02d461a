/**
 * The schema's limits are the runtime's limits: a config at a limit passes validation and the part that
 * uses the value accepts it; one step past the limit is refused by validation (so check-config catches
 * what start would refuse).
 */
import assert from 'node:assert/strict';
import { constants as bufferConstants } from 'node:buffer';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { ConfigInvalidError, formatProblem, loadConfigFile, MAX_CONFIG_BYTES, parseConfigText } from '../../src/config/load.js';
import {
  ConfigSchema,
  editorSchema,
  MAX_FPS,
  MAX_FRAME_SIZE,
  MAX_POLYGON_POINTS,
  MAX_THREADS,
  SEED_MAX,
  SYNTHETIC_MAX_SIZE,
  SYNTHETIC_MIN_SIZE,
  TIMER_MAX_MS,
} from '../../src/config/schema.js';
import type { Frame } from '../../src/contracts/frame.js';
import { RawFrameReader } from '../../src/source/raw-pipe.js';
import { SyntheticSource } from '../../src/source/synthetic.js';

const FILE = '/etc/inspectd/limits.yaml';

function withSource(source: string): string {
  return `model:\n  path: m.onnx\ncameras:\n  - id: cam1\n    source: ${source}\n`;
}

function problemsOf(text: string): string[] {
  try {
    parseConfigText(text, FILE, '/etc/inspectd');
  } catch (err) {
    assert.ok(err instanceof ConfigInvalidError, `expected ConfigInvalidError, got ${String(err)}`);
    return err.message.split('\n').slice(1);
  }
  assert.fail('config was accepted');
}

/** Validates, then starts the synthetic source the config describes and waits for its first frame. */
async function startSynthetic(source: string): Promise<Frame> {
  const { config } = parseConfigText(withSource(source), FILE, '/etc/inspectd');
  const src = config.cameras[0].source;
  assert.equal(src.type, 'synthetic');
  if (src.type !== 'synthetic') throw new Error('unreachable');
  const s = new SyntheticSource('cam1', src);
  try {
    return await new Promise<Frame>((resolve, reject) => {
      s.start({ frame: resolve, ended: (e) => reject(e ?? new Error('ended')) }).catch(reject);
    });
  } finally {
    await s.stop();
  }
}

test(`synthetic width/height at ${SYNTHETIC_MIN_SIZE} and ${SYNTHETIC_MAX_SIZE}: valid and rendered`, { timeout: 20_000 }, async () => {
  for (const [w, h] of [
    [SYNTHETIC_MAX_SIZE, SYNTHETIC_MIN_SIZE],
    [SYNTHETIC_MIN_SIZE, SYNTHETIC_MAX_SIZE],
  ]) {
    const frame = await startSynthetic(`{type: synthetic, width: ${w}, height: ${h}, fps: 50}`);
    assert.deepEqual([frame.width, frame.height], [w, h]);
  }
});

test('synthetic width/height one past the limits: refused by validation with file:line', { timeout: 5000 }, () => {
  assert.deepEqual(problemsOf(withSource(`{type: synthetic, width: ${SYNTHETIC_MAX_SIZE + 1}, height: ${SYNTHETIC_MIN_SIZE - 1}}`)), [
    `${FILE}:5:38 cameras[0].source.width: must be <= ${SYNTHETIC_MAX_SIZE}`,
    `${FILE}:5:52 cameras[0].source.height: must be >= ${SYNTHETIC_MIN_SIZE}`,
  ]);
});

test(`synthetic fps at ${MAX_FPS}: valid and started; past it: refused by validation`, { timeout: 10_000 }, async () => {
  const frame = await startSynthetic(`{type: synthetic, width: 64, height: 48, fps: ${MAX_FPS}}`);
  assert.equal(frame.width, 64);
  assert.deepEqual(problemsOf(withSource(`{type: synthetic, fps: ${MAX_FPS + 0.5}}`)), [`${FILE}:5:36 cameras[0].source.fps: must be <= ${MAX_FPS}`]);
});

test(`ffmpeg/gstreamer frames at ${MAX_FRAME_SIZE}px: valid and one frame fits a Buffer; past it: refused`, { timeout: 5000 }, () => {
  const { config } = parseConfigText(withSource(`{type: gstreamer, pipeline: videotestsrc, width: ${MAX_FRAME_SIZE}, height: ${MAX_FRAME_SIZE}}`), FILE, '/etc/inspectd');
  const src = config.cameras[0].source;
  assert.ok(src.type === 'gstreamer');
  const frameBytes = src.width * src.height * 3;
  assert.ok(frameBytes <= bufferConstants.MAX_LENGTH, `a ${MAX_FRAME_SIZE}x${MAX_FRAME_SIZE} rgb24 frame must fit one Buffer`);
  assert.equal(new RawFrameReader(frameBytes, () => undefined).frameBytes, frameBytes);
  assert.deepEqual(problemsOf(withSource(`{type: ffmpeg, input: /dev/video0, width: ${MAX_FRAME_SIZE + 1}, height: 480}`)), [
    `${FILE}:5:55 cameras[0].source.width: must be <= ${MAX_FRAME_SIZE}`,
  ]);
});

/** Every schema node of JSON type number/integer, with its path in the schema. */
function numberNodes(schema: unknown, at = '#'): { at: string; node: Record<string, unknown> }[] {
  const out: { at: string; node: Record<string, unknown> }[] = [];
  const walk = (v: unknown, p: string): void => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${p}/${i}`));
    else if (typeof v === 'object' && v !== null) {
      const node = v as Record<string, unknown>;
      const types = ([] as unknown[]).concat(node.type ?? []);
      if (types.includes('number') || types.includes('integer')) out.push({ at: p, node });
      for (const [k, x] of Object.entries(node)) walk(x, `${p}/${k}`);
    }
  };
  walk(JSON.parse(JSON.stringify(schema)), at);
  return out;
}

test('every number in the schema has a lower and an upper bound (a new unbounded number fails here)', { timeout: 5000 }, () => {
  for (const [name, schema] of [
    ['editor schema', editorSchema()],
    ['validation schema', ConfigSchema],
  ] as const) {
    const nodes = numberNodes(schema);
    assert.ok(nodes.length >= 30, `${name}: found only ${nodes.length} number nodes; is the walker broken?`);
    for (const { at, node } of nodes) {
      const lo = node.minimum ?? node.exclusiveMinimum;
      const hi = node.maximum ?? node.exclusiveMaximum;
      assert.ok(typeof lo === 'number' && Number.isFinite(lo), `${name} ${at}: no minimum`);
      assert.ok(typeof hi === 'number' && Number.isFinite(hi), `${name} ${at}: no maximum`);
    }
  }
});

test('numbers that hang or overflow at run time are refused with file:line', { timeout: 5000 }, () => {
  const text = `model:
  path: m.onnx
  threads: 1000000
cameras:
  - id: cam1
    source: {type: synthetic}
    stallTimeoutMs: 1e12
    rules:
      zones:
        - name: z
          polygon: [[0, 0], [10, .nan], [10, 10]]
mqtt:
  keepaliveSec: 100000
  reconnectMs: 1e10
  clientId: "a\\0b"
console:
  intervalMs: 1e10
`;
  assert.deepEqual(problemsOf(text), [
    `${FILE}:3:12 model.threads: must be <= ${MAX_THREADS}`,
    `${FILE}:7:21 cameras[0].stallTimeoutMs: must be <= ${TIMER_MAX_MS}`,
    `${FILE}:11:34 cameras[0].rules.zones[0].polygon[1][1]: must be a finite number`,
    `${FILE}:13:17 mqtt.keepaliveSec: must be <= 65535`,
    `${FILE}:14:16 mqtt.reconnectMs: must be <= ${TIMER_MAX_MS}`,
    `${FILE}:15:13 mqtt.clientId: must not contain control characters, # or + (the broker would refuse it)`,
    `${FILE}:17:15 console.intervalMs: must be <= ${TIMER_MAX_MS}`,
  ]);
  for (const id of ['a#b', 'a+b']) {
    assert.deepEqual(problemsOf(`${withSource('{type: synthetic}')}mqtt:\n  clientId: "${id}"\n`), [
      `${FILE}:7:13 mqtt.clientId: must not contain control characters, # or + (the broker would refuse it)`,
    ]);
  }
});

test(`TIMER_MAX_MS is Node's timer limit: a timer at it is kept, one past it would fire at once`, { timeout: 5000 }, async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w.name);
  };
  process.on('warning', onWarning);
  try {
    clearTimeout(setTimeout(() => assert.fail('fired'), TIMER_MAX_MS));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings, []);
    clearTimeout(setTimeout(() => undefined, TIMER_MAX_MS + 1));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings, ['TimeoutOverflowWarning']);
  } finally {
    process.off('warning', onWarning);
  }
  const { config } = parseConfigText(
    `${withSource('{type: synthetic}')}    stallTimeoutMs: ${TIMER_MAX_MS}\nmqtt: {reconnectMs: ${TIMER_MAX_MS}, keepaliveSec: 65535}\nconsole: {intervalMs: ${TIMER_MAX_MS}}\nmodel: {path: m.onnx, threads: ${MAX_THREADS}}\n`.replace(
      'model:\n  path: m.onnx\n',
      '',
    ),
    FILE,
    '/etc/inspectd',
  );
  assert.equal(config.cameras[0].stallTimeoutMs, TIMER_MAX_MS);
  assert.equal(config.mqtt.reconnectMs, TIMER_MAX_MS);
  assert.equal(config.console.intervalMs, TIMER_MAX_MS);
  assert.equal(config.model.threads, MAX_THREADS);
});

test(`synthetic seed at 0 and ${SEED_MAX}: valid and rendered; outside: refused by validation`, { timeout: 10_000 }, async () => {
  for (const seed of [0, SEED_MAX]) {
    const frame = await startSynthetic(`{type: synthetic, width: 64, height: 48, fps: 50, seed: ${seed}}`);
    assert.equal(frame.origin, `synthetic:seed=${seed}`);
  }
  assert.deepEqual(problemsOf(withSource(`{type: synthetic, seed: ${SEED_MAX + 1}}`)), [`${FILE}:5:37 cameras[0].source.seed: must be <= ${SEED_MAX}`]);
  assert.deepEqual(problemsOf(withSource(`{type: synthetic, seed: -1}`)), [`${FILE}:5:37 cameras[0].source.seed: must be >= 0`]);
});

/** Every array node without maxItems and every map node (patternProperties) without maxProperties. */
function unboundedCollections(schema: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown, p: string): void => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${p}/${i}`));
    else if (typeof v === 'object' && v !== null) {
      const node = v as Record<string, unknown>;
      if (node.type === 'array' && typeof node.maxItems !== 'number') out.push(`${p}: array without maxItems`);
      if ((node.patternProperties !== undefined || typeof node.additionalProperties === 'object') && typeof node.maxProperties !== 'number') {
        out.push(`${p}: map without maxProperties`);
      }
      for (const [k, x] of Object.entries(node)) walk(x, `${p}/${k}`);
    }
  };
  walk(JSON.parse(JSON.stringify(schema)), '#');
  return out;
}

test('every array and map in the schema has a size cap', { timeout: 5000 }, () => {
  assert.deepEqual(unboundedCollections(editorSchema()), []);
  assert.deepEqual(unboundedCollections(ConfigSchema), []);
});

test(`a polygon over ${MAX_POLYGON_POINTS} points is refused with its path`, { timeout: 5000 }, () => {
  const points = Array.from({ length: MAX_POLYGON_POINTS + 1 }, (_, i) => `[${i % 640}, ${Math.floor(i / 640)}]`).join(', ');
  const text = `${withSource('{type: synthetic}')}    rules:\n      zones:\n        - name: big\n          polygon: [${points}]\n`;
  assert.deepEqual(problemsOf(text), [`${FILE}:9:20 cameras[0].rules.zones[0].polygon: must have at most ${MAX_POLYGON_POINTS} points`]);
  const ok = Array.from({ length: MAX_POLYGON_POINTS }, (_, i) => `[${i % 640}, ${Math.floor(i / 640)}]`).join(', ');
  const { config } = parseConfigText(text.replace(points, ok), FILE, '/etc/inspectd');
  assert.equal(config.cameras[0].rules.zones[0].polygon.length, MAX_POLYGON_POINTS);
});

test(`a config file over ${MAX_CONFIG_BYTES} bytes is refused before it is parsed`, { timeout: 10_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-limits-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'big.yaml');
  // A well-formed config with a 2 MB polygon: parsing it used to take seconds and hundreds of MB.
  const points = Array.from({ length: 200_000 }, (_, i) => `[${i % 640}, ${i % 480}]`).join(', ');
  writeFileSync(file, `${withSource('{type: synthetic}')}    rules:\n      zones:\n        - name: big\n          polygon: [${points}]\n`);
  assert.ok(statSync(file).size > 2 * 1024 * 1024);
  const t0 = performance.now();
  await assert.rejects(loadConfigFile(file), (err: unknown) => {
    assert.ok(err instanceof ConfigInvalidError, String(err));
    assert.deepEqual(err.problems.map(formatProblem), [
      `${file} the file is ${statSync(file).size} bytes; a config may be at most ${MAX_CONFIG_BYTES} bytes (1 MiB): is this the right file?`,
    ]);
    return true;
  });
  assert.ok(performance.now() - t0 < 2000, `took ${Math.round(performance.now() - t0)} ms`);
  assert.throws(() => parseConfigText(readFileSync(file, 'utf8'), file, dir), ConfigInvalidError, 'text given directly is capped too');
});
