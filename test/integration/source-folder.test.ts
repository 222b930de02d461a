import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { pino } from 'pino';
import sharp from 'sharp';
import type { FolderSourceConfig } from '../../src/config/types.js';
import { silentLogger, type Logger } from '../../src/ops/log.js';
import { FolderSource } from '../../src/source/folder.js';
import { ErrorCodes, InspectdError } from '../../src/errors.js';
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
  return sharp({
    create: { width: w, height: h, channels: alpha ? 4 : 3, background: alpha ? { r: rgb[0], g: rgb[1], b: rgb[2], alpha: 0.5 } : { r: rgb[0], g: rgb[1], b: rgb[2] } },
  })
    .png()
    .toBuffer();
}

function setup(t: { after: (fn: () => unknown) => void }, over: Partial<FolderSourceConfig> = {}, deps: { logger?: Logger; moveRetryMs?: number; engineRetryMs?: number } = {}) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'inspectd-folder-'));
  const dir = path.join(root, 'incoming'); // does not exist yet: the source must create it
  const cfg: FolderSourceConfig = {
    type: 'folder',
    path: dir,
    doneDir: path.join(dir, 'done'),
    quarantineDir: path.join(dir, 'quarantine'),
    pollMs: 20,
    settleMs: 60,
    maxPixels: 50_000_000,
    followSymlinks: false,
    ...over,
  };
  const src = new FolderSource('bench', cfg, { logger: silentLogger(), ...deps });
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

test('hot folder: a file the engine failed on stays and is judged again; after 10 such failures it is quarantined saying so', { timeout: 10000 }, async (t) => {
  const { dir, src, frames } = setup(t, { settleMs: 0 }, { engineRetryMs: 5 });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'r.png'), await png(4, 4, [1, 2, 3]));
  await src.start({ frame: (f) => frames.push(f), ended: () => undefined });
  const engineDied = () => new InspectdError(ErrorCodes.ENGINE_RUN, 'the onnxruntime worker thread stopped (exit code 1); this engine is unusable');
  // A dead engine, then a replaced one: the same file again, and done/ once judged.
  await until(() => frames.length === 1, 3000, 'r');
  frames[0].done!(engineDied());
  await until(() => frames.length === 2, 3000, 'r handed again');
  assert.equal(frames[1].origin, frames[0].origin);
  assert.ok(!existsSync(path.join(dir, 'quarantine')), 'not quarantined for the engine failing');
  frames[1].done!();
  await until(() => existsSync(path.join(dir, 'done', 'r.png')), 3000, 'r done');
  // An image every engine fails on: bounded, then quarantined with the reason.
  writeFileSync(path.join(dir, 's.png'), await png(4, 4, [4, 5, 6]));
  for (let i = 0; i < 11; i++) {
    await until(() => frames.length === 3 + i, 3000, `s, attempt ${i + 1}`);
    frames[2 + i].done!(engineDied());
  }
  await until(() => existsSync(path.join(dir, 'quarantine', 's.png.reason.txt')), 3000, 's quarantined');
  assert.match(readFileSync(path.join(dir, 'quarantine', 's.png.reason.txt'), 'utf8'), /inference engine failed on it 11 times .*worker thread stopped/);
  await sleep(100);
  assert.equal(frames.length, 13, 'no attempt after the quarantine');
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

/** CRC-32 (PNG chunks), without relying on zlib.crc32 (Node >= 20.15). */
function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A PNG whose header says w x h RGB but which holds only a few rows: cheap to write, huge if decoded. */
function bigPngHeader(w: number, h: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const rows = deflateSync(Buffer.alloc((w * 3 + 1) * 4));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', rows), chunk('IEND', Buffer.alloc(0))]);
}

