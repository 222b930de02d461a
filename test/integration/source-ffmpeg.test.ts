import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import type { CameraConfig, FfmpegSourceConfig } from '../../src/config/types.js';
import { ErrorCodes } from '../../src/errors.js';
import { silentLogger } from '../../src/ops/log.js';
import { FfmpegSource } from '../../src/source/ffmpeg.js';
import type { Frame } from '../../src/contracts/frame.js';
import { SourceSupervisor } from '../../src/source/supervisor.js';
import type { SourceState } from '../../src/contracts/camera.js';
import { partsConfig } from '../../src/config/defaults.js';

const haveFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;
const skip = haveFfmpeg ? false : 'ffmpeg not installed (apt-get install ffmpeg)';

const pattern = (over: Partial<FfmpegSourceConfig> = {}): FfmpegSourceConfig => ({
  type: 'ffmpeg',
  input: 'testsrc=size=320x240:rate=10',
  inputFormat: 'lavfi',
  width: 160,
  height: 120,
  realtime: false,
  loop: false,
  rtspTransport: 'tcp',
  inputArgs: [],
  ...over,
});

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

test('ffmpeg source delivers exact rgb24 frames from a lavfi test pattern, then ends cleanly', { timeout: 15000, skip }, async (t) => {
  const src = new FfmpegSource('cam1', pattern({ input: 'testsrc=size=320x240:rate=10:duration=1' }));
  t.after(() => src.stop());
  const frames: Frame[] = [];
  let ended: Error | null | undefined;
  await src.start({ frame: (f) => frames.push(f), ended: (e) => (ended = e) });
  await until(() => ended !== undefined, 10000, 'end of stream');
  assert.equal(ended, null);
  assert.equal(frames.length, 10);
  for (const f of frames) {
    assert.equal(f.data.length, 160 * 120 * 3);
    assert.equal(f.width, 160);
    assert.equal(f.height, 120);
    assert.equal(f.format, 'rgb24');
    assert.equal(f.cameraId, 'cam1');
  }
  assert.deepEqual(
    frames.map((f) => f.seq),
    [...Array(10).keys()],
  );
  assert.notDeepEqual(frames[0].data, frames[9].data, 'the pattern moves');
});

test('ffmpeg failure: ended(err) with exit code and stderr tail, credentials stripped', { timeout: 10000, skip }, async (t) => {
  const src = new FfmpegSource('cam1', pattern({ input: 'rtsp://admin:hunter2@127.0.0.1:1/none', inputFormat: undefined, inputArgs: ['-timeout', '500000'] }));
  t.after(() => src.stop());
  let ended: Error | null | undefined;
  await src.start({ frame: () => undefined, ended: (e) => (ended = e) });
  await until(() => ended !== undefined, 8000, 'ffmpeg to fail');
  assert.ok(ended instanceof Error);
  assert.equal((ended as { code?: string }).code, ErrorCodes.SOURCE_FAILED);
  assert.match(ended.message, /exited with code \d+/);
  assert.match(ended.message, /rtsp:\/\/\*\*\*@127\.0\.0\.1:1/);
  assert.doesNotMatch(ended.message, /hunter2/);
});

test('ffmpeg credentials (URL, Authorization header) never reach our logs', { timeout: 10000, skip }, async (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(l) }).child({ camera: 'cam1' });
  const input = 'http://admin:hunter2@127.0.0.1:1/video.mjpg';
  const src = new FfmpegSource('cam1', pattern({ input, inputFormat: undefined, inputArgs: ['-headers', 'Authorization: Basic c2VjcmV0dG9rZW4=\r\n'] }), { logger });
  t.after(() => src.stop());
  let ended: Error | null | undefined;
  await src.start({ frame: () => undefined, ended: (e) => (ended = e) });
  await until(() => ended !== undefined, 8000, 'ffmpeg to fail');
  const all = [String(ended), ...lines].join('\n');
  assert.match(all, /starting source process/);
  for (const secret of ['hunter2', 'admin', 'c2VjcmV0dG9rZW4']) assert.ok(!all.includes(secret), `${secret} leaked: ${all}`);
});

test('a missing ffmpeg binary is an actionable error, not a crash', { timeout: 5000 }, async () => {
  const src = new FfmpegSource('cam1', pattern(), { command: 'ffmpeg-does-not-exist-here' });
  await assert.rejects(src.start({ frame: () => undefined, ended: () => undefined }), { code: ErrorCodes.SOURCE_FAILED, message: /not found: install ffmpeg/ });
  await src.stop();
});

