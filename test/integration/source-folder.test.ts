import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import type { FolderSourceConfig } from '../../src/config/types.js';
import { silentLogger } from '../../src/ops/log.js';
import { FolderSource } from '../../src/source/folder.js';
import type { Frame } from '../../src/contracts/frame.js';

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
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function png(w: number, h: number, rgb: [number, number, number], alpha = false): Promise<Buffer> {
  return sharp({ create: { width: w, height: h, channels: alpha ? 4 : 3, background: alpha ? { r: rgb[0], g: rgb[1], b: rgb[2], alpha: 0.5 } : { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toBuffer();
}

function setup(t: { after: (fn: () => unknown) => void }, over: Partial<FolderSourceConfig> = {}) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'inspectd-folder-'));
  const dir = path.join(root, 'incoming'); // does not exist yet: the source must create it
  const cfg: FolderSourceConfig = { type: 'folder', path: dir, doneDir: path.join(dir, 'done'), quarantineDir: path.join(dir, 'quarantine'), pollMs: 20, settleMs: 60, ...over };
  const src = new FolderSource('bench', cfg, { logger: silentLogger() });
  const frames: Frame[] = [];
  t.after(async () => {
    await src.stop();
    rmSync(root, { recursive: true, force: true });
  });
  return { root, dir, src, frames, cfg };
}

test('hot folder: files in name order, one at a time until done(); good -> done/, corrupt -> quarantine/ with reason', { timeout: 10000 }, async (t) => {
  const { dir, src, frames } = setup(t);
  await src.start({ frame: (f) => frames.push(f), ended: () => assert.fail('folder source never ends') });
  await until(() => existsSync(dir), 2000, 'folder created');
  writeFileSync(path.join(dir, 'b.png'), await png(8, 6, [0, 255, 0]));
  writeFileSync(path.join(dir, 'a.png'), await png(10, 4, [255, 0, 0], true));
  writeFileSync(path.join(dir, 'c.jpg'), Buffer.from('this is not a jpeg'));
  writeFileSync(path.join(dir, 'notes.txt'), 'ignored');

  await until(() => frames.length === 1, 3000, 'first frame');
  const a = frames[0];
  assert.equal(path.basename(a.origin ?? ''), 'a.png');
  assert.deepEqual([a.width, a.height, a.format, a.data.length], [10, 4, 'rgb24', 10 * 4 * 3]);
  assert.equal(typeof a.done, 'function');
  await sleep(150);
  assert.equal(frames.length, 1, 'lossless: the next file waits for done()');
  a.done!();

  await until(() => frames.length === 2, 3000, 'second frame');
  assert.equal(path.basename(frames[1].origin ?? ''), 'b.png');
  assert.deepEqual([...frames[1].data.subarray(0, 3)], [0, 255, 0]);
  frames[1].done!();

  // c.jpg cannot be decoded: quarantined with a reason, never emitted
  await until(() => existsSync(path.join(dir, 'quarantine', 'c.jpg.reason.txt')), 3000, 'quarantine');
  assert.match(readFileSync(path.join(dir, 'quarantine', 'c.jpg.reason.txt'), 'utf8'), /cannot decode image/);
  await until(() => existsSync(path.join(dir, 'done', 'b.png')), 3000, 'b.png done');
  assert.deepEqual(readdirSync(path.join(dir, 'done')).sort(), ['a.png', 'b.png']);
  assert.deepEqual(readdirSync(dir).sort(), ['done', 'notes.txt', 'quarantine']);
  assert.equal(frames.length, 2);
});

test('hot folder: done(err) quarantines; a name already in done/ gets a suffix', { timeout: 10000 }, async (t) => {
  const { dir, src, frames } = setup(t, { settleMs: 0 });
  mkdirSync(path.join(dir, 'done'), { recursive: true });
  writeFileSync(path.join(dir, 'done', 'p.png'), 'earlier part');
  writeFileSync(path.join(dir, 'p.png'), await png(4, 4, [1, 2, 3]));
  writeFileSync(path.join(dir, 'q.png'), await png(4, 4, [4, 5, 6]));
  await src.start({ frame: (f) => frames.push(f), ended: () => undefined });
  await until(() => frames.length === 1, 3000, 'p');
  frames[0].done!();
  frames[0].done!(); // a second call is ignored
  await until(() => frames.length === 2, 3000, 'q');
  frames[1].done!(new Error('inference failed: model crashed'));
  await until(() => existsSync(path.join(dir, 'quarantine', 'q.png.reason.txt')), 3000, 'q quarantined');
  assert.match(readFileSync(path.join(dir, 'quarantine', 'q.png.reason.txt'), 'utf8'), /inference failed: model crashed/);
  assert.deepEqual(readdirSync(path.join(dir, 'done')).sort(), ['p-1.png', 'p.png']);
  assert.equal(readFileSync(path.join(dir, 'done', 'p.png'), 'utf8'), 'earlier part');
});

test('hot folder: a file still being written is not read until it settles', { timeout: 10000 }, async (t) => {
  const { dir, src, frames } = setup(t, { settleMs: 300 });
  const full = await png(16, 16, [9, 9, 9]);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'slow.png');
  await src.start({ frame: (f) => frames.push(f), ended: () => undefined });
  // Write it in pieces, 100 ms apart: the size keeps changing, so it must not be read meanwhile.
  const pieces = 4;
  const step = Math.ceil(full.length / pieces);
  for (let i = 1; i <= pieces; i++) {
    writeFileSync(file, full.subarray(0, Math.min(full.length, i * step)));
    await sleep(100);
    if (i < pieces) assert.equal(frames.length, 0, `read while being written (piece ${i})`);
  }
  await until(() => frames.length === 1, 3000, 'settled file');
  assert.deepEqual([frames[0].width, frames[0].height], [16, 16]);
  assert.equal(existsSync(path.join(dir, 'quarantine')), false, 'never read half-written');
});