test('hot folder: an image over maxPixels is quarantined from its header with the reason, never decoded', { timeout: 10000 }, async (t) => {
  const { dir, src, frames } = setup(t, { settleMs: 0 });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'a-huge.png'), bigPngHeader(16000, 16000)); // the probe's 16000 x 16000: 256 MP
  writeFileSync(path.join(dir, 'b-ok.png'), await png(8, 8, [1, 2, 3]));
  await src.start({ frame: (f) => frames.push(f), ended: () => undefined });
  await until(() => frames.length === 1, 5000, 'the small image');
  assert.equal(path.basename(frames[0].origin ?? ''), 'b-ok.png', 'the huge one was never emitted');
  frames[0].done!();
  const reason = readFileSync(path.join(dir, 'quarantine', 'a-huge.png.reason.txt'), 'utf8');
  assert.match(reason, /image is 16000 x 16000 px \(256 MP\), over source\.maxPixels \(50 MP\); not decoded/);
});

test('hot folder: maxPixels is configurable', { timeout: 10000 }, async (t) => {
  const { dir, src, frames } = setup(t, { settleMs: 0, maxPixels: 100 });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'a.png'), await png(10, 10, [1, 2, 3])); // exactly 100 px: allowed
  writeFileSync(path.join(dir, 'b.png'), await png(11, 10, [1, 2, 3]));
  await src.start({ frame: (f) => frames.push(f), ended: () => undefined });
  await until(() => frames.length === 1, 5000, 'a.png');
  frames[0].done!();
  await until(() => existsSync(path.join(dir, 'quarantine', 'b.png.reason.txt')), 5000, 'b.png quarantined');
  assert.match(readFileSync(path.join(dir, 'quarantine', 'b.png.reason.txt'), 'utf8'), /image is 11 x 10 px .*over source\.maxPixels/);
  assert.equal(frames.length, 1);
});

test('hot folder: a GIF is judged by its first frame and moved to done/', { timeout: 10000 }, async (t) => {
  const { dir, src, frames } = setup(t, { settleMs: 0 });
  mkdirSync(dir, { recursive: true });
  const gif = await sharp({ create: { width: 6, height: 4, channels: 3, background: { r: 255, g: 0, b: 0 } } })
    .gif()
    .toBuffer();
  writeFileSync(path.join(dir, 'part.gif'), gif);
  await src.start({ frame: (f) => frames.push(f), ended: () => undefined });
  await until(() => frames.length === 1, 5000, 'the gif judged');
  assert.deepEqual([frames[0].width, frames[0].height, frames[0].data.length], [6, 4, 6 * 4 * 3]);
  assert.ok(frames[0].data[0] > 200 && frames[0].data[1] < 50, `red, got ${[...frames[0].data.subarray(0, 3)]}`);
  frames[0].done!();
  await until(() => existsSync(path.join(dir, 'done', 'part.gif')), 5000, 'part.gif done');
});

