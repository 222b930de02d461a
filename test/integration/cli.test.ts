/** The CLI contract (README.md "Command line"): exit codes, JSON lines on stdout, messages on stderr. Uses our own tiny model. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { repoPath } from '../helpers/fixtures.js';
import { packageVersion } from '../../src/util/package.js';

const MAIN = repoPath('dist', 'src', 'main.js');
const TINY = repoPath('test', 'assets', 'tiny-v8.onnx');

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 60000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

test('inspectd CLI', { timeout: 120000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inspectd-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const good = path.join(dir, 'good.png');
  await sharp(Buffer.alloc(64 * 32 * 3, 80), { raw: { width: 64, height: 32, channels: 3 } })
    .png()
    .toFile(good);
  const corrupt = path.join(dir, 'corrupt.jpg');
  await writeFile(corrupt, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));

  await t.test('detect --engine tensorrt|cuda: an explicit engine is a demand; without it here, exit 1 with the reason (auto falls back)', async () => {
    for (const engine of ['tensorrt', 'cuda']) {
      const r = await cli(['detect', '--json', '--engine', engine, '--model', TINY, good]);
      assert.equal(r.code, 1, `${engine}: ${r.stdout}`);
      assert.equal(r.stdout, '', 'nothing detected on another engine');
      assert.match(r.stderr, new RegExp(`engine '${engine}' is not available here: .+; .*|engine '${engine}' is not available here: .+ \\(use --engine auto`));
    }
    const auto = await cli(['detect', '--json', '--engine', 'auto', '--model', TINY, good]);
    assert.equal(auto.code, 0, auto.stderr);
    assert.equal(JSON.parse(auto.stdout.trim()).image, 'good.png');
  });

  await t.test('detect --json: a corrupt image among good ones -> exit 1, the good ones still printed', async () => {
    const r = await cli(['detect', '--json', '--engine', 'cpu', '--model', TINY, corrupt, good]);
    assert.equal(r.code, 1);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 1);
    assert.equal(lines[0].image, 'good.png');
    assert.deepEqual([lines[0].width, lines[0].height], [64, 32]);
    assert.deepEqual(lines[0].detections[0], { classId: 0, class: 'good part', confidence: 0.9, box: { x1: 24, y1: 8, x2: 40, y2: 24 } });
    assert.equal(lines[0].detections.length, 3);
    assert.match(r.stderr, /corrupt\.jpg.*cannot decode/);
  });

  await t.test('detect --json: results and errors come out in argument order (the next image is prepared during inference)', async () => {
    const wide = path.join(dir, 'wide.png');
    await sharp(Buffer.alloc(96 * 32 * 3, 80), { raw: { width: 96, height: 32, channels: 3 } })
      .png()
      .toFile(wide);
    const missing = path.join(dir, 'gone.png');
    const r = await cli(['detect', '--json', '--engine', 'cpu', '--model', TINY, good, corrupt, wide, missing, good, wide]);
    assert.equal(r.code, 1);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((l) => [l.image, l.width, l.height]),
      [
        ['good.png', 64, 32],
        ['wide.png', 96, 32],
        ['good.png', 64, 32],
        ['wide.png', 96, 32],
      ],
    );
    assert.deepEqual(lines[2], lines[0], 'the same image detects the same after others');
    // One message per failed image, in order (libvips' own message for the corrupt one spans several lines).
    const errors = r.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('inspectd detect: '));
    assert.equal(errors.length, 2, r.stderr);
    assert.match(errors[0], /corrupt\.jpg: cannot decode/);
    assert.match(errors[1], /gone\.png: no such file/);
  });

  await t.test('detect: --conf applies; table output without --json', async () => {
    const r = await cli(['detect', '--engine', 'cpu', '--conf', '0.88', '--model', TINY, good]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /good\.png 64x32: 1 detection /);
    assert.match(r.stdout, /good part\s+0\s+0\.900/);
  });

  await t.test('detect: bad model file -> exit 1 with a message', async () => {
    const bad = path.join(dir, 'bad.onnx');
    await writeFile(bad, 'definitely not onnx');
    const r = await cli(['detect', '--json', '--model', bad, good]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /bad\.onnx.*not a valid ONNX model/);
    const missing = await cli(['detect', '--model', path.join(dir, 'missing.onnx'), good]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /missing\.onnx/);
  });

  await t.test('usage errors exit 2', async () => {
    const unknown = await cli(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'[\s\S]*usage: inspectd/);
    assert.equal((await cli(['detect', good])).code, 2);
    assert.match((await cli(['detect', '--model', TINY, '--conf', '2', good])).stderr, /--conf must be a number between 0 and 1/);
    assert.equal((await cli(['detect', '--model', TINY, '--bogus', good])).code, 2);
  });

  await t.test('every command: --help prints its usage on stdout, exit 0; an unknown option: exit 2, the usage on stderr', async () => {
    for (const cmd of ['run', 'detect', 'info', 'check-config', 'eval', 'bench']) {
      const help = await cli([cmd, '--help']);
      assert.equal(help.code, 0, `${cmd} --help`);
      assert.match(help.stdout, new RegExp(`^usage: inspectd ${cmd} `), `${cmd} --help`);
      assert.equal(help.stderr, '', `${cmd} --help`);
      const bad = await cli([cmd, '--bogus']);
      assert.equal(bad.code, 2, `${cmd} --bogus`);
      assert.equal(bad.stdout, '', `${cmd} --bogus`);
      assert.match(bad.stderr, new RegExp(`^inspectd ${cmd}: .*'--bogus'.*\nusage: inspectd ${cmd} `), `${cmd} --bogus`);
    }
    const top = await cli(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /^usage: inspectd <command>/);
    assert.equal((await cli([])).code, 2);
  });

  await t.test('run --config= (no file named) is a usage error, not the embedded defaults', async () => {
    const r = await cli(['run', '--config=']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^inspectd run: --config needs a file\nusage: inspectd run /);
  });

  await t.test('--version and -V print the package version', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await cli([flag]);
      assert.equal(r.code, 0, flag);
      assert.equal(r.stdout, `${packageVersion()}\n`, flag);
      assert.equal(r.stderr, '', flag);
    }
    assert.match(packageVersion(), /^\d+\.\d+\.\d+/);
  });

  await t.test('a mistyped option or command gets a "did you mean" in our words', async () => {
    const r = await cli(['detect', '--modle', TINY, good]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^inspectd detect: unknown option '--modle'; did you mean --model\?\nusage: inspectd detect /);
    assert.doesNotMatch(r.stderr, /positional argument/);
    const run = await cli(['run', '--confg', 'x.yaml']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^inspectd run: unknown option '--confg'; did you mean --config\?\n/);
    const cmd = await cli(['detcet', '--model', TINY, good]);
    assert.equal(cmd.code, 2);
    assert.match(cmd.stderr, /^inspectd: unknown command 'detcet'; did you mean detect\?\n/);
  });

  await t.test('detect: a directory is refused with the reason, a missing image is named once; the others still run', async () => {
    const folder = path.join(dir, 'a-folder');
    await mkdir(folder, { recursive: true });
    const missing = path.join(dir, 'no-such-image.jpg');
    const r = await cli(['detect', '--json', '--engine', 'cpu', '--model', TINY, folder, missing, good]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    assert.equal(JSON.parse(r.stdout).image, 'good.png');
    const lines = r.stderr.trim().split('\n');
    const dirLine = lines.find((l) => l.includes(folder));
    assert.ok(dirLine, r.stderr);
    assert.match(dirLine, /is a directory; pass image files/);
    const missingLine = lines.find((l) => l.includes(missing));
    assert.ok(missingLine, r.stderr);
    assert.equal(missingLine.split(missing).length - 1, 1, `path named once: ${missingLine}`);
    assert.match(missingLine, /no such file/);
  });

  await t.test('info: the text output says how many classes it cut; --all lists every class', async () => {
    // tiny-v5-nonames has no class names: a labels file of 25 gives it 25 (the count mismatch is only warned).
    const labels = path.join(dir, '25-classes.txt');
    await writeFile(labels, Array.from({ length: 25 }, (_, i) => `class${i}`).join('\n') + '\n');
    const model = repoPath('test', 'assets', 'tiny-v5-nonames.onnx');
    const cut = await cli(['info', '--engine', 'cpu', '--model', model, '--labels', labels]);
    assert.equal(cut.code, 0, cut.stderr);
    assert.match(cut.stdout, /^classes +25: 0:class0, .*19:class19, … and 5 more \(--all or --json lists every class\)$/m);
    const all = await cli(['info', '--engine', 'cpu', '--all', '--model', model, '--labels', labels]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^classes +25: 0:class0, .*, 24:class24$/m);
  });

  await t.test('dataset: --help, and a small synthetic YOLO dataset with one JSON summary line', async () => {
    const help = await cli(['dataset', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: inspectd dataset --out DIR/);
    assert.match((await cli(['--help'])).stdout, /^ {2}dataset +write the synthetic line as a YOLO dataset/m);
    assert.equal((await cli(['dataset'])).code, 2);
    const out = path.join(dir, 'ds');
    const r = await cli(['dataset', '--out', out, '--train', '2', '--val', '1', '--seed', '3', '--width', '96', '--height', '64', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.out, out);
    assert.equal(summary.images, 3);
    assert.deepEqual((await readdir(path.join(out, 'images', 'train'))).sort(), ['train_000000.jpg', 'train_000001.jpg']);
    assert.deepEqual(await readdir(path.join(out, 'labels', 'val')), ['val_000000.txt']);
    // The four defects and the plate itself.
    assert.match(await readFile(path.join(out, 'data.yaml'), 'utf8'), /^nc: 5$/m);
    assert.equal((await cli(['dataset', '--out', out, '--scene', 'sideways'])).code, 2, 'an unknown --scene is a usage error');
  });

  await t.test('info --json: layout, input size, classes, engine and refusals', async () => {
    const r = await cli(['info', '--json', '--model', TINY]);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.layout, 'yolov8');
    assert.deepEqual(info.input, { width: 32, height: 32 });
    assert.deepEqual(info.classes, ['good part', "it's a scratch"]);
    assert.equal(info.stride, 32);
    assert.ok(['ort-cpu', 'ort-cuda', 'tensorrt'].includes(info.engine));
    assert.ok(Array.isArray(info.refusals));
  });
});
