/**
 * `inspectd run` with no config (what `npm start` does): embedded defaults = the demo model on a synthetic
 * line and an embedded broker. Skipped, visibly, until models/demo/inspectd-demo.onnx is built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { tempDir } from './daemon-harness.js';

const demoModel = path.join(REPO_ROOT, 'models', 'demo', 'inspectd-demo.onnx');
const skip = existsSync(demoModel) ? false : `demo model not built (${demoModel}; see models/make-demo.sh)`;

test('inspectd run with embedded defaults: ready, detections flow, SIGTERM exits 0', { skip, timeout: 90_000 }, async (t) => {
  const tmp = tempDir('inspectd-defaults-');
  t.after(() => tmp.cleanup());
  const runJs = pathToFileURL(path.join(REPO_ROOT, 'dist', 'src', 'cli', 'run.js')).href;
  const code = `import(${JSON.stringify(runJs)}).then((m) => m.runCommand([])).then((c) => { process.exitCode = c; });`;
  const env: NodeJS.ProcessEnv = { ...process.env, STATE_DIRECTORY: tmp.dir, INSPECTD_LOG_LEVEL: "debug" };
  delete env.INSPECTD_CONFIG;
  delete env.NOTIFY_SOCKET;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: tmp.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const until = async (pred: () => boolean, ms: number, what: string) => {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`waiting for ${what}; output:\n${out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await until(() => out.includes('"msg":"inspectd ready"'), 60_000, 'ready');
  const readyAt = out.length;
  // frames flow through the model: the camera reports ok and the pipeline's summary counters grow
  await until(() => out.includes('"state":"ok"'), 20_000, 'camera ok');
  await new Promise((r) => setTimeout(r, 2000));
  assert.doesNotMatch(out.slice(readyAt), /"level":(50|60)/, 'no error logs after ready');
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const codeOrTimeout = await Promise.race([exited, new Promise((r) => (timer = setTimeout(() => r('timeout'), 20_000)))]);
  clearTimeout(timer);
  assert.equal(codeOrTimeout, 0, out.slice(-2000));
  assert.match(out, /"msg":"inspectd stopped"/);
});
