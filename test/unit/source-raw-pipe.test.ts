import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ffmpegArgs } from '../../src/source/ffmpeg.js';
import { gstreamerArgs, splitPipeline } from '../../src/source/gstreamer.js';
import { RawFrameReader } from '../../src/source/raw-pipe.js';
import { redactArgs, redactCredentials } from '../../src/util/redact.js';

test('RawFrameReader cuts exact frames from arbitrary chunking', { timeout: 5000 }, () => {
  const frameBytes = 12;
  const stream = Buffer.from(Array.from({ length: frameBytes * 5 + 7 }, (_, i) => i % 251));
  for (const chunk of [1, 5, 12, 13, 24, 29, 100]) {
    const frames: Buffer[] = [];
    const r = new RawFrameReader(frameBytes, (b) => frames.push(Buffer.from(b)));
    for (let off = 0; off < stream.length; off += chunk) r.push(stream.subarray(off, off + chunk));
    assert.equal(frames.length, 5, `chunk ${chunk}`);
    frames.forEach((f, i) => assert.deepEqual(f, stream.subarray(i * frameBytes, (i + 1) * frameBytes)));
    assert.equal(r.pending, 7);
  }
});

test('RawFrameReader hands frames on as independent buffers', { timeout: 5000 }, () => {
  const frames: Buffer[] = [];
  const r = new RawFrameReader(4, (b) => frames.push(b));
  r.push(Buffer.from([1, 2, 3, 4, 5, 6]));
  r.push(Buffer.from([7, 8]));
  assert.deepEqual(
    frames.map((f) => [...f]),
    [
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ],
  );
  assert.throws(() => new RawFrameReader(0, () => undefined), RangeError);
});

test('credentials never survive redaction', { timeout: 5000 }, () => {
  assert.equal(redactCredentials('rtsp://admin:s3cret@10.0.0.5:554/stream'), 'rtsp://***@10.0.0.5:554/stream');
  assert.equal(redactCredentials('rtspsrc location=rtsp://u:p@h/x ! decodebin'), 'rtspsrc location=rtsp://***@h/x ! decodebin');
  assert.equal(redactCredentials('/dev/video0'), '/dev/video0');
  // GStreamer element properties (rtspsrc, souphttpsrc), quoted or not, and as one argv token each.
  assert.equal(redactCredentials('rtspsrc location=rtsp://h/x user-id=admin user-pw="s e c" ! d'), 'rtspsrc location=rtsp://h/x user-id=*** user-pw=*** ! d');
  assert.equal(redactCredentials("souphttpsrc proxy-id=p proxy-pw='x y'"), 'souphttpsrc proxy-id=*** proxy-pw=***');
  assert.deepEqual(redactArgs(['rtspsrc', 'user-pw=s e c', '!', 'x']), ['rtspsrc', 'user-pw=***', '!', 'x']);
  // An HTTP Authorization header passed to ffmpeg with -headers.
  assert.deepEqual(redactArgs(['-headers', 'Authorization: Basic dXNlcjpwYXNz\r\n', '-i', 'http://h/x']), ['-headers', 'Authorization: ***\r\n', '-i', 'http://h/x']);
});

test('ffmpeg argv: input options before -i, raw rgb24 out, rtsp over tcp', { timeout: 5000 }, () => {
  const args = ffmpegArgs({
    type: 'ffmpeg',
    input: 'rtsp://cam/1',
    width: 640,
    height: 480,
    fps: 10,
    realtime: false,
    loop: false,
    rtspTransport: 'tcp',
    inputArgs: ['-an'],
  });
  assert.deepEqual(args, [
    '-hide_banner',
    '-loglevel',
    'error',
    '-nostdin',
    '-rtsp_transport',
    'tcp',
    '-an',
    '-i',
    'rtsp://cam/1',
    '-an',
    '-sn',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-vf',
    'scale=640:480,fps=10',
    'pipe:1',
  ]);
  const file = ffmpegArgs({ type: 'ffmpeg', input: '/x.mp4', inputFormat: 'mp4', width: 2, height: 2, realtime: true, loop: true, rtspTransport: 'tcp', inputArgs: [] });
  assert.deepEqual(file.slice(4, file.indexOf('-i') + 2), ['-re', '-stream_loop', '-1', '-f', 'mp4', '-i', '/x.mp4']);
  assert.ok(file.includes('scale=2:2'));
});

test('gstreamer pipeline split respects quotes; caps and fdsink are appended', { timeout: 5000 }, () => {
  assert.deepEqual(splitPipeline(`filesrc location="/tmp/a b.mp4" ! decodebin  name='d x'`), ['filesrc', 'location=/tmp/a b.mp4', '!', 'decodebin', 'name=d x']);
  assert.deepEqual(splitPipeline('a  b\t!c'), ['a', 'b', '!c']);
  assert.throws(() => splitPipeline('a "b'), /unbalanced/);
  assert.deepEqual(gstreamerArgs({ type: 'gstreamer', pipeline: 'videotestsrc num-buffers=5', width: 32, height: 24 }), [
    '-q',
    'videotestsrc',
    'num-buffers=5',
    '!',
    'videoconvert',
    '!',
    'videoscale',
    '!',
    'video/x-raw,format=RGB,width=32,height=24',
    '!',
    'fdsink',
    'fd=1',
  ]);
});
