/** `inspectd batch` end to end: the demo model on onnxruntime, JPEGs from sharp, a video from ffmpeg, a SIGKILL mid-run. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { repoPath } from '../helpers/fixtures.js';

const MAIN = repoPath('dist', 'src', 'main.js');
const MODEL = repoPath('models', 'demo', 'inspectd-demo.onnx');
const BASE = ['batch', '--model', MODEL, '--engine', 'cpu', '--threads', '1'];

function cli(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { cwd, timeout: 120000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

type Line = { image: string; frame?: number; time?: number; width?: number; height?: number; detections?: unknown[]; error?: { code: string; message: string } };

function parse(text: string): Line[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

const key = (l: Line) => `${l.image}#${l.frame ?? ''}`;
/** Failure messages aside (identical anyway), the lines as a sorted list of JSON strings. */
const canonical = (lines: Line[]) => lines.map((l) => JSON.stringify(l)).sort();

function execOk(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => execFile(cmd, args, { timeout: 60000 }, (err) => (err ? reject(err) : resolve())));
}

test('inspectd batch', { timeout: 600000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inspectd-batch-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const imgs = path.join(dir, 'imgs');
  await mkdir(path.join(imgs, 'sub'), { recursive: true });
  const good: string[] = [];
  for (let i = 0; i < 6; i++) {
    const rel = i < 4 ? `a${i}.jpg` : `sub/b${i}.JPG`;
    await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 30 * i, g: 120, b: 200 - 20 * i } } })
      .jpeg()
      .toFile(path.join(imgs, rel));
    good.push(path.join('imgs', rel));
  }
  await sharp({ create: { width: 200, height: 100, channels: 3, background: { r: 10, g: 10, b: 10 } } })
    .png()
    .toFile(path.join(imgs, 'sub', 'c.png'));
  good.push(path.join('imgs', 'sub', 'c.png'));
  await writeFile(path.join(imgs, 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
  await writeFile(path.join(imgs, 'notes.txt'), 'not an image\n');
  // 2 s at 10 fps: frames 0..19, frame i at i/10 s.
  const video = path.join(dir, 'clip.mp4');
  await execOk('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', '2', '-pix_fmt', 'yuv420p', video]);

  await t.test('a folder with one corrupt file: a line for every good file, one failure line, exit 1, summary on stderr', async () => {
    const r = await cli([...BASE, '--out', 'all.jsonl', '--csv', 'all.csv', 'imgs'], dir);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '', 'lines go to --out');
    const lines = parse(await readFile(path.join(dir, 'all.jsonl'), 'utf8'));
    const ok = lines.filter((l) => !l.error);
    assert.deepEqual(ok.map((l) => l.image).sort(), [...good].sort());
    for (const l of ok) assert.ok(Array.isArray(l.detections) && typeof l.width === 'number' && typeof l.height === 'number', JSON.stringify(l));
    assert.deepEqual(
      ok.filter((l) => l.image.endsWith('c.png')).map((l) => [l.width, l.height]),
      [[200, 100]],
    );
    const failed = lines.filter((l) => l.error);
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.image, path.join('imgs', 'broken.jpg'));
    assert.equal(failed[0]!.error!.code, 'INSPECTD_ERR_IMAGE_UNREADABLE');
    assert.match(failed[0]!.error!.message, /cannot decode/);
    assert.match(r.stderr, /inspectd batch: 7 images, 0 video frames/);
    assert.match(r.stderr, /failed: 1\n\s+imgs\/broken\.jpg: cannot decode/);
    assert.doesNotMatch(r.stderr, /\r/, 'no progress bar when stderr is not a terminal');
    const csv = (await readFile(path.join(dir, 'all.csv'), 'utf8')).trim().split('\n');
    assert.equal(csv[0], 'image,frame,time,classId,class,confidence,x1,y1,x2,y2');
    const dets = ok.reduce((n, l) => n + l.detections!.length, 0);
    assert.equal(csv.length - 1, dets, 'one CSV row per detection');
  });

  await t.test('stdout without --out; --include globs choose the files (by name, or by path with /)', async () => {
    const png = await cli([...BASE, '--include', '*.png', 'imgs'], dir);
    assert.equal(png.code, 0, png.stderr);
    assert.deepEqual(
      parse(png.stdout).map((l) => l.image),
      [path.join('imgs', 'sub', 'c.png')],
    );
    const sub = await cli([...BASE, '--include', 'sub/**', '--include', 'a[01].jpg', 'imgs'], dir);
    assert.equal(sub.code, 0, sub.stderr);
    assert.deepEqual(
      parse(sub.stdout).map((l) => l.image),
      ['imgs/a0.jpg', 'imgs/a1.jpg', 'imgs/sub/b4.JPG', 'imgs/sub/b5.JPG', 'imgs/sub/c.png'],
    );
    const ann = await cli([...BASE, '--include', '*.png', '--save-annotated', 'ann', '--every', '10', 'imgs', 'clip.mp4'], dir);
    assert.equal(ann.code, 0, ann.stderr);
    for (const [file, size] of [
      ['ann/imgs/sub/c.jpg', [200, 100]],
      ['ann/clip.mp4/frame-000000.jpg', [160, 120]],
      ['ann/clip.mp4/frame-000010.jpg', [160, 120]],
    ] as const) {
      const meta = await sharp(path.join(dir, file)).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', ...size], file);
    }
    await writeFile(path.join(dir, 'list.txt'), '# two of them\nimgs/a2.jpg\n\nimgs/sub/c.png\n');
    const list = await cli([...BASE, '--list', 'list.txt'], dir);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      parse(list.stdout).map((l) => l.image),
      ['imgs/a2.jpg', 'imgs/sub/c.png'],
    );
  });

  await t.test('a video: one line per sampled frame with its index and time; --every and --fps count right', async () => {
    const all = await cli([...BASE, 'clip.mp4'], dir);
    assert.equal(all.code, 0, all.stderr);
    const lines = parse(all.stdout);
    assert.deepEqual(
      lines.map((l) => l.frame),
      Array.from({ length: 20 }, (_, i) => i),
    );
    for (const l of lines) {
      assert.equal(l.image, 'clip.mp4');
      assert.equal(l.time, Number((l.frame! / 10).toFixed(3)));
      assert.deepEqual([l.width, l.height], [160, 120]);
    }
    const every = await cli([...BASE, '--every', '3', 'clip.mp4'], dir);
    assert.equal(every.code, 0, every.stderr);
    assert.deepEqual(
      parse(every.stdout).map((l) => l.frame),
      [0, 3, 6, 9, 12, 15, 18],
    );
    const fps = await cli([...BASE, '--fps', '2', '--video', 'clip.mp4'], dir);
    assert.equal(fps.code, 0, fps.stderr);
    assert.deepEqual(
      parse(fps.stdout).map((l) => [l.frame, l.time]),
      [
        [0, 0],
        [5, 0.5],
        [10, 1],
        [15, 1.5],
      ],
    );
    assert.match(fps.stderr, /0 images, 4 video frames/);
    // Frames the same as a run over all: sampling picks frames, it does not change them.
    const byFrame = new Map(lines.map((l) => [l.frame, JSON.stringify(l)]));
    for (const l of parse(fps.stdout)) assert.equal(JSON.stringify(l), byFrame.get(l.frame));
    const bad = await cli([...BASE, '--video', 'imgs/notes.txt', 'imgs/a0.jpg'], dir);
    assert.equal(bad.code, 1);
    const badLines = parse(bad.stdout);
    assert.equal(badLines.length, 2);
    assert.equal(badLines.find((l) => l.image === 'imgs/notes.txt')?.error?.code, 'INSPECTD_ERR_SOURCE_FAILED');
  });

  await t.test('--resume after SIGKILL mid-run (and a torn last line) gives the lines of one uninterrupted run', async () => {
    // Enough images that the run is still going when a few lines are out.
    const many = path.join(dir, 'many');
    await mkdir(many);
    for (let i = 0; i < 60; i++) {
      await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: (i * 37) % 256, g: (i * 91) % 256, b: 128 } } })
        .jpeg()
        .toFile(path.join(many, `m${String(i).padStart(2, '0')}.jpg`));
    }
    await writeFile(path.join(many, 'zz-broken.jpg'), 'garbage');
    const inputs = ['many', '--video', 'clip.mp4', '--every', '2'];
    const full = await cli([...BASE, '--out', 'full.jsonl', ...inputs], dir);
    assert.equal(full.code, 1, full.stderr);
    const expected = parse(await readFile(path.join(dir, 'full.jsonl'), 'utf8'));
    assert.equal(expected.length, 61 + 10);

    const out = path.join(dir, 'killed.jsonl');
    const child = spawn(process.execPath, [MAIN, ...BASE, '--out', 'killed.jsonl', ...inputs], { cwd: dir, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    // Bounded: at most 60 s of 20 ms polls for the first 5 lines.
    for (let i = 0; i < 3000; i++) {
      const text = await readFile(out, 'utf8').catch(() => '');
      if (text.split('\n').length > 5) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL', 'killed before it finished');
    const before = parse((await readFile(out, 'utf8')).replace(/[^\n]*$/, ''));
    assert.ok(before.length >= 5 && before.length < expected.length, `killed mid-run: ${before.length} lines`);
    // What a kill inside a write leaves: half a line without its newline.
    await appendFile(out, '{"image":"many/m59.jpg","width":640,"hei');

    const resumed = await cli([...BASE, '--out', 'killed.jsonl', '--resume', ...inputs], dir);
    assert.equal(resumed.code, 1, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`${before.length} skipped`));
    const after = parse(await readFile(out, 'utf8'));
    assert.equal(new Set(after.map(key)).size, after.length, 'no input twice');
    assert.deepEqual(canonical(after), canonical(expected));

    // Resuming a finished file does nothing more (and still reports the earlier failure by its exit code).
    const again = await cli([...BASE, '--out', 'killed.jsonl', '--resume', ...inputs], dir);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /0 images, 0 video frames, 71 skipped/);
    assert.equal(parse(await readFile(out, 'utf8')).length, expected.length);

    // A video cut mid-way: the resumed run does only the missing frames.
    const vOut = path.join(dir, 'video.jsonl');
    const vFull = expected.filter((l) => l.image === 'clip.mp4');
    await writeFile(
      vOut,
      vFull
        .slice(0, 3)
        .map((l) => JSON.stringify(l) + '\n')
        .join('') + '{"image":"clip.mp4","fra',
    );
    const v = await cli([...BASE, '--out', 'video.jsonl', '--resume', '--video', 'clip.mp4', '--every', '2'], dir);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stderr, /0 images, 7 video frames, 3 skipped/);
    assert.deepEqual(canonical(parse(await readFile(vOut, 'utf8'))), canonical(vFull));
  });

  await t.test('on a terminal (script(1) gives it one): a progress bar with count, rate and ETA on stderr', async (tt) => {
    if (!existsSync('/usr/bin/script')) {
      tt.skip('/usr/bin/script (util-linux) is not installed: no terminal to run under');
      return;
    }
    const cmd = [process.execPath, MAIN, ...BASE, '--out', 'tty.jsonl', 'imgs'].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const r = await new Promise<string>((resolve, reject) =>
      execFile('script', ['-qec', cmd, '/dev/null'], { cwd: dir, timeout: 120000 }, (err, stdout) => (err && typeof err.code !== 'number' ? reject(err) : resolve(stdout))),
    );
    assert.match(r, /\r\[[#-]{24}\] \d+\/8 \d+\.\d\/s ETA \d+s/);
    assert.match(r, /inspectd batch: 7 images/);
    assert.equal(parse(await readFile(path.join(dir, 'tty.jsonl'), 'utf8')).length, 8);
  });

  await t.test('usage errors exit 2', async () => {
    assert.equal((await cli([...BASE, '--resume', 'imgs'], dir)).code, 2);
    assert.equal((await cli([...BASE, '--every', '2', '--fps', '1', 'clip.mp4'], dir)).code, 2);
    assert.equal((await cli([...BASE], dir)).code, 2);
    await writeFile(path.join(dir, 'foreign.jsonl'), 'hello\n');
    const foreign = await cli([...BASE, '--out', 'foreign.jsonl', '--resume', 'imgs'], dir);
    assert.equal(foreign.code, 2);
    assert.match(foreign.stderr, /line 1 is not a JSON line/);
  });
});
