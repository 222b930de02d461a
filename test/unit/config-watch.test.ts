import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ErrorCodes, type InspectdError } from '../../src/errors.js';
import { loadConfigFile, type LoadedConfig } from '../../src/config/load.js';
import { ConfigWatcher } from '../../src/config/watch.js';
import { silentLogger } from '../../src/ops/log.js';

const text = (fps: number): string => `model: {path: m.onnx}\ncameras:\n  - id: a\n    source: {type: synthetic, fps: ${fps}}\n`;

/** Waits for the next call of a callback, bounded. */
function nextCall<T>(timeoutMs: number): { fn: (v: T) => void; wait: () => Promise<T> } {
  let waiters: ((v: T) => void)[] = [];
  const queue: T[] = [];
  return {
    fn: (v) => {
      const w = waiters.shift();
      if (w) w(v);
      else queue.push(v);
    },
    wait: () =>
      queue.length > 0
        ? Promise.resolve(queue.shift() as T)
        : new Promise<T>((resolve, reject) => {
            const timer = setTimeout(() => {
              waiters = waiters.filter((w) => w !== done);
              reject(new Error(`no call within ${timeoutMs} ms`));
            }, timeoutMs);
            const done = (v: T): void => {
              clearTimeout(timer);
              resolve(v);
            };
            waiters.push(done);
          }),
  };
}

test('watcher applies a valid edit, rejects an invalid one keeping the previous, survives rename-replace', { timeout: 15000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-watch-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, text(5));
  const initial = await loadConfigFile(file);
  const changes = nextCall<LoadedConfig>(5000);
  const errors = nextCall<InspectdError>(5000);
  const w = new ConfigWatcher({ path: file, logger: silentLogger(), onChange: changes.fn, onError: errors.fn, current: initial, debounceMs: 50 });
  t.after(async () => {
    await w.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await w.start();

  writeFileSync(file, text(7));
  const c1 = await changes.wait();
  assert.equal((c1.config.cameras[0].source as { fps: number }).fps, 7);
  await new Promise((r) => setImmediate(r));
  assert.equal(w.currentHash, c1.hash);

  writeFileSync(file, text(7).replace('fps: 7', 'fps: -1'));
  const e = await errors.wait();
  assert.equal(e.code, ErrorCodes.CONFIG_INVALID);
  assert.match(e.message, /config\.yaml:4:\d+ cameras\[0\]\.source\.fps: must be > 0/);
  assert.equal(w.currentHash, c1.hash, 'an invalid edit changes nothing');

  // Editors save by writing a temp file and renaming it over the original.
  const tmp = path.join(dir, '.config.yaml.swp');
  writeFileSync(tmp, text(9));
  renameSync(tmp, file);
  const c2 = await changes.wait();
  assert.equal((c2.config.cameras[0].source as { fps: number }).fps, 9);
});

test('reload() (SIGHUP) ignores an unchanged file and applies a changed one', { timeout: 10000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-watch-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, text(5));
  const seen: LoadedConfig[] = [];
  const errs: InspectdError[] = [];
  const w = new ConfigWatcher({ path: file, logger: silentLogger(), onChange: (l) => void seen.push(l), onError: (e) => void errs.push(e) });
  t.after(async () => {
    await w.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  // not started: reload() works without the fs watch (baseline unknown -> first reload applies)
  await w.reload();
  assert.equal(seen.length, 1);
  await w.reload();
  assert.equal(seen.length, 1, 'same hash: no change');
  writeFileSync(file, text(6) + '# comment only changes nothing either\n');
  await w.reload();
  assert.equal(seen.length, 2);
  writeFileSync(file, text(6) + '# again\n');
  await w.reload();
  assert.equal(seen.length, 2);
  assert.equal(errs.length, 0);
});

test('an onChange that throws counts as a failed apply: the previous config stays current', { timeout: 10000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'inspectd-watch-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, text(5));
  const initial = await loadConfigFile(file);
  const errs: InspectdError[] = [];
  const w = new ConfigWatcher({
    path: file,
    logger: silentLogger(),
    current: initial,
    onChange: () => Promise.reject(new Error('model failed to load')),
    onError: (e) => void errs.push(e),
  });
  t.after(async () => {
    await w.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(file, text(8));
  await w.reload();
  assert.equal(errs.length, 1);
  assert.match(errs[0].message, /model failed to load/);
  assert.equal(w.currentHash, initial.hash);
});
