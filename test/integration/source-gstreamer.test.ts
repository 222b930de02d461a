import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { pino } from 'pino';
import { ErrorCodes } from '../../src/errors.js';
import type { Frame } from '../../src/contracts/frame.js';
import { GstreamerSource } from '../../src/source/gstreamer.js';

const haveGst = spawnSync('gst-launch-1.0', ['--version']).status === 0;
const skip = haveGst ? false : 'gst-launch-1.0 not installed (apt-get install gstreamer1.0-tools gstreamer1.0-plugins-base)';

function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() - t0 > timeoutMs) reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

test('gstreamer source: videotestsrc num-buffers=5 gives 5 exact RGB frames, then a clean end', { timeout: 15000, skip }, async (t) => {
  const src = new GstreamerSource('cam1', { type: 'gstreamer', pipeline: 'videotestsrc num-buffers=5 pattern=ball', width: 64, height: 48 });
  t.after(() => src.stop());
  const frames: Frame[] = [];
  let ended: Error | null | undefined;
  await src.start({ frame: (f) => frames.push(f), ended: (e) => (ended = e) });
  await until(() => ended !== undefined, 10000, 'end of stream');
  assert.equal(ended, null);
  assert.equal(frames.length, 5);
  for (const f of frames) assert.deepEqual([f.width, f.height, f.format, f.data.length], [64, 48, 'rgb24', 64 * 48 * 3]);
});

test('gstreamer source: a bad pipeline ends with an error carrying gst-launch output', { timeout: 15000, skip }, async (t) => {
  const src = new GstreamerSource('cam1', { type: 'gstreamer', pipeline: 'nosuchelement-xyz', width: 64, height: 48 });
  t.after(() => src.stop());
  let ended: Error | null | undefined;
  await src.start({ frame: () => undefined, ended: (e) => (ended = e) });
  await until(() => ended !== undefined, 10000, 'failure');
  assert.ok(ended instanceof Error);
  assert.equal((ended as { code?: string }).code, ErrorCodes.SOURCE_FAILED);
  assert.match(ended.message, /gst-launch-1\.0 for camera cam1 .*exited with code \d+.*nosuchelement-xyz/);
});

test('gstreamer credentials (URL userinfo, user-id/user-pw) never reach our errors or logs', { timeout: 15000, skip }, async (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(l) }).child({ camera: 'cam1' });
  const pipeline = 'rtspsrc location=rtsp://cam:topsecret@127.0.0.1:1/x user-id=admin user-pw="hunter 2" protocols=tcp ! decodebin';
  const src = new GstreamerSource('cam1', { type: 'gstreamer', pipeline, width: 64, height: 48 }, { logger });
  t.after(() => src.stop());
  let ended: Error | null | undefined;
  await src.start({ frame: () => undefined, ended: (e) => (ended = e) });
  await until(() => ended !== undefined, 10000, 'failure');
  assert.ok(ended instanceof Error);
  assert.match(ended.message, /rtsp:\/\/\*\*\*@127\.0\.0\.1:1\/x user-id=\*\*\* user-pw=\*\*\*/);
  const all = [ended.message, ...lines].join('\n');
  assert.match(all, /starting source process/, 'the command line was logged (redacted)');
  for (const secret of ['topsecret', 'hunter', 'admin']) assert.ok(!all.includes(secret), `${secret} leaked: ${all}`);
});