test('killing the ffmpeg process: supervisor reports fault, restarts, then ok', { timeout: 20000, skip }, async (t) => {
  const camera: CameraConfig = {
    id: 'cam1',
    source: pattern({ realtime: true }),
    deadlineMs: 500,
    stallTimeoutMs: 5000,
    frozenFrames: 0,
    rules: { rejectClasses: [], classConf: {}, minBoxArea: 0, zones: [] },
    trigger: false,
    decision: 'frame',
    parts: partsConfig(),
  };
  const sources: FfmpegSource[] = [];
  const states: SourceState[] = [];
  const frames: Frame[] = [];
  const sup = new SourceSupervisor({
    camera,
    createSource: () => {
      const s = new FfmpegSource(camera.id, camera.source as FfmpegSourceConfig);
      sources.push(s);
      return s;
    },
    logger: silentLogger(),
    onFrame: (f) => frames.push(f),
    onState: (s) => states.push(s),
    backoff: { baseMs: 100, jitter: 0 },
  });
  t.after(() => sup.stop());
  await sup.start();
  await until(() => frames.length >= 3, 8000, 'first frames');
  const pid = sources[0].pid;
  assert.ok(pid);
  process.kill(pid, 'SIGKILL');
  await until(() => states.some((s) => s.state === 'fault'), 5000, 'fault state');
  const killedAt = Date.now();
  assert.match(states.find((s) => s.state === 'fault')!.reason!, /was killed by SIGKILL/);
  await until(() => states.at(-1)?.state === 'ok' && sources.length === 2, 8000, 'recovery');
  const recoveryMs = Date.now() - killedAt;
  t.diagnostic(`ffmpeg SIGKILL -> camera ok again in ${recoveryMs} ms`);
  const n = frames.length;
  await until(() => frames.length > n + 2, 5000, 'frames after restart');
  const seqs = frames.map((f) => f.seq);
  assert.deepEqual(seqs, [...seqs.keys()], 'seq monotonic across the restart');
  await sup.stop();
  const pid2 = sources[1].pid;
  assert.ok(pid2 && pid2 !== pid);
  assert.throws(() => process.kill(pid2, 0), { code: 'ESRCH' }, 'the restarted ffmpeg was stopped');
});

/** A 1 s, 10 fps video file written by ffmpeg itself. */
function videoFile(t: { after: (fn: () => unknown) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-video-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'clip.mkv');
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10:duration=1', '-c:v', 'mpeg4', file]);
  assert.equal(r.status, 0, String(r.stderr));
  return file;
}

function fileCamera(input: string, loop: boolean): CameraConfig {
  return {
    id: 'cam1',
    source: pattern({ input, inputFormat: undefined, loop, width: 32, height: 24 }),
    deadlineMs: 500,
    stallTimeoutMs: 5000,
    frozenFrames: 0,
    rules: { rejectClasses: [], classConf: {}, minBoxArea: 0, zones: [] },
    trigger: false,
    decision: 'frame',
    parts: partsConfig(),
  };
}

function supervise(camera: CameraConfig) {
  const states: SourceState[] = [];
  const frames: Frame[] = [];
  const restarts: string[] = [];
  const sup = new SourceSupervisor({
    camera,
    createSource: () => new FfmpegSource(camera.id, camera.source as FfmpegSourceConfig),
    logger: silentLogger(),
    onFrame: (f) => frames.push(f),
    onState: (s) => states.push(s),
    onRestart: (r) => restarts.push(r),
    backoff: { baseMs: 20, maxMs: 50, jitter: 0 },
  });
  return { sup, states, frames, restarts };
}

test('a video file with loop: false is played once: camera ended, no restart', { timeout: 20000, skip }, async (t) => {
  const h = supervise(fileCamera(videoFile(t), false));
  t.after(() => h.sup.stop());
  await h.sup.start();
  await until(() => h.states.some((s) => s.state === 'ended'), 10000, 'ended state');
  await new Promise((r) => setTimeout(r, 500)); // several backoff delays: a restart would show by now
  assert.deepEqual(h.states, [{ state: 'ok' }, { state: 'ended', reason: 'end of input after 10 frames' }]);
  assert.equal(h.frames.length, 10, 'every frame once');
  assert.deepEqual(h.restarts, []);
});

test('a video file with loop: true keeps playing; a lavfi pattern that ends is restarted (live sources keep restarting)', { timeout: 20000, skip }, async (t) => {
  const looped = supervise(fileCamera(videoFile(t), true));
  t.after(() => looped.sup.stop());
  await looped.sup.start();
  await until(() => looped.frames.length > 25, 10000, 'frames past the end of the file');
  assert.ok(!looped.states.some((s) => s.state === 'ended'));
  await looped.sup.stop();

  const pat = supervise({
    ...fileCamera('testsrc=size=64x48:rate=10:duration=0.3', false),
    source: pattern({ input: 'testsrc=size=64x48:rate=10:duration=0.3', width: 32, height: 24 }),
  });
  t.after(() => pat.sup.stop());
  await pat.sup.start();
  await until(() => pat.restarts.length >= 2, 10000, 'restarts of the ended pattern');
  assert.ok(!pat.states.some((s) => s.state === 'ended'));
  assert.deepEqual(pat.restarts.slice(0, 2), ['source ended', 'source ended']);
});