test('hot folder: a symbolic link is quarantined unread (its target untouched) unless followSymlinks', { timeout: 10000 }, async (t) => {
  const { root, dir, src, frames } = setup(t, { settleMs: 0 });
  mkdirSync(dir, { recursive: true });
  const outside = path.join(root, 'secret.png');
  writeFileSync(outside, await png(4, 4, [7, 7, 7]));
  symlinkSync(outside, path.join(dir, 'link.png'));
  writeFileSync(path.join(dir, 'real.png'), await png(4, 4, [1, 1, 1]));
  await src.start({ frame: (f) => frames.push(f), ended: () => undefined });
  await until(() => frames.length === 1, 5000, 'real.png');
  assert.equal(path.basename(frames[0].origin ?? ''), 'real.png');
  frames[0].done!();
  await until(() => existsSync(path.join(dir, 'quarantine', 'link.png.reason.txt')), 5000, 'link quarantined');
  assert.match(readFileSync(path.join(dir, 'quarantine', 'link.png.reason.txt'), 'utf8'), /symbolic link refused \(set source\.followSymlinks: true/);
  assert.ok(lstatSync(path.join(dir, 'quarantine', 'link.png')).isSymbolicLink(), 'the link itself moved');
  assert.ok(existsSync(outside), 'the target stays where it is');
  await sleep(100);
  assert.equal(frames.length, 1, 'the link was never judged');
});

test('hot folder: followSymlinks: true judges what a link points to', { timeout: 10000 }, async (t) => {
  const { root, dir, src, frames } = setup(t, { settleMs: 0, followSymlinks: true });
  mkdirSync(dir, { recursive: true });
  const outside = path.join(root, 'elsewhere.png');
  writeFileSync(outside, await png(5, 3, [9, 9, 9]));
  symlinkSync(outside, path.join(dir, 'link.png'));
  await src.start({ frame: (f) => frames.push(f), ended: () => undefined });
  await until(() => frames.length === 1, 5000, 'the linked image');
  assert.deepEqual([frames[0].width, frames[0].height], [5, 3]);
  frames[0].done!();
  await until(() => existsSync(path.join(dir, 'done', 'link.png')), 5000, 'link moved to done/');
});

test('hot folder: a judged file that cannot be moved is judged once, the camera is in fault naming doneDir, and a retry clears it', { timeout: 15000 }, async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'inspectd-folder-blocked-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const blocker = path.join(root, 'blocker'); // a file where doneDir's parent should be: mkdir fails, even as root
  writeFileSync(blocker, 'not a directory');
  const doneDir = path.join(blocker, 'done');
  const { dir, src, frames } = setup(t, { settleMs: 0, doneDir }, { moveRetryMs: 200 });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'a.png'), await png(4, 4, [1, 2, 3]));
  const faults: (string | null)[] = [];
  await src.start({
    frame: (f) => {
      frames.push(f);
      f.done!();
    },
    ended: () => undefined,
    fault: (r) => faults.push(r),
  });
  await until(() => faults.length === 1, 5000, 'fault reported');
  assert.match(faults[0]!, new RegExp(`cannot move judged files into ${doneDir.replace(/[/.]/g, '\\$&')} \\(ENOTDIR`));
  await sleep(400); // 20 polls and two retries
  assert.equal(frames.length, 1, 'judged once, not at every poll');
  assert.equal(faults.length, 1, 'the fault is reported once');
  assert.ok(existsSync(path.join(dir, 'a.png')), 'the file is still in the hot folder');
  // Another file is judged meanwhile (once), and stays for the same reason.
  writeFileSync(path.join(dir, 'b.png'), await png(4, 4, [4, 5, 6]));
  await until(() => frames.length === 2, 5000, 'b.png judged');
  await sleep(200);
  assert.equal(frames.length, 2);
  // Fix the directory: the retries move both files (without judging them again) and the fault clears.
  rmSync(blocker);
  mkdirSync(blocker);
  await until(() => faults.at(-1) === null, 5000, 'fault cleared');
  assert.deepEqual(readdirSync(doneDir).sort(), ['a.png', 'b.png']);
  assert.equal(frames.length, 2);
});

test('hot folder: a file that could not be moved and is then rewritten is judged again', { timeout: 15000 }, async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'inspectd-folder-blocked-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(path.join(root, 'blocker'), 'x');
  const { dir, src, frames } = setup(t, { settleMs: 0, doneDir: path.join(root, 'blocker', 'done') }, { moveRetryMs: 60_000 });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'a.png'), await png(4, 4, [1, 2, 3]));
  await src.start({
    frame: (f) => {
      frames.push(f);
      f.done!();
    },
    ended: () => undefined,
    fault: () => undefined,
  });
  await until(() => frames.length === 1, 5000, 'first judgement');
  await sleep(150);
  assert.equal(frames.length, 1);
  writeFileSync(path.join(dir, 'a.png'), await png(6, 6, [1, 2, 3])); // new content, same inode
  await until(() => frames.length === 2, 5000, 'the new content judged');
  assert.deepEqual([frames[1].width, frames[1].height], [6, 6]);
});

test('hot folder log lines carry the camera key once (the logger is bound to the camera)', { timeout: 10000 }, async (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(l) }).child({ camera: 'bench' });
  const { dir, src, frames } = setup(t, { settleMs: 0 }, { logger });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'bad.png'), 'not a png');
  await src.start({ frame: (f) => frames.push(f), ended: () => undefined });
  await until(() => existsSync(path.join(dir, 'quarantine', 'bad.png.reason.txt')), 5000, 'quarantine');
  assert.ok(lines.length >= 1);
  for (const l of lines) assert.equal(l.match(/"camera":/g)?.length, 1, l);
});
