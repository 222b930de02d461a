import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, repoPath } from '../helpers/fixtures.js';

const CLI = pathToFileURL(path.join(REPO_ROOT, 'dist', 'src', 'cli', 'check-config.js')).href;

/** Runs checkConfigCommand in a child process (the test runner owns this process's stdout). */
function run(args: string[]): Promise<{ rc: number; out: string; err: string }> {
  const script = `import(${JSON.stringify(CLI)}).then((m) => m.checkConfigCommand(process.argv.slice(1))).then((rc) => { process.exitCode = rc; });`;
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', script, ...args], { timeout: 10000 }, (error, out, err) => {
      resolve({ rc: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out, err });
    });
  });
}

test('check-config: the example config is ok (exit 0, prints the hash)', { timeout: 5000 }, async () => {
  const file = repoPath('deploy', 'config.example.yaml');
  const r = await run([file]);
  assert.equal(r.rc, 0, r.err);
  assert.match(r.out, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ok \\(hash [0-9a-f]{64}\\)\\n$`));
});

test('check-config: every problem with file:line:col, exit 1; no file is a usage error', { timeout: 5000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-check-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'bad.yaml');
  writeFileSync(file, 'model: {path: m.onnx, treshold: 1}\ncameras:\n  - id: a\n    source: {type: synthetic, fps: 0}\n');
  const r = await run([file]);
  assert.equal(r.rc, 1);
  assert.equal(
    r.err,
    `${file}: 2 problems\n` +
      `${file}:1:23 model.treshold: unknown key; known keys: path, labels, engine, threads, conf, iou, maxDetections, engineCacheDir\n` +
      `${file}:4:36 cameras[0].source.fps: must be > 0\n`,
  );
  const u = await run([]);
  assert.equal(u.rc, 2);
  assert.match(u.err, /usage: inspectd check-config FILE/);
  const missing = await run([path.join(dir, 'nope.yaml')]);
  assert.equal(missing.rc, 1);
  assert.match(missing.err, /cannot read config file/);
});
