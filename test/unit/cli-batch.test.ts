/** `inspectd batch` pieces without a model: globs, input expansion, video sampling, --resume file repair, CSV. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expandInputs, globToRegExp, isVideoPath } from '../../src/cli/batch-inputs.js';
import { sampled, sampledCount } from '../../src/cli/batch-video.js';
import { csvRows, lineKey, readResume, summaryText } from '../../src/cli/batch-output.js';

test('globToRegExp: * ? ** {a,b} [..], case-insensitive', () => {
  const m = (g: string, s: string) => globToRegExp(g).test(s);
  assert.ok(m('*.jpg', 'a.JPG'));
  assert.ok(!m('*.jpg', 'sub/a.jpg'), '* stays within a segment');
  assert.ok(m('**/*.jpg', 'a.jpg') && m('**/*.jpg', 'x/y/a.jpg'));
  assert.ok(m('*.{jpg,png}', 'b.png') && !m('*.{jpg,png}', 'b.gif'));
  assert.ok(m('img?.jpg', 'img1.jpg') && !m('img?.jpg', 'img10.jpg'));
  assert.ok(m('[ab]*.jpg', 'b1.jpg') && !m('[!ab]*.jpg', 'b1.jpg'));
  assert.ok(!m('a.jpg', 'axjpg'), 'dots are literal');
  assert.throws(() => globToRegExp('*.{jpg'), /unclosed/);
});

test('isVideoPath: by extension or URL', () => {
  assert.ok(isVideoPath('x/clip.MP4') && isVideoPath('rtsp://cam/stream') && !isVideoPath('a.jpg'));
});

test('expandInputs: folders sorted and filtered, files and list lines in order, missing files kept for their failure line', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inspectd-batch-unit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'f', 'z'), { recursive: true });
  for (const f of ['f/b.jpg', 'f/a.png', 'f/z/c.jpeg', 'f/readme.md', 'f/v.mp4']) await writeFile(path.join(dir, f), '');
  await writeFile(path.join(dir, 'l.txt'), 'one.jpg\r\n# c\n\n two.mkv \n');
  const items = await expandInputs({ inputs: [path.join(dir, 'f'), path.join(dir, 'missing.jpg')], lists: [path.join(dir, 'l.txt')], videos: ['rtsp://h/s'], include: [] });
  assert.deepEqual(
    items.map((i) => [i.kind, path.isAbsolute(i.path) ? path.relative(dir, i.path) : i.path]),
    [
      ['image', 'f/a.png'],
      ['image', 'f/b.jpg'],
      ['image', 'f/z/c.jpeg'],
      ['image', 'missing.jpg'],
      ['image', 'one.jpg'],
      ['video', 'two.mkv'],
      ['video', 'rtsp://h/s'],
    ],
  );
  const videos = await expandInputs({ inputs: [path.join(dir, 'f')], lists: [], videos: [], include: ['*.mp4'] });
  assert.deepEqual(
    videos.map((i) => i.kind),
    ['video'],
  );
  await assert.rejects(expandInputs({ inputs: [], lists: [path.join(dir, 'nope.txt')], videos: [], include: [] }), /--list .*nope\.txt: cannot read/);
});

test('sampled: --every N from frame 0; --fps F the first frame of each 1/F s slot', () => {
  const pick = (n: number, s: Parameters<typeof sampled>[1], fps?: number) => Array.from({ length: n }, (_, i) => i).filter((i) => sampled(i, s, fps));
  assert.deepEqual(pick(10, { every: 4 }, 10), [0, 4, 8]);
  assert.deepEqual(pick(20, { fps: 2 }, 10), [0, 5, 10, 15]);
  assert.deepEqual(pick(10, { fps: 30 }, 30000 / 1001), pick(10, { every: 1 }), 'F at or above the rate: every frame');
  assert.deepEqual(pick(30, { fps: 10 }, 25), [0, 3, 5, 8, 10, 13, 15, 18, 20, 23, 25, 28]);
  assert.equal(sampledCount(30, { fps: 10 }, 25), 12);
  assert.equal(sampledCount(7, { fps: 1 }, undefined), 7, 'unknown rate: every frame');
});

test('readResume: keys of complete lines, a torn last line cut off, failures counted, foreign files refused', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inspectd-batch-unit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const f = path.join(dir, 'o.jsonl');
  const body =
    '{"image":"a.jpg","width":1,"height":1,"detections":[]}\n{"image":"v.mp4","frame":3,"time":0.1,"detections":[]}\n{"image":"b.jpg","error":{"code":"X","message":"bad"}}\n';
  await writeFile(f, `${body}{"image":"c.j`);
  const s = readResume(f);
  assert.deepEqual([...s.done].sort(), [lineKey('a.jpg'), lineKey('b.jpg'), lineKey('v.mp4', 3)].sort());
  assert.deepEqual(s.failures, [{ image: 'b.jpg', message: 'bad' }]);
  assert.equal(s.truncatedBytes, '{"image":"c.j'.length);
  assert.equal(await readFile(f, 'utf8'), body, 'the torn line is gone from the file');
  assert.equal(readResume(path.join(dir, 'none.jsonl')).done.size, 0, 'no file yet: nothing done');
  await writeFile(f, '{"image":"a.jpg"}\n[1]\n');
  assert.throws(() => readResume(f), /line 2 has no "image"/);
});

test('csvRows quotes what needs it; summaryText names classes, rate and failures on one line each', () => {
  const rows = csvRows({ image: 'a,"b".jpg', detections: [{ classId: 1, class: 'dent', confidence: 0.5, box: { x1: 1, y1: 2, x2: 3, y2: 4 } }] });
  assert.equal(rows, '"a,""b"".jpg",,,1,dent,0.5,1,2,3,4\n');
  const text = summaryText({
    images: 3,
    frames: 1,
    skipped: 2,
    byClass: new Map([
      ['dent', 1],
      ['scratch', 4],
    ]),
    seconds: 2,
    failures: [{ image: 'x.jpg', message: 'line one\nline two' }],
    earlierFailures: 0,
  });
  assert.match(text, /3 images, 1 video frame, 2 skipped .* 2\.0 images\/s/);
  assert.match(text, /detections: 5 \(scratch 4, dent 1\)/);
  assert.match(text, /x\.jpg: line one \| line two/);
});
