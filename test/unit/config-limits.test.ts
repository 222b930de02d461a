/**
 * The schema's limits are the runtime's limits: a config at a limit passes validation and the part that
 * uses the value accepts it; one step past the limit is refused by validation (so check-config catches
 * what start would refuse).
 */
import assert from 'node:assert/strict';
import { constants as bufferConstants } from 'node:buffer';
import { test } from 'node:test';
import { ConfigInvalidError, parseConfigText } from '../../src/config/load.js';
import { MAX_FPS, MAX_FRAME_SIZE, SYNTHETIC_MAX_SIZE, SYNTHETIC_MIN_SIZE } from '../../src/config/schema.js';
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
